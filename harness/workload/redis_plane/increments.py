"""Open-loop steady increment load: the failover scenarios' workload (per-key counters, as the
platform's per-minute counters are), optionally made durable with ``WAIT`` and retried.

Every event is one ``INCR`` of a counter key drawn from ``keys`` counters, due on a fixed schedule
at the offered rate (latency is measured from the scheduled time). With ``wait_replicas`` > 0 each
node's share of a batch is followed by one ``WAIT <n> <timeout>`` on the same connection, which
covers every write that connection sent before it: an ``INCR`` counts as acknowledged (``ok``) only
when its ``WAIT`` reports at least ``n`` replicas; fewer means the master applied it but nobody else
has it yet, so its outcome is unknown (``info``: it may or may not survive a failover). With
``retries`` > 0 an ``INCR`` that failed or whose outcome is unknown is sent again after
``retry_backoff_ms``, as a new op of the same event (``attempt`` 2, 3, ...): a retry after an
unknown outcome may apply twice, which the checker allows for (final <= acknowledged + unknown).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.clients.redis_router import Address, Reply, SlotRouter
from harness.clock import RunClock
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.workload.engine.openloop import DriverStats, Progress, run_schedule
from harness.workload.engine.profile import RateProfile

PROCESS = "counter"


@dataclass(frozen=True)
class IncrementConfig:
    rate: float
    duration_s: float
    keys: int = 1000
    max_batch: int = 400
    wait_replicas: int = 0
    wait_timeout_ms: int = 100
    retries: int = 0
    retry_backoff_ms: int = 50
    drain_s: float = 5.0
    profile: RateProfile | None = None  # when set, the offered rate over time (rate is then unused)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.duration_s <= 0 or self.keys < 1:
            raise ValueError("rate, duration_s and keys must be positive")
        if self.wait_replicas < 0 or self.retries < 0:
            raise ValueError("wait_replicas and retries cannot be negative")


@dataclass
class _Pending:
    event: int
    key: str
    sched_ns: int
    attempt: int
    not_before_ns: int


class _Retries:
    """INCRs to send again, in the order they became due (the open loop's backlog)."""

    def __init__(self) -> None:
        self.queue: deque[_Pending] = deque()

    def due(self, now_ns: int, limit: int) -> list[_Pending]:
        out: list[_Pending] = []
        while self.queue and self.queue[0].not_before_ns <= now_ns and len(out) < limit:
            out.append(self.queue.popleft())
        return out

    def next_ns(self) -> int | None:
        return self.queue[0].not_before_ns if self.queue else None


class IncrementDriver:
    def __init__(
        self,
        router: SlotRouter,
        recorder: HistoryRecorder,
        clock: RunClock,
        cfg: IncrementConfig,
        variant: str,
        rng: random.Random,
        pick_key: Callable[[random.Random], str] | None = None,
    ) -> None:
        self.router = router
        #: a fresh INCR's key (default: one of ``cfg.keys`` counters ``ctr:<n>``)
        self.pick_key = pick_key or (lambda r: f"ctr:{r.randrange(cfg.keys)}")
        self.rec = recorder
        self.clock = clock
        self.cfg = cfg
        self.variant = variant
        self.rng = rng
        self.counter_keys: set[str] = set()
        self.stats = DriverStats()
        self.retries = _Retries()

    def run(self, on_progress: Progress | None = None) -> DriverStats:
        return run_schedule(
            self.clock,
            self.cfg,
            stats=self.stats,
            send=self._send,
            on_progress=on_progress,
            backlog=self.retries,
        )

    def _send(self, first_seq: int, sched: list[int], retries: list[_Pending]) -> None:
        fresh = [_Pending(first_seq + i, self.pick_key(self.rng), s_ns, 1, 0) for i, s_ns in enumerate(sched)]
        self._batch(retries + fresh)

    def _batch(self, batch: list[_Pending]) -> None:
        cfg, rec = self.cfg, self.rec
        commands: list[tuple[Any, ...]] = [("INCR", p.key) for p in batch]
        route: list[str] = [p.key for p in batch]
        wait_at: dict[Address, int] = {}
        if cfg.wait_replicas:
            # One WAIT per node, after that node's INCRs on the same connection.
            for p in batch:
                node = self.router.node_for(p.key)
                if node not in wait_at:
                    commands.append(("WAIT", cfg.wait_replicas, cfg.wait_timeout_ms))
                    route.append(p.key)
                    wait_at[node] = len(commands) - 1
        send_ns = self.clock.now_ns()
        op_ids = []
        for p in batch:
            self.counter_keys.add(p.key)
            fields: dict[str, Any] = {
                "key": p.key,
                "variant": self.variant,
                "sched_ns": p.sched_ns,
                "event": p.event,
                "attempt": p.attempt,
            }
            if cfg.wait_replicas:
                fields["wait"] = cfg.wait_replicas
            op_ids.append(rec.invoke(PROCESS, "incr", time_ns=send_ns, **fields))
        replies = self.router.execute(commands, route)
        for i, (p, op_id) in enumerate(zip(batch, op_ids, strict=True)):
            reply = replies[i]
            outcome, done = reply.outcome, reply.done_ns
            extra: dict[str, Any] = {}
            if outcome == OpType.OK and cfg.wait_replicas:
                outcome, extra, done = self._waited(reply, replies, wait_at, cfg.wait_replicas)
            rec.complete(op_id, outcome, PROCESS, "incr", time_ns=done, value=reply.value, **extra)
            self.stats.outcomes[outcome.value] += 1
            if outcome == OpType.OK:
                self.stats.admitted += 1
            elif p.attempt <= cfg.retries:
                self.retries.queue.append(
                    _Pending(
                        p.event, p.key, p.sched_ns, p.attempt + 1, done + cfg.retry_backoff_ms * 1_000_000
                    )
                )

    @staticmethod
    def _waited(
        reply: Reply, replies: list[Reply], wait_at: dict[Address, int], needed: int
    ) -> tuple[OpType, dict[str, Any], int]:
        """An INCR the master applied is acknowledged only once its node's WAIT saw enough replicas;
        it completes when that WAIT answered."""
        idx = wait_at.get(reply.node) if reply.node is not None else None
        if idx is None:
            return OpType.INFO, {"wait_acked": None, "error": "no WAIT reply for this node"}, reply.done_ns
        w = replies[idx]
        done = max(reply.done_ns, w.done_ns)
        if w.outcome != OpType.OK or not isinstance(w.value, int):
            return OpType.INFO, {"wait_acked": None, "error": f"WAIT: {w.value}"}, done
        return (OpType.OK if w.value >= needed else OpType.INFO), {"wait_acked": w.value}, done
