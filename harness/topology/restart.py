"""Stopping one server and starting it again on the same data dir and config.

This is what the process faults build on (kill, graceful restart), for Redis and MongoDB nodes
alike: a node is anything with a ``name``, a ``process`` and an admin connection to ``close``. The
new process runs the very command line the first one ran, so a Redis Cluster node finds its
``nodes.conf`` (its identity, epoch and peers) and a mongod its dbpath, and it is recorded in the
run's resources like the first, so teardown and ``harness clean`` find the new pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Protocol

from harness.errors import HarnessError
from harness.topology.cgroups import join_group
from harness.topology.lifecycle import RunResources
from harness.topology.processes import ServerProcess


class ProcessNode(Protocol):
    """What restarting needs of a node (``RedisNode`` and ``MongoNode`` both are one)."""

    process: ServerProcess | None

    @property
    def name(self) -> str: ...

    def close(self) -> None: ...


def _process(node: ProcessNode) -> ServerProcess:
    if node.process is None:
        raise HarnessError(f"node {node.name} has no process (never started)")
    return node.process


def signal_node(node: ProcessNode, sig: signal.Signals) -> int:
    """Sends ``sig`` to the node's server process; returns its pid."""
    proc = _process(node)
    if not proc.running():
        raise HarnessError(f"node {node.name} (pid {proc.pid}) is not running")
    os.kill(proc.pid, sig)
    return proc.pid


def wait_exit(node: ProcessNode, timeout_s: float) -> bool:
    """Waits for the node's server to exit; False if it still runs after ``timeout_s``."""
    return _process(node).wait_gone(timeout_s)


def kill_node(node: ProcessNode, timeout_s: float = 10.0) -> dict[str, object]:
    """SIGKILL, as a crash: no shutdown work, whatever was not yet on disk is lost."""
    pid = signal_node(node, signal.SIGKILL)
    # A stopped (paused) process dies of SIGKILL too, but SIGCONT makes sure nothing stays stopped.
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)
    if not wait_exit(node, timeout_s):
        raise HarnessError(f"node {node.name} (pid {pid}) did not die of SIGKILL within {timeout_s:g}s")
    node.close()
    # a container's status comes from the engine a moment later: None here, never a guess
    return {"pid": pid, "signal": "SIGKILL", "exit_code": _process(node).exit_code()}


def stop_node(node: ProcessNode, timeout_s: float = 15.0) -> dict[str, object]:
    """Graceful stop: SIGTERM (the server's own shutdown: Redis fsyncs its AOF, waits for lagging
    replicas up to shutdown-timeout; mongod steps down), SIGKILL only past ``timeout_s``."""
    pid = signal_node(node, signal.SIGTERM)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)  # a paused server would hold the SIGTERM pending forever
    started = time.monotonic()
    graceful = wait_exit(node, timeout_s)
    if not graceful:
        os.kill(pid, signal.SIGKILL)
        wait_exit(node, 10.0)
    code = _process(node).exit_code(wait_s=1.0)
    node.close()
    return {
        "pid": pid,
        "signal": "SIGTERM",
        "graceful": graceful,
        "exit_code": code,
        "stop_s": round(time.monotonic() - started, 3),
    }


def start_again(node: ProcessNode, res: RunResources) -> ServerProcess:
    """Starts the node's server again with the same command line (same config, same data dir).

    Refuses while the old process still runs: two servers on one data dir would corrupt it."""
    old = _process(node)
    if old.running():
        raise HarnessError(f"node {node.name} still runs as pid {old.pid}; stop it before starting again")
    new = old.again(res)
    node.process = new
    node.close()  # the admin connection pointed at the dead process
    for group in res.cgroups:
        # Groups are named harness-<run tag>-<node name> (see local._limit_cpu): the node keeps its cap.
        if Path(group).name.endswith(f"-{node.name}"):
            join_group(group, new.pid)
    return new
