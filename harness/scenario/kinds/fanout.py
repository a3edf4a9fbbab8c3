"""The ``tenant_reads`` kind: the cross-shard-query case study's Redis analog.

Steady ``INCR`` writes into every tenant's bucket keys (the increments driver, keys laid out as the
variant's ``key_layout`` says) while ``reads_per_s`` per-tenant totals are read on ``read_workers``
threads (:mod:`harness.workload.redis_plane.fanout`): one node per read with hash tags, a
scatter-gather over the cluster without. After healing, every bucket written is read back for
``acknowledged-increments-survive``. Random streams: ``keys`` (writes) and ``reads``."""

from __future__ import annotations

import threading
from typing import Any

from harness.faults.base import WorkloadControl
from harness.metrics.hdr import LatencyHistograms
from harness.scenario.context import VariantContext
from harness.scenario.kinds.base import WorkloadKind
from harness.scenario.kinds.redis_drivers import static_planes
from harness.workload.engine.openloop import DriverStats, Progress
from harness.workload.redis_plane.events import final_reads
from harness.workload.redis_plane.fanout import FanoutConfig, TenantReads, bucket_picker
from harness.workload.redis_plane.increments import IncrementConfig, IncrementDriver


class TenantReadsWorkload:
    def __init__(self, ctx: VariantContext) -> None:
        wl, v = ctx.spec.workload, ctx.variant
        self.ctx = ctx
        self.router = ctx.router()
        cfg = IncrementConfig(
            profile=ctx.profile,
            rate=ctx.profile.peak(),
            duration_s=ctx.duration_s,
            keys=wl.tenants * wl.buckets,
            max_batch=wl.max_batch,
        )
        picker = bucket_picker(wl.tenants, wl.buckets, v.key_layout)
        self.writer = IncrementDriver(
            self.router, ctx.recorder, ctx.clock, cfg, ctx.name, ctx.random("keys"), pick_key=picker
        )
        workers = max(1, wl.read_workers)
        self.read_routers = [ctx.router() for _ in range(workers)]
        self.read_cfg = FanoutConfig(
            reads_per_s=wl.reads_per_s,
            duration_s=ctx.duration_s,
            tenants=wl.tenants,
            buckets=wl.buckets,
            layout=v.key_layout,
            workers=workers,
            slow_ms=wl.slow_ms,
        )
        self.reads = TenantReads(
            self.read_routers, ctx.recorder, ctx.clock, self.read_cfg, ctx.name, ctx.random("reads")
        )
        self.errors: list[str] = []

    def live_latency(self, origin_ns: int) -> LatencyHistograms | None:
        return None

    def control(self) -> WorkloadControl | None:
        return None

    def run(self, progress: Progress) -> DriverStats:
        reader = threading.Thread(target=self._read_schedule, name="tenant-reads", daemon=True)
        reader.start()
        try:
            return self.writer.run(progress)
        finally:
            reader.join(timeout=self.ctx.duration_s + self.read_cfg.drain_s + 60)
            if reader.is_alive():
                self.errors.append("the read schedule did not stop within its bound")

    def _read_schedule(self) -> None:
        try:
            self.reads.run()
        except Exception as exc:  # reported in the summary; the writes' run goes on
            self.errors.append(f"read schedule: {type(exc).__name__}: {exc}")

    def stop_background(self) -> None:
        pass

    def final_reads(self) -> int:
        keys = sorted(self.writer.counter_keys)
        return final_reads(self.router, self.ctx.recorder, keys, self.ctx.name)

    def summary(self, start_s: float) -> dict[str, Any]:
        figures = self.reads.stats.summary(self.read_cfg.slow_ms)
        out: dict[str, Any] = {"tenant_reads": {"layout": self.read_cfg.layout, **figures}}
        if self.errors:
            out["errors"] = list(self.errors)
        return out

    def close(self) -> None:
        for r in [self.router, *self.read_routers]:
            r.close()


TENANT_READS = WorkloadKind(
    "tenant_reads",
    TenantReadsWorkload,
    frozenset({"incr"}),
    frozenset({"tenant_read"}),
    static_planes,
)
