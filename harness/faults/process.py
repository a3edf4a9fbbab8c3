"""Process faults: kill (SIGKILL) and graceful restart (SIGTERM), each followed by a start on the
same data dir and config, and pause (SIGSTOP until heal sends SIGCONT).

Targets are selectors, so "kill the master" is ``kill`` with ``target: random-master`` or
``master-of-slot:N``, and "pause a replica to build replication lag" is ``pause`` with
``target: random-replica`` or ``replicas-of:master-of-slot:0``: there are no separate kinds.

A restarted server is a new process recorded in the run's resources (teardown and ``harness
clean`` find the new pid); a paused one is resumed by heal, and teardown resumes anything still
stopped before it stops it (``lifecycle.stop_process``), so no stopped process outlives a run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.faults import params as check
from harness.faults.base import Capability, Fault, FaultContext, FaultError, register
from harness.faults.selectors import parse_selector, redis_role
from harness.topology import mongo as mongo_nodes
from harness.topology import redis as redis_nodes
from harness.topology.lifecycle import is_stopped, pid_alive, proc_start_time
from harness.topology.mongo import MongoNode
from harness.topology.redis import RedisNode
from harness.topology.restart import kill_node, signal_node, stop_node

if TYPE_CHECKING:
    from harness.topology.deployment import Deployment


def node_of(dep: Deployment, name: str) -> RedisNode | MongoNode:
    for n in dep.redis:
        if n.name == name:
            return n
    return dep.mongo_node(name)  # raises a clear error for an unknown name


def wait_answering(dep: Deployment, name: str, timeout_s: float) -> None:
    """Until the node answers its admin path again (Redis PING, MongoDB ping)."""
    node = node_of(dep, name)
    if isinstance(node, RedisNode):
        redis_nodes.wait_ping([node], timeout_s)
    else:
        mongo_nodes.wait_answering([node], timeout_s)


def _role(dep: Deployment, name: str) -> str:
    node = node_of(dep, name)
    return redis_role(dep, node).role if isinstance(node, RedisNode) else node.kind


class _StopStart(Fault):
    """Stops the target's server (how: ``_stop``) and starts it again on the same data: after
    ``restart_after_s`` seconds (a timer), at once (0) or at heal (None)."""

    def __init__(self, target: str, restart_after_s: float | None, wait_s: float) -> None:
        self.target = parse_selector(target, self.kind)
        self.restart_after_s = (
            None
            if restart_after_s is None
            else check.number(self.kind, "restart_after_s", restart_after_s, minimum=0)
        )
        self.wait_s = check.number(self.kind, "wait_s", wait_s, above=0, maximum=600)

    def _stop(self, node: RedisNode | MongoNode) -> dict[str, Any]:
        raise NotImplementedError

    def apply(self, ctx: FaultContext) -> dict[str, Any]:
        names = self.target.resolve(ctx)
        st = ctx.state
        st["lock"] = threading.Lock()
        st["pending"] = []  # stopped, not started again yet
        st["restarted"] = []
        stopped = []
        for name in names:
            role = _role(ctx.dep, name)
            info = self._stop(node_of(ctx.dep, name))
            st["pending"].append(name)
            stopped.append({"node": name, "role": role, **info})
        if self.restart_after_s == 0:
            self._start_pending(ctx)
            self._wait_all(ctx)
        elif self.restart_after_s is not None:
            cancel = threading.Event()
            timer = threading.Thread(
                target=self._timed_start, args=(ctx, cancel), name=f"{self.kind}-restart", daemon=True
            )
            st["cancel"], st["timer"] = cancel, timer
            timer.start()
        after = self.restart_after_s
        when = "at heal" if after is None else "at once" if after == 0 else f"after {after:g}s"
        return {"stopped": stopped, "restart": when, "restarted": list(st["restarted"])}

    def _timed_start(self, ctx: FaultContext, cancel: threading.Event) -> None:
        assert self.restart_after_s is not None
        if cancel.wait(self.restart_after_s):
            return  # heal came first and starts the node itself
        try:
            self._start_pending(ctx)
        except Exception as exc:  # reported by heal; a thread has no one else to tell
            ctx.state["timer_error"] = f"{type(exc).__name__}: {exc}"

    def _start_pending(self, ctx: FaultContext) -> None:
        st = ctx.state
        with st["lock"]:
            while st["pending"]:
                name = st["pending"][0]
                node = node_of(ctx.dep, name)
                old = node.process.pid if node.process else None
                new = ctx.dep.start_again(node)  # refuses once teardown has begun
                st["pending"].pop(0)
                st["restarted"].append({"node": name, "old_pid": old, "new_pid": new.pid, "at": time.time()})

    def _wait_all(self, ctx: FaultContext) -> None:
        for entry in ctx.state["restarted"]:
            wait_answering(ctx.dep, entry["node"], self.wait_s)

    def heal(self, ctx: FaultContext) -> dict[str, Any]:
        st = ctx.state
        if "lock" not in st:
            return {"restarted": []}  # apply never got as far as stopping anything
        if "timer" in st:
            st["cancel"].set()
            st["timer"].join()
        error = st.pop("timer_error", None)
        try:
            self._start_pending(ctx)
        except HarnessError as exc:
            raise FaultError(f"{self.kind}: could not start {st['pending']} again: {exc}") from exc
        started = time.monotonic()
        self._wait_all(ctx)
        roles = {e["node"]: _role(ctx.dep, e["node"]) for e in st["restarted"]}
        out: dict[str, Any] = {
            "restarted": [{k: v for k, v in e.items() if k != "at"} for e in st["restarted"]],
            "answering_after_s": round(time.monotonic() - started, 3),
            "roles": roles,
        }
        if error:
            out["timer_error"] = error
        return out


@register
class Kill(_StopStart):
    """SIGKILL the target's server (a crash), then start it again on the same data dir."""

    kind = "kill"
    needs = frozenset({Capability.KILL})

    def __init__(self, target: str, restart_after_s: float | None = None, wait_s: float = 30.0) -> None:
        super().__init__(target, restart_after_s, wait_s)

    def _stop(self, node: RedisNode | MongoNode) -> dict[str, Any]:
        return kill_node(node)


@register
class Restart(_StopStart):
    """Stop the target's server gracefully (SIGTERM, wait for exit) and start it again."""

    kind = "restart"
    needs = frozenset({Capability.RESTART})

    def __init__(self, target: str, restart_after_s: float | None = 0.0, wait_s: float = 30.0) -> None:
        super().__init__(target, restart_after_s, wait_s)

    def _stop(self, node: RedisNode | MongoNode) -> dict[str, Any]:
        return stop_node(node, timeout_s=self.wait_s)


@register
class Pause(Fault):
    """Freeze the target's server (SIGSTOP) until heal (SIGCONT): a GC pause, a stalled VM."""

    kind = "pause"
    needs = frozenset({Capability.PAUSE})

    def __init__(self, target: str) -> None:
        self.target = parse_selector(target, self.kind)

    def apply(self, ctx: FaultContext) -> dict[str, Any]:
        paused: list[dict[str, Any]] = ctx.state.setdefault("paused", [])
        for name in self.target.resolve(ctx):
            role = _role(ctx.dep, name)
            node = node_of(ctx.dep, name)
            pid = node.process.pid if node.process else -1
            # Recorded first: heal resumes it even if this apply fails right after the signal.
            paused.append(
                {"node": name, "pid": pid, "start": proc_start_time(pid), "role": role, "t": time.monotonic()}
            )
            try:
                signal_node(node, signal.SIGSTOP)
            except (HarnessError, OSError) as exc:
                raise FaultError(f"pause {name}: {exc}") from exc
            _until(lambda: is_stopped(pid), 5.0, f"{name} (pid {pid}) to stop")  # noqa: B023 - called at once
        return {"paused": [{k: v for k, v in p.items() if k not in ("start", "t")} for p in paused]}

    def heal(self, ctx: FaultContext) -> dict[str, Any]:
        resumed = []
        for p in ctx.state.pop("paused", []):
            if not pid_alive(p["pid"], p["start"]):
                continue  # killed or restarted meanwhile: nothing left to resume
            with contextlib.suppress(ProcessLookupError):
                os.kill(p["pid"], signal.SIGCONT)
            pid = p["pid"]
            _until(lambda: not is_stopped(pid), 5.0, f"{p['node']} to resume")  # noqa: B023 - called at once
            resumed.append(
                {"node": p["node"], "pid": p["pid"], "paused_s": round(time.monotonic() - p["t"], 3)}
            )
        return {"resumed": resumed}


def _until(check_: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check_():
        if time.monotonic() > deadline:
            raise FaultError(f"timed out after {timeout_s:g}s waiting for {what}")
        time.sleep(0.01)
