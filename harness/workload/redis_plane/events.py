"""Open-loop driver for the Redis plane of ingestion: rate-limit check, then per-minute counter.

Events are due on a fixed schedule at the offered rate (:mod:`harness.workload.engine.openloop`);
each batch goes down the one ingest path (:class:`IngestPath`, effects ``counter``): the limiter in
one pipelined round, then admitted events get their counter ``INCR`` + ``EXPIRE`` in a second.
What is this kind's own: a write-sharded tenant's shard is drawn at random per event (there are no
users), and each event is recorded op by op as ``rate_limit`` and ``incr`` (fields the
``rate-limit-holds`` and ``acknowledged-increments-survive`` checkers read).
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from harness.clients.redis_router import SlotRouter
from harness.clock import RunClock
from harness.history.recorder import HistoryRecorder
from harness.metrics.hdr import LatencyHistograms
from harness.ops import OpType
from harness.workload.engine.openloop import DriverStats, Progress, run_schedule
from harness.workload.engine.profile import RateProfile
from harness.workload.model.keys import KeyScheme
from harness.workload.model.tenants import TenantPicker
from harness.workload.redis_plane.ingest_path import IngestPath, RedisIngestConfig, limiter_script
from harness.workload.redis_plane.ingest_record import Effects, Limited, Packed

__all__ = ["PROCESS", "DriverConfig", "EventDriver", "final_reads", "limiter_script"]

PROCESS = "ingest"


@dataclass(frozen=True)
class DriverConfig:
    rate: float  # offered events per second
    duration_s: float
    limit: int  # default per-tenant limit per window
    window_ms: int
    tenant_limits: dict[str, int] = field(default_factory=dict)
    max_batch: int = 400
    drain_s: float = 5.0  # overdue events may still be sent this long after the schedule ends
    counter_ttl_s: int = 600
    profile: RateProfile | None = None  # when set, the offered rate over time (rate is then unused)


class EventDriver:
    def __init__(
        self,
        router: SlotRouter,
        recorder: HistoryRecorder,
        clock: RunClock,
        keys: KeyScheme,
        picker: TenantPicker,
        cfg: DriverConfig,
        variant: str,
        rng: random.Random,
        script_sha: str,
    ) -> None:
        self.router = router
        self.rec = recorder
        self.clock = clock
        self.keys = keys
        self.picker = picker
        self.cfg = cfg
        self.variant = variant
        self.rng = rng
        self.sha = script_sha
        self.counter_keys: set[str] = set()
        self.stats = DriverStats()
        # Optional HdrHistograms (per op type, from the scheduled time), for live p99 and metrics.
        self.latency: LatencyHistograms | None = None
        path_cfg = RedisIngestConfig(cfg.limit, cfg.window_ms, cfg.tenant_limits, cfg.counter_ttl_s)
        self.path = IngestPath(
            router, clock, keys, path_cfg, script_sha, _EventRecording(self), effects="counter"
        )

    # The hot-tenant fault's control surface (harness.faults.base.WorkloadControl).
    def surge(self, tenant: str, share: float) -> dict[str, float]:
        return self.picker.surge(tenant, share)

    def end_surge(self, tenant: str) -> dict[str, float]:
        return self.picker.end_surge(tenant)

    def run(self, on_progress: Progress | None = None) -> DriverStats:
        return run_schedule(
            self.clock,
            self.cfg,
            stats=self.stats,
            send=lambda first_seq, sched, _backlog: self._batch(first_seq, sched),
            on_progress=on_progress,
        )

    def _batch(self, first_seq: int, sched: list[int]) -> None:
        tenants = self.picker.draw(len(sched))
        rng, shards_of = self.rng, self.keys.shards
        shards = []
        for tenant in tenants:
            n = shards_of(tenant)
            shards.append(rng.randrange(n) if n > 1 else 0)
        now_ms = [self.clock.wall_ms_at(s) for s in sched]
        p = self.path.packer.pack_counts(first_seq, tenants, shards, now_ms, f"{self.variant}-")
        self.path.ingest(p, sched)


class _EventRecording:
    """The ``events`` kind's records of the path's rounds: ``rate_limit`` and ``incr`` op by op,
    with the driver's stats, counter keys and latency histograms. A token is the ops' ids with
    their events' scheduled times."""

    def __init__(self, driver: EventDriver) -> None:
        self.d = driver

    def invoke(
        self, p: Packed, sched: Sequence[int], send_ns: int, script: bool
    ) -> tuple[list[int], Sequence[int]]:
        d = self.d
        invoke, variant, window_ms = d.rec.invoke, d.variant, d.cfg.window_ms
        ids = [
            invoke(
                PROCESS,
                "rate_limit",
                time_ns=send_ns,
                sched_ns=sched[i],
                variant=variant,
                key=p.k_lim[i],
                tenant=p.tenant[i],
                event=p.seq[i],
                value={
                    "now_ms": p.now_ms[i],
                    "limit": p.limit[i],
                    "window_ms": window_ms,
                    "req": p.event_id[i],
                    "group": p.tenant[i],
                    "group_limit": p.group_limit[i],
                    "shards": p.shards[i],
                },
            )
            for i in range(len(p.seq))
        ]
        return ids, sched

    def limited(self, token: tuple[list[int], Sequence[int]], p: Packed, lim: Limited, script: bool) -> None:
        d = self.d
        rec, stats, latency = d.rec, d.stats, d.latency
        ids, sched = token
        for i, op in enumerate(ids):
            outcome, value, done = lim.outcomes[i], lim.values[i], lim.done_ns[i]
            if outcome is not OpType.OK:
                rec.complete(op, outcome, PROCESS, "rate_limit", time_ns=done, error=str(value))
                stats.outcomes[outcome.value] += 1
                continue
            allowed = int(value[0]) == 1
            remaining = int(value[1])
            rec.complete(
                op,
                OpType.OK,
                PROCESS,
                "rate_limit",
                time_ns=done,
                value={"allowed": allowed, "remaining": remaining},
            )
            if latency is not None:
                latency.record("rate_limit", sched[i], done)
            stats.outcomes["ok"] += 1
            if allowed:
                stats.admitted += 1
                d.counter_keys.add(p.k_cnt[i])
            else:
                stats.rate_limited += 1

    def invoke_effects(
        self, token: Any, p: Packed, idx: list[int] | None, sched: Sequence[int], send_ns: int
    ) -> tuple[list[int], list[int]]:
        d = self.d
        invoke, variant = d.rec.invoke, d.variant
        events = range(len(p.seq)) if idx is None else idx
        ids = [
            invoke(
                PROCESS,
                "incr",
                time_ns=send_ns,
                sched_ns=sched[i],
                variant=variant,
                key=p.k_cnt[i],
                tenant=p.tenant[i],
                event=p.seq[i],
            )
            for i in events
        ]
        return ids, [sched[i] for i in events]

    def effects(self, token: tuple[list[int], list[int]], p: Packed, eff: Effects) -> None:
        d = self.d
        rec, stats, latency = d.rec, d.stats, d.latency
        assert eff.errors is not None and eff.expire is not None  # effects counter: each INCR apart
        for op, s_ns, outcome, value, error, done, expire in zip(
            *token, eff.outcomes, eff.counters, eff.errors, eff.done_ns, eff.expire, strict=True
        ):
            if outcome is OpType.OK:
                assert value is not None  # an ok INCR's reply
                rec.complete(op, OpType.OK, PROCESS, "incr", time_ns=done, value=int(value))
                if latency is not None:
                    latency.record("incr", s_ns, done)
            else:
                rec.complete(op, outcome, PROCESS, "incr", time_ns=done, error=error)
            stats.outcomes[outcome.value] += 1
            if expire is not OpType.OK:
                stats.expire_errors += 1


def final_reads(
    router: SlotRouter,
    recorder: HistoryRecorder,
    keys: list[str],
    variant: str,
    batch: int = 1000,
    rounds: int = 5,
    pause_s: float = 0.5,
) -> int:
    """Reads every counter key, recorded as ``final_read`` ops for the checkers. Reads are
    idempotent, so a read that was refused or timed out (a stale slot map right after a failover,
    a node still loading) is tried again, up to ``rounds`` times; every attempt is its own op and
    the checker uses the latest one that succeeded. Returns how many keys were never read."""
    pending = list(keys)
    for attempt in range(rounds):
        if attempt:
            time.sleep(pause_s)
            with contextlib.suppress(redis.RedisError):
                router.refresh()
        failed: list[str] = []
        for start in range(0, len(pending), batch):
            chunk = pending[start : start + batch]
            ops = [recorder.invoke("final", "final_read", variant=variant, key=k) for k in chunk]
            replies = router.execute([("GET", k) for k in chunk], chunk)
            for op, k, reply in zip(ops, chunk, replies, strict=True):
                if reply.outcome is OpType.OK:
                    value = None if reply.value is None else int(reply.value)
                    recorder.complete(
                        op, OpType.OK, "final", "final_read", time_ns=reply.done_ns, value=value, key=k
                    )
                else:
                    failed.append(k)
                    recorder.complete(
                        op,
                        reply.outcome,
                        "final",
                        "final_read",
                        time_ns=reply.done_ns,
                        error=str(reply.value),
                        key=k,
                    )
        pending = failed
        if not pending:
            break
    return len(pending)
