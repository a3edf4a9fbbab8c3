"""The backend the live tests bring topologies up on: ``pytest --backend docker`` (or
``HARNESS_BACKEND=docker``, or ``make test BACKEND=docker``) runs the same live tests on containers.

A test that pins ``hosts=`` (``loopback`` or ``netns``) or ``backend=`` is about that backend and
keeps it; every other fixture takes the chosen one."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.scenario.context import RunOptions
from harness.topology import local
from harness.topology.docker_cli import container_pid
from harness.topology.lifecycle import ProcessRecord
from harness.topology.local import LocalDeployment
from harness.topology.spec import TopologySpec

#: Set once by ``tests/conftest.py`` from ``--backend``; ``HARNESS_BACKEND`` for direct imports.
chosen: str = os.environ.get("HARNESS_BACKEND", "local") or "local"


def backend_for(**kwargs: Any) -> str:
    if "backend" in kwargs:
        return str(kwargs["backend"])
    return "local" if kwargs.get("hosts", "auto") != "auto" else chosen


@contextlib.contextmanager
def deploy(topology: TopologySpec, run_dir: Path, run_id: str, **kwargs: Any) -> Iterator[LocalDeployment]:
    """:func:`harness.topology.local.deploy` on the chosen backend (unless the test pins one)."""
    kwargs["backend"] = backend_for(**kwargs)
    with local.deploy(topology, run_dir, run_id, **kwargs) as dep:
        yield dep


def run_options(**kwargs: Any) -> RunOptions:
    """:class:`RunOptions` for a scenario run by a test, on the chosen backend."""
    kwargs.setdefault("backend", chosen)
    return RunOptions(**kwargs)


def server_pid(record: ProcessRecord) -> int:
    """The server's own pid for a recorded process: on the docker backend the record is the
    attached ``docker run`` client, and the server is the container's main process."""
    if record.cmd[:2] == ["docker", "run"]:
        name = record.cmd[record.cmd.index("--name") + 1]
        pid = container_pid(name)
        assert pid, f"container {name} is not running"
        return pid
    return record.pid
