"""The ``growth`` kind: events stored with or without their retention (the unbounded-growth case
study on Redis; :mod:`harness.workload.redis_plane.growth`). Beside the writes, a checker thread
reads back keys past their retention and a sampler records the masters' memory once a second;
after healing, the first keys stored are read back (``final_keys``). Random stream: ``tenants``."""

from __future__ import annotations

import time
from typing import Any

from harness.faults.base import WorkloadControl
from harness.metrics.hdr import LatencyHistograms
from harness.scenario.context import VariantContext
from harness.scenario.kinds.base import WorkloadKind, run_beside
from harness.scenario.kinds.redis_drivers import static_planes
from harness.workload.engine.openloop import DriverStats, Progress
from harness.workload.redis_plane.growth import GrowthConfig, GrowthDriver, growth_summary


class GrowthWorkload:
    def __init__(self, ctx: VariantContext) -> None:
        wl = ctx.spec.workload
        self.ctx = ctx
        self.router = ctx.router()
        self.check_router = ctx.router()
        self.cfg = GrowthConfig(
            rate=ctx.profile.peak(),
            profile=ctx.profile,
            duration_s=ctx.duration_s,
            tenants=wl.tenants,
            retention_ms=wl.retention_ms,
            expire=ctx.variant.expire,
            payload_bytes=wl.payload_bytes,
            max_batch=wl.max_batch,
        )
        self.driver = GrowthDriver(
            self.router, ctx.recorder, ctx.clock, self.cfg, ctx.name, ctx.random("tenants")
        )
        masters = {n.name for n in ctx.dep.current_masters()}
        self.observers = {k: v for k, v in ctx.dep.observers().items() if k in masters}

    def live_latency(self, origin_ns: int) -> LatencyHistograms | None:
        return None

    def control(self) -> WorkloadControl | None:
        return None

    def run(self, progress: Progress) -> DriverStats:
        t0 = time.monotonic()
        driver = self.driver
        return run_beside(
            lambda: driver.run(progress),
            [
                lambda stop: driver.check_loop(self.check_router, stop),
                lambda stop: driver.sample_loop(self.observers, stop, lambda: time.monotonic() - t0),
            ],
        )

    def stop_background(self) -> None:
        pass

    def final_reads(self) -> int:
        keys = self.driver.first_keys()
        if keys and not self.driver.read_keys(self.router, keys, "final_keys"):
            return len(keys)
        return 0

    def summary(self, start_s: float) -> dict[str, Any]:
        return {"growth": growth_summary(self.driver.growth, self.cfg.retention_ms, self.cfg.expire)}

    def close(self) -> None:
        for r in (self.router, self.check_router):
            r.close()
        for c in self.observers.values():
            c.close()


GROWTH = WorkloadKind(
    "growth", GrowthWorkload, frozenset({"ttl_write"}), frozenset({"ttl_write"}), static_planes
)
