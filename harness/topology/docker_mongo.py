"""The MongoDB plane on the docker backend: which server runs it, from which image.

``mongod``/``mongos`` come from a mongo image (``HARNESS_IMAGE_MONGOD``/``_MONGOS``, or the pinned
official one once pulled where a registry is reachable); none can be built here without mongod. A
replica set or sharded cluster with no mongo image is not run, with that reason: nothing else plays
mongod on this backend. A standalone plane on ``server: auto`` falls back to the FerretDB image, a
stand-in named as such (its results are FerretDB's), as the local backend does without mongod."""

from __future__ import annotations

from harness.docker.images import pinned
from harness.doctor import parse_ferretdb_version, parse_mongod_version
from harness.errors import HarnessError
from harness.topology.docker_cli import docker
from harness.topology.docker_images import env_name, resolve
from harness.topology.docker_network import Image
from harness.topology.mongo_spec import MongoSpec

NO_IMAGE = (
    "no mongo image (no registry reachable here to pull {official}); give one with "
    f"{env_name('mongod')}=<image> (and {env_name('mongos')} for mongos), or 'docker pull {{official}}' "
    "where a registry is reachable"
)


def plane_binaries(spec: MongoSpec) -> dict[str, str]:
    """The servers the plane runs (``mongod``/``mongos`` or ``ferretdb``), by the command name their
    image runs; a clear error when no image can run them."""
    if spec.server == "ferretdb":
        resolve(["ferretdb"])
        return {"ferretdb": "ferretdb"}
    needed = ["mongod", "mongos"] if spec.mode == "sharded" else ["mongod"]
    try:
        resolve(needed)
    except HarnessError as exc:
        if spec.server == "auto" and spec.mode == "standalone":
            resolve(["ferretdb"])  # the stand-in, when its image is there
            return {"ferretdb": "ferretdb"}
        raise HarnessError(NO_IMAGE.format(official=pinned("mongo").official)) from exc
    return {name: name for name in needed}


def image_version(binary: str, image: Image) -> str:
    """The version the image's server reports (``--version``), as the local backend asks a binary."""
    out = docker(
        "run", "--rm", "--network", "none", "--entrypoint", image.entrypoint, image.ref, "--version",
        check=False, timeout=60,
    ).stdout  # fmt: skip
    parse = parse_ferretdb_version if binary == "ferretdb" else parse_mongod_version
    return parse(out) or (out.strip().splitlines()[0] if out.strip() else "unknown")
