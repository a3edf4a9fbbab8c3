"""Open-loop driver for the Redis plane of ingestion: rate-limit check, then per-minute counter.

Events are due on a fixed schedule at the offered rate (:mod:`harness.workload.engine.openloop`); each
batch runs the limiter in one pipelined round, then admitted events get their counter ``INCR`` +
``EXPIRE`` in a second round.
"""

from __future__ import annotations

import contextlib
import random
import time
from dataclasses import dataclass, field
from importlib import resources
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

PROCESS = "ingest"


def limiter_script() -> str:
    return resources.files("harness.workload").joinpath("ratelimit.lua").read_text()


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

    # The hot-tenant fault's control surface (harness.faults.base.WorkloadControl).
    def surge(self, tenant: str, share: float) -> dict[str, float]:
        return self.picker.surge(tenant, share)

    def end_surge(self, tenant: str) -> dict[str, float]:
        return self.picker.end_surge(tenant)

    def _limit(self, tenant: str) -> int:
        return self.cfg.tenant_limits.get(tenant, self.cfg.limit)

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
        rec, keys, variant, cfg = self.rec, self.keys, self.variant, self.cfg
        commands: list[tuple[Any, ...]] = []
        route: list[str] = []
        meta: list[tuple[int, str, int, int, str, int, int]] = []
        send_ns = self.clock.now_ns()
        for offset, (tenant, s_ns) in enumerate(zip(tenants, sched, strict=True)):
            event = first_seq + offset
            shards = keys.shards(tenant)
            shard = self.rng.randrange(shards) if shards > 1 else 0
            group_limit = self._limit(tenant)
            limit = keys.shard_limit(tenant, group_limit)
            key = keys.limiter_key(tenant, shard)
            now_ms = self.clock.wall_ms_at(s_ns)
            req = f"{variant}-{event}"
            op = rec.invoke(
                PROCESS,
                "rate_limit",
                time_ns=send_ns,
                sched_ns=s_ns,
                variant=variant,
                key=key,
                tenant=tenant,
                event=event,
                value={
                    "now_ms": now_ms,
                    "limit": limit,
                    "window_ms": cfg.window_ms,
                    "req": req,
                    "group": tenant,
                    "group_limit": group_limit,
                    "shards": shards,
                },
            )
            commands.append(("EVALSHA", self.sha, 1, key, limit, cfg.window_ms, now_ms, req))
            route.append(key)
            meta.append((op, tenant, s_ns, event, key, shard, now_ms))
        replies = self.router.execute(commands, route)
        incr_cmds: list[tuple[Any, ...]] = []
        incr_route: list[str] = []
        incr_meta: list[tuple[int, str, int, int, str]] = []
        for (op, tenant, s_ns, event, _key, shard, now_ms), reply in zip(meta, replies, strict=True):
            if reply.outcome is OpType.OK:
                allowed = int(reply.value[0]) == 1
                rec.complete(
                    op,
                    OpType.OK,
                    PROCESS,
                    "rate_limit",
                    time_ns=reply.done_ns,
                    value={"allowed": allowed, "remaining": int(reply.value[1])},
                )
                if self.latency is not None:
                    self.latency.record("rate_limit", s_ns, reply.done_ns)
                self.stats.outcomes["ok"] += 1
                if not allowed:
                    self.stats.rate_limited += 1
                    continue
                self.stats.admitted += 1
                ckey = keys.counter_key(tenant, shard, now_ms)
                self.counter_keys.add(ckey)
                incr_cmds += [("INCR", ckey), ("EXPIRE", ckey, cfg.counter_ttl_s)]
                incr_route += [ckey, ckey]
                incr_meta.append((0, tenant, s_ns, event, ckey))
            else:
                rec.complete(
                    op, reply.outcome, PROCESS, "rate_limit", time_ns=reply.done_ns, error=str(reply.value)
                )
                self.stats.outcomes[reply.outcome.value] += 1
        if not incr_cmds:
            return
        send_ns = self.clock.now_ns()
        ops = [
            rec.invoke(
                PROCESS,
                "incr",
                time_ns=send_ns,
                sched_ns=s_ns,
                variant=variant,
                key=ckey,
                tenant=tenant,
                event=event,
            )
            for (_, tenant, s_ns, event, ckey) in incr_meta
        ]
        replies = self.router.execute(incr_cmds, incr_route)
        for i, op in enumerate(ops):
            reply, expire = replies[2 * i], replies[2 * i + 1]
            if reply.outcome is OpType.OK:
                rec.complete(op, OpType.OK, PROCESS, "incr", time_ns=reply.done_ns, value=int(reply.value))
                if self.latency is not None:
                    self.latency.record("incr", incr_meta[i][2], reply.done_ns)
            else:
                rec.complete(
                    op, reply.outcome, PROCESS, "incr", time_ns=reply.done_ns, error=str(reply.value)
                )
            self.stats.outcomes[reply.outcome.value] += 1
            if expire.outcome is not OpType.OK:
                self.stats.expire_errors += 1


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
