"""Which image runs which server on the docker backend.

For each server binary, in order: an image named by ``HARNESS_IMAGE_<BINARY>`` (e.g.
``HARNESS_IMAGE_MONGOD=mongo:7.0``; started as the official image is), else the harness's own local
image (``harness images build``: made here from the binaries the setup installed, for machines with
no registry), else the pinned official image (:data:`harness.docker.images.PINNED`) when it is
present (pulled where a registry is reachable). Nothing is pulled during a run: a missing image is
one error naming what to do. MongoDB servers have no local image (none can be built without
mongod): ``not_run`` says so, unless an image is given."""

from __future__ import annotations

import os
from collections.abc import Iterable

from harness.docker.images import PINNED, pinned
from harness.errors import HarnessError
from harness.topology.docker_cli import docker
from harness.topology.docker_network import Image

#: binary -> (its role in PINNED, its command in the local image, in the official one); MongoDB
#: servers have no local image (none can be built without mongod)
IMAGES: dict[str, tuple[str, str | None, str]] = {
    "redis-server": ("redis", "redis-server", "redis-server"),
    "toxiproxy-server": ("toxiproxy", "/toxiproxy", "/toxiproxy"),
    "ferretdb": ("ferretdb", "/ferretdb", "/ferretdb"),
    "pause": ("pause", "/pause", "sleep"),
    "mongod": ("mongo", None, "mongod"),
    "mongos": ("mongo", None, "mongos"),
}


ROLES = {p.role for p in PINNED}


def env_name(binary: str) -> str:
    return "HARNESS_IMAGE_" + binary.upper().replace("-", "_")


def _present(reference: str) -> list[str]:
    """``repository:tag`` names present for a repository (or one exact reference)."""
    out = docker("images", reference, "--format", "{{.Repository}}:{{.Tag}}", check=False, timeout=20).stdout
    return [line for line in out.split() if not line.endswith(":<none>")]


def resolve(binaries: Iterable[str]) -> dict[str, Image]:
    """The image of every binary asked for; one error naming every one that is missing."""
    found: dict[str, Image] = {}
    missing: list[str] = []
    for binary in binaries:
        role, local_command, command = IMAGES.get(binary, (binary, None, binary))
        local = pinned(role).local if local_command is not None else None
        official = pinned(role).official if role in ROLES else binary
        override = os.environ.get(env_name(binary))
        if override:
            found[binary] = Image(override, command)
        elif local is not None and local_command is not None and (tags := _present(local)):
            found[binary] = Image(tags[0], local_command)
        elif _present(official):
            found[binary] = Image(official, command)
        else:
            missing.append(f"{binary} ({f'no {local} image, ' if local else ''}no {official})")
    if missing:
        raise HarnessError(
            f"no image for {', '.join(missing)}: run 'harness images build' (no registry needed), or "
            f"'docker pull' the official image where a registry is reachable, or name one with "
            f"{env_name('<binary>')}"
        )
    return found
