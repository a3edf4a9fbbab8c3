"""Open-loop user sessions: the platform's session store (a hash per session with a sliding TTL),
the persistence-loss scenario's workload.

Each event picks a session (seeded): the first time it is created (``HSET`` + ``EXPIRE``), later it
is used (``HGETALL`` + ``EXPIRE``: the sliding TTL). Ops are recorded in the sessions checker's
vocabulary (``session_create`` / ``session_touch`` with ``key``, ``tenant``, ``now_ms`` = the
client's wall clock, ``ttl_ms``); after the run, :func:`final_sessions` reads which sessions exist.
A touch that finds nothing re-creates the session (a user logging in again), so a lost session is
visible both as a touch that found nothing and in the final read.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from harness.clients.redis_router import Reply, SlotRouter
from harness.clock import RunClock
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.workload.engine.openloop import DriverStats, Progress, run_schedule
from harness.workload.engine.profile import RateProfile

PROCESS = "sessions"


@dataclass(frozen=True)
class SessionConfig:
    rate: float
    duration_s: float
    sessions: int = 2000
    tenants: int = 50
    ttl_s: int = 60
    max_batch: int = 400
    drain_s: float = 5.0
    profile: RateProfile | None = None  # when set, the offered rate over time (rate is then unused)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.duration_s <= 0 or self.sessions < 1 or self.ttl_s < 1:
            raise ValueError("rate, duration_s, sessions and ttl_s must be positive")


class SessionDriver:
    def __init__(
        self,
        router: SlotRouter,
        recorder: HistoryRecorder,
        clock: RunClock,
        cfg: SessionConfig,
        variant: str,
        rng: random.Random,
    ) -> None:
        self.router = router
        self.rec = recorder
        self.clock = clock
        self.cfg = cfg
        self.variant = variant
        self.rng = rng
        self.stats = DriverStats()
        self.created: set[int] = set()  # sessions the workload believes exist
        self.counter_keys: set[str] = set()  # every session key used (read back at the end)

    def key(self, sid: int) -> str:
        return f"session:t{sid % self.cfg.tenants}:s{sid}"

    def run(self, on_progress: Progress | None = None) -> DriverStats:
        return run_schedule(
            self.clock,
            self.cfg,
            stats=self.stats,
            send=lambda first_seq, sched, _backlog: self._batch(first_seq, sched),
            on_progress=on_progress,
        )

    def _batch(self, first_seq: int, sched: list[int]) -> None:
        """One pipelined batch: a session per scheduled event (never one twice, so a session's two
        commands cannot interleave with another use of it), each one's op invoked, then settled."""
        chosen: dict[int, None] = {}
        for _ in sched:
            chosen.setdefault(self.rng.randrange(self.cfg.sessions))
        send_ns = self.clock.now_ns()
        now_ms = self.clock.wall_ms_at(send_ns)
        commands: list[tuple[Any, ...]] = []
        route: list[str] = []
        plan: list[tuple[int, str, int]] = []  # (session, f, op)
        for i, sid in enumerate(chosen):
            key = self.key(sid)
            self.counter_keys.add(key)
            f, cmds = self._commands(sid, key)
            commands += cmds
            route += [key, key]
            op = self._invoke(f, sid, key, send_ns, now_ms, sched[min(i, len(sched) - 1)], first_seq + i)
            plan.append((sid, f, op))
        replies = self.router.execute(commands, route)
        for n, (sid, f, op_id) in enumerate(plan):
            self._settle(sid, f, op_id, replies[2 * n], replies[2 * n + 1])

    def _commands(self, sid: int, key: str) -> tuple[str, list[tuple[Any, ...]]]:
        """A known session is touched (read, TTL slid), an unknown one created; (op, commands)."""
        if sid in self.created:
            return "session_touch", [("HGETALL", key), ("EXPIRE", key, self.cfg.ttl_s)]
        return "session_create", [
            ("HSET", key, "user", f"u{sid}", "tenant", f"t{sid % self.cfg.tenants}"),
            ("EXPIRE", key, self.cfg.ttl_s),
        ]

    def _invoke(
        self, f: str, sid: int, key: str, send_ns: int, now_ms: int, sched_ns: int, event: int
    ) -> int:
        return self.rec.invoke(
            PROCESS,
            f,
            time_ns=send_ns,
            key=key,
            tenant=f"t{sid % self.cfg.tenants}",
            now_ms=now_ms,
            ttl_ms=self.cfg.ttl_s * 1000,
            variant=self.variant,
            sched_ns=sched_ns,
            event=event,
        )

    def _settle(self, sid: int, f: str, op_id: int, first: Reply, second: Reply) -> None:
        """Completes a session's op from its two replies and updates which sessions the workload
        believes exist."""
        done = max(first.done_ns, second.done_ns)
        if first.outcome == OpType.OK and second.outcome == OpType.OK:
            value: Any = None
            if f == "session_touch":
                value = _fields(first.value)
                if value is None:
                    self.created.discard(sid)  # gone: the next use logs in again
            else:
                self.created.add(sid)
            self.rec.complete(op_id, OpType.OK, PROCESS, f, time_ns=done, value=value)
            self.stats.admitted += 1
            self.stats.outcomes[OpType.OK.value] += 1
            return
        bad = first if first.outcome != OpType.OK else second
        # A create whose outcome is unknown may exist: keep touching it (a touch will tell).
        if f == "session_create" and bad.outcome == OpType.INFO:
            self.created.add(sid)
        self.rec.complete(op_id, bad.outcome, PROCESS, f, time_ns=done, error=str(bad.value))
        self.stats.outcomes[bad.outcome.value] += 1


def _fields(found: Any) -> dict[str, Any] | None:
    """An ``HGETALL`` reply as the op records it: text field names and values, None when empty."""
    return {
        (k.decode() if isinstance(k, bytes) else str(k)): (v.decode() if isinstance(v, bytes) else v)
        for k, v in dict(found or {}).items()
    } or None


def final_sessions(
    router: SlotRouter,
    recorder: HistoryRecorder,
    clock: RunClock,
    keys: list[str],
    variant: str,
    batch: int = 500,
) -> int:
    """Which sessions exist after the run (``EXISTS``, no TTL extension), recorded as
    ``final_sessions`` ops for the checker. Returns how many keys could not be read."""
    unread = 0
    for start in range(0, len(keys), batch):
        chunk = keys[start : start + batch]
        now_ms = clock.wall_ms_at(clock.now_ns())
        op = recorder.invoke("final", "final_sessions", keys=chunk, now_ms=now_ms, variant=variant)
        replies = router.execute([("EXISTS", k) for k in chunk], chunk)
        if all(r.outcome == OpType.OK for r in replies):
            found = [k for k, r in zip(chunk, replies, strict=True) if r.value == 1]
            recorder.complete(op, OpType.OK, "final", "final_sessions", time_ns=clock.now_ns(), value=found)
        else:
            unread += len(chunk)
            bad = next(r for r in replies if r.outcome != OpType.OK)
            recorder.complete(
                op, bad.outcome, "final", "final_sessions", time_ns=clock.now_ns(), error=str(bad.value)
            )
    return unread
