"""The images the Docker backend runs: official ones pinned here, local ones built from this machine.

Where a registry is reachable the backend pulls :data:`PINNED`'s official images; where none is (our
machines, air-gapped CI) ``harness images build`` makes ``harness/<name>:<version>`` from the binaries
``make setup`` installed or built (see :mod:`harness.docker.rootfs`), tagged with those binaries' own
versions, labelled, and reused while present. Each local image starts like its official counterpart
(same entrypoint and command), so the backend runs either with the same arguments.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness import doctor
from harness.docker.engine import IMAGE_LABEL
from harness.docker.rootfs import rootfs_entries, shared_libraries, write_tar
from harness.errors import HarnessError


@dataclass(frozen=True)
class Pinned:
    """One role's image: ``official`` where a registry is reachable, else the local ``local``."""

    role: str
    official: str
    local: str  # repository of the local image; its tag is the version of the binary it is built from
    note: str = ""


#: The one place the official images and their versions live.
PINNED: tuple[Pinned, ...] = (
    Pinned("redis", "redis:7.0.15", "harness/redis", "Debian bookworm's redis-server is 7.0.15 as well"),
    Pinned("toxiproxy", "ghcr.io/shopify/toxiproxy:2.12.0", "harness/toxiproxy", "what make setup builds"),
    Pinned("mongo", "mongo:7.0.14", "harness/ferretdb", "no mongod here: FerretDB stands in, named as such"),
    Pinned("ferretdb", "ghcr.io/ferretdb/ferretdb:1.24.2", "harness/ferretdb", "the stand-in, by name"),
    # where only official images exist, the redis image's own sleep holds a node's namespace
    Pinned("pause", "redis:7.0.15", "harness/pause", "sleep infinity: holds a node's network namespace"),
)


def pinned(role: str) -> Pinned:
    return next(p for p in PINNED if p.role == role)


def _version_without_v(text: str) -> str | None:
    version = doctor.parse_toxiproxy_version(text)
    return version.removeprefix("v") if version else None


def _coreutils_version(text: str) -> str | None:
    """``sleep --version`` ("sleep (GNU coreutils) 9.1") -> ``"9.1"``."""
    m = re.search(r"coreutils\)\s+([0-9][0-9.]*)", text)
    return m.group(1) if m else None


@dataclass(frozen=True)
class Recipe:
    """How to make ``harness/<name>``: binaries (name found by :func:`doctor.find_binary`, path in
    the image), how the first one tells its version (the tag), extra empty dirs, and the Dockerfile
    instructions ``docker import --change`` applies (those of the official image)."""

    name: str
    binaries: tuple[tuple[str, str], ...]
    version_args: tuple[str, ...]
    parse_version: Callable[[str], str | None]
    changes: tuple[str, ...]
    dirs: tuple[str, ...] = ()

    @property
    def repository(self) -> str:
        return f"harness/{self.name}"


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            "redis",
            (
                ("redis-server", "/usr/local/bin/redis-server"),
                ("redis-cli", "/usr/local/bin/redis-cli"),
                # a shell and sleep, as the official image has: the compose export's init scripts
                ("sh", "/bin/sh"),
                ("sleep", "/bin/sleep"),
            ),
            ("--version",),
            doctor.parse_redis_version,
            ('CMD ["redis-server"]', "WORKDIR /data", "EXPOSE 6379", "ENV PATH=/usr/local/bin:/usr/bin:/bin"),
            dirs=("/data",),
        ),
        Recipe(
            "toxiproxy",
            (("toxiproxy-server", "/toxiproxy"),),
            ("-version",),
            _version_without_v,
            ('ENTRYPOINT ["/toxiproxy"]', 'CMD ["-host=0.0.0.0"]', "EXPOSE 8474", "ENV LOG_LEVEL=info"),
        ),
        # A node's network namespace outlives its server (as a host outlives a crashed process):
        # the docker backend holds it with this, so a killed server's peers get resets at once.
        Recipe(
            "pause",
            (("sleep", "/pause"),),
            ("--version",),
            _coreutils_version,
            ('ENTRYPOINT ["/pause"]', 'CMD ["infinity"]'),
        ),
        Recipe(
            "ferretdb",
            (("ferretdb", "/ferretdb"),),
            ("--version",),
            doctor.parse_ferretdb_version,
            (
                'ENTRYPOINT ["/ferretdb"]',
                'CMD ["--listen-addr=0.0.0.0:27017", "--data-dir=/state"]',
                "EXPOSE 27017",
            ),
            dirs=("/state",),
        ),
    )
}


@dataclass(frozen=True)
class Plan:
    """One image to build: the recipe, the binaries found here, their version and digest."""

    recipe: Recipe
    binaries: tuple[tuple[str, str], ...]  # (file here, path in the image)
    version: str
    digest: str  # sha256 over the binaries and their paths: a present image made otherwise is rebuilt

    @property
    def tag(self) -> str:
        return f"{self.recipe.repository}:{self.version}"

    def labels(self) -> dict[str, str]:
        return {
            IMAGE_LABEL: "1",
            f"{IMAGE_LABEL}.name": self.recipe.name,
            f"{IMAGE_LABEL}.version": self.version,
            f"{IMAGE_LABEL}.binaries-sha256": self.digest,
        }

    def changes(self) -> list[str]:
        return [*self.recipe.changes, *(f"LABEL {k}={v}" for k, v in self.labels().items())]


def _digest(binaries: Iterable[tuple[str, str]]) -> str:
    """sha256 over each binary's path in the image and its content: a recipe that gains a file
    changes it as a changed binary does."""
    h = hashlib.sha256()
    for path, dest in binaries:
        h.update(dest.encode() + b"\0")
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()


def plan(names: Sequence[str] = ()) -> list[Plan]:
    """What ``images build`` would make, found on this machine, before the engine is asked anything:
    a missing binary or an unreadable version is one error naming each (and 'make setup')."""
    chosen = list(names) or list(RECIPES)
    problems: list[str] = []
    plans: list[Plan] = []
    for name in chosen:
        recipe = RECIPES[name]
        found = [(doctor.find_binary(b), dest) for b, dest in recipe.binaries]
        missing = [b for (b, _), (path, _) in zip(recipe.binaries, found, strict=True) if path is None]
        if missing:
            problems.append(f"{recipe.repository}: no {', '.join(missing)} on this machine")
            continue
        binaries = tuple((str(path), dest) for path, dest in found)
        out = doctor.probe_output([binaries[0][0], *recipe.version_args])
        version = recipe.parse_version(out)
        if not version:
            problems.append(
                f"{recipe.repository}: cannot tell the version of {binaries[0][0]}: {out[:120]!r}"
            )
            continue
        plans.append(Plan(recipe, binaries, version, _digest(binaries)))
    if problems:
        raise HarnessError("cannot build " + "; ".join(problems) + " (run 'make setup')")
    return plans


@dataclass
class Outcome:
    tag: str
    status: str  # present | built | rebuilt
    seconds: float
    size: int = 0
    notes: list[str] = field(default_factory=list)


def build(client: Any, plans: Sequence[Plan], *, force: bool = False) -> list[Outcome]:
    """Builds each plan's image unless it is present (``force``: rebuild it anyway)."""
    return [_build_one(client, p, force) for p in plans]


def _present(client: Any, tag: str) -> Any | None:
    import docker.errors

    try:
        return client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None


def _build_one(client: Any, p: Plan, force: bool) -> Outcome:
    started = time.monotonic()
    old = _present(client, p.tag)
    stale = old is not None and (old.labels or {}).get(f"{IMAGE_LABEL}.binaries-sha256") != p.digest
    if old is not None and not force and not stale:
        return Outcome(p.tag, "present", time.monotonic() - started, int(old.attrs.get("Size", 0)))
    libraries = sorted({lib for path, _ in p.binaries for lib in shared_libraries(path)})
    entries = rootfs_entries(p.binaries, libraries, p.recipe.dirs)
    with tempfile.TemporaryDirectory(prefix="harness-image-") as tmp:
        tar_path = os.path.join(tmp, "rootfs.tar")
        with open(tar_path, "wb") as fh:
            write_tar(entries, fh)
        repository, tag = p.tag.rsplit(":", 1)
        reply = client.api.import_image_from_file(
            tar_path, repository=repository, tag=tag, changes=p.changes()
        )
    _raise_on_error(reply, p.tag)
    image = client.images.get(p.tag)
    out = Outcome(p.tag, "rebuilt" if old else "built", time.monotonic() - started, int(image.attrs["Size"]))
    out.notes.append(f"{len(libraries)} shared libraries" if libraries else "static binary")
    if stale:  # the binaries here (or the recipe's files) changed since it was made
        out.notes.append("the present one was made from other binaries or files than these")
    if old is not None and old.id != image.id:
        out.notes.append(_remove_replaced(client, old.id))
    return out


def _raise_on_error(reply: Any, tag: str) -> None:
    """The import answers with JSON lines; a failure is a line with "error" (the HTTP status is 200)."""
    for line in str(reply).splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if isinstance(msg, dict) and msg.get("error"):
            raise HarnessError(f"docker import of {tag} failed: {msg['error']}")


def _remove_replaced(client: Any, image_id: str) -> str:
    """The image a rebuild replaced is left untagged: remove it, unless a container still uses it."""
    import docker.errors

    try:
        client.images.remove(image_id)
    except docker.errors.APIError as exc:
        return f"the image it replaced ({image_id[7:19]}) stays: {exc.explanation or exc}"
    return f"removed the image it replaced ({image_id[7:19]})"


def present_images(client: Any) -> list[dict[str, str]]:
    """Our local images and the pinned official ones this engine has, one row each."""
    rows: list[dict[str, str]] = []
    for image in client.images.list(filters={"label": f"{IMAGE_LABEL}=1"}):
        labels = image.labels or {}
        for tag in image.tags or ["<untagged>"]:
            rows.append(
                {
                    "image": tag,
                    "kind": "local",
                    "id": image.short_id.removeprefix("sha256:"),
                    "size": f"{int(image.attrs.get('Size', 0)) / 1e6:.1f} MB",
                    "created": str(image.attrs.get("Created", ""))[:19],
                    "from": labels.get(f"{IMAGE_LABEL}.name", "?"),
                }
            )
    for pin in PINNED:
        image = _present(client, pin.official)
        if image is not None:
            size = f"{int(image.attrs.get('Size', 0)) / 1e6:.1f} MB"
            short = image.short_id.removeprefix("sha256:")
            rows.append({"image": pin.official, "kind": "official", "id": short, "size": size})
    return sorted(rows, key=lambda r: r["image"])
