"""The Redis-plane kinds: ``events`` (limiter then counter, hot-partition), ``increments`` (the
failover scenarios' steady counters) and ``sessions`` (the session store, persistence loss).

Each is one open-loop driver on one router; after healing, every key the driver wrote is read back
through the same router. Random streams are named as before (``tenants``, ``shards``, ``keys``,
``sessions``), so a seed replays the same run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.clients.redis_router import SlotRouter
from harness.faults.base import WorkloadControl
from harness.metrics.hdr import LatencyHistograms
from harness.scenario.context import VariantContext
from harness.scenario.kinds.base import WorkloadKind
from harness.scenario.parts import tenants_and_keys
from harness.scenario.planes import NEEDS_PLANE
from harness.scenario.spec import VariantSpec
from harness.workload.engine.openloop import DriverStats, Progress
from harness.workload.model.tenants import TenantPicker
from harness.workload.redis_plane.events import DriverConfig, EventDriver, final_reads, limiter_script
from harness.workload.redis_plane.increments import IncrementConfig, IncrementDriver
from harness.workload.redis_plane.sessions import SessionConfig, SessionDriver, final_sessions

EVENT_OPS = frozenset({"rate_limit", "incr"})
SESSION_OPS = frozenset({"session_create", "session_touch"})


def static_planes(variant: VariantSpec) -> Mapping[str, str]:
    """The Redis-plane kinds choose no data path of another plane."""
    return NEEDS_PLANE


class _DriverWorkload:
    """One driver on one router; what the three kinds share."""

    driver: EventDriver | IncrementDriver | SessionDriver

    def __init__(self, ctx: VariantContext, router: SlotRouter) -> None:
        self.ctx = ctx
        self.router = router

    def live_latency(self, origin_ns: int) -> LatencyHistograms | None:
        return None

    def control(self) -> WorkloadControl | None:
        return None

    def run(self, progress: Progress) -> DriverStats:
        return self.driver.run(progress)

    def stop_background(self) -> None:
        pass

    def final_reads(self) -> int:
        return final_reads(self.router, self.ctx.recorder, sorted(self.driver.counter_keys), self.ctx.name)

    def summary(self, start_s: float) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        self.router.close()


class EventsWorkload(_DriverWorkload):
    driver: EventDriver

    def __init__(self, ctx: VariantContext) -> None:
        super().__init__(ctx, ctx.router())
        wl = ctx.spec.workload
        assert wl.limit is not None and wl.window_ms is not None  # validated with the scenario
        mix, keys = tenants_and_keys(ctx.spec, ctx.variant)
        cfg = DriverConfig(
            profile=ctx.profile,
            rate=ctx.profile.peak(),  # unused by the driver when a profile is given
            duration_s=ctx.duration_s,
            limit=wl.limit,
            window_ms=wl.window_ms,
            tenant_limits=wl.whale.limits() if wl.whale else {},
            max_batch=wl.max_batch,
        )
        self.driver = EventDriver(
            self.router,
            ctx.recorder,
            ctx.clock,
            keys,
            TenantPicker(mix, ctx.random("tenants")),
            cfg,
            ctx.name,
            ctx.random("shards"),
            ctx.dep.load_script(limiter_script()),
        )

    def live_latency(self, origin_ns: int) -> LatencyHistograms | None:
        # live p99 for the progress line (cheap: a deque append)
        self.driver.latency = LatencyHistograms(origin_ns=origin_ns)
        return self.driver.latency

    def control(self) -> WorkloadControl | None:
        return self.driver


class IncrementsWorkload(_DriverWorkload):
    driver: IncrementDriver

    def __init__(self, ctx: VariantContext) -> None:
        super().__init__(ctx, ctx.router())
        wl, v = ctx.spec.workload, ctx.variant
        cfg = IncrementConfig(
            profile=ctx.profile,
            rate=ctx.profile.peak(),
            duration_s=ctx.duration_s,
            keys=wl.keys,
            max_batch=wl.max_batch,
            wait_replicas=v.wait_replicas,
            wait_timeout_ms=v.wait_timeout_ms,
            retries=v.retries,
            retry_backoff_ms=v.retry_backoff_ms,
        )
        self.driver = IncrementDriver(self.router, ctx.recorder, ctx.clock, cfg, ctx.name, ctx.random("keys"))


class SessionsWorkload(_DriverWorkload):
    driver: SessionDriver

    def __init__(self, ctx: VariantContext) -> None:
        super().__init__(ctx, ctx.router())
        wl = ctx.spec.workload
        cfg = SessionConfig(
            profile=ctx.profile,
            rate=ctx.profile.peak(),
            duration_s=ctx.duration_s,
            sessions=wl.sessions,
            ttl_s=wl.session_ttl_s,
            max_batch=wl.max_batch,
        )
        self.driver = SessionDriver(
            self.router, ctx.recorder, ctx.clock, cfg, ctx.name, ctx.random("sessions")
        )

    def final_reads(self) -> int:
        keys = sorted(self.driver.counter_keys)
        return final_sessions(self.router, self.ctx.recorder, self.ctx.clock, keys, self.ctx.name)


EVENTS = WorkloadKind("events", EventsWorkload, frozenset({"rate_limit"}), EVENT_OPS, static_planes)
INCREMENTS = WorkloadKind("increments", IncrementsWorkload, frozenset({"incr"}), EVENT_OPS, static_planes)
SESSIONS = WorkloadKind("sessions", SessionsWorkload, SESSION_OPS, SESSION_OPS, static_planes)
