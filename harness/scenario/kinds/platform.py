"""The ``platform`` kind: the whole platform workload of one variant (ingestion's full per-event
work on both planes, the query mix with its cache, sessions, the MongoDB writers and rollups),
assembled from the scenario and the deployment, and its final reads after the run.

Every part gets its own connections and its own seeded random stream (``<part>:<variant>``), so
the same seed replays the same events, tenants, reads and cache decisions. A part that cannot be
played here (a MongoDB path without the plane, or on a server lacking what it needs) is never
played on something that only looks alike: it is listed in ``not_run`` and its checkers are
reported not_run.
"""

from __future__ import annotations

from typing import Any

from harness.clients.redis_router import SlotRouter
from harness.faults.base import WorkloadControl
from harness.metrics.hdr import LatencyHistograms
from harness.ops import OpType
from harness.scenario.context import VariantContext
from harness.scenario.kinds.base import WorkloadKind
from harness.scenario.kinds.platform_mongo import MongoSide
from harness.scenario.kinds.platform_parts import Background
from harness.scenario.parts import tenants_and_keys
from harness.scenario.planes import MONGO_RYW_NEEDS, mongo_path_blocked, variant_planes
from harness.topology.deployment import replica_seeds
from harness.workload.engine.openloop import DriverStats, Progress
from harness.workload.model.generator import EventGenerator, GeneratorConfig
from harness.workload.model.keys import KeyScheme
from harness.workload.model.tenants import TenantPicker
from harness.workload.mongo_plane.final_reads import FinalReader
from harness.workload.platform.driver import PlatformConfig, PlatformDriver
from harness.workload.redis_plane.cache import Cache, CacheConfig
from harness.workload.redis_plane.events import final_reads
from harness.workload.redis_plane.ingest import RedisIngestConfig, RedisIngestor, ingest_script
from harness.workload.redis_plane.reads import RedisQueries, ReplicaRouter
from harness.workload.redis_plane.sessions import SessionDriver, final_sessions


class PlatformWorkload(MongoSide):
    """The driver plus everything it opened, closed by :meth:`close` whatever happened."""

    def __init__(self, ctx: VariantContext) -> None:
        super().__init__(ctx)
        try:
            self.driver = self._assemble()
            self.final_router = self._router()
        except BaseException:
            self.close()  # nothing opened for a variant that never ran is left behind
            raise

    def _assemble(self) -> PlatformDriver:
        ctx = self.ctx
        wl, whale = ctx.spec.workload, ctx.spec.workload.whale
        assert wl.limit is not None and wl.window_ms is not None  # validated with the scenario
        mix, keys = tenants_and_keys(ctx.spec, ctx.variant)
        sha = ctx.dep.load_script(ingest_script())
        gen = EventGenerator(
            TenantPicker(mix, ctx.random("tenants")),
            ctx.random("events"),
            GeneratorConfig(users_per_tenant=wl.users_per_tenant),
        )
        read_mix = self._read_mix()
        limits = RedisIngestConfig(
            limit=wl.limit, window_ms=wl.window_ms, tenant_limits=whale.limits() if whale else {}
        )
        ingestor = RedisIngestor(self._router(), ctx.recorder, ctx.clock, keys, limits, ctx.name, sha)
        queries = self._redis_reads(keys) if wl.reads_per_s > 0 else None
        sessions = self._redis_sessions()
        background: Background = []
        mongo_reader = self._mongo_side(gen, read_mix, background) if ctx.dep.mongo is not None else None
        return PlatformDriver(
            clock=ctx.clock,
            generator=gen,
            ingestor=ingestor,
            cfg=self._config(read_mix),
            queries=queries,
            cache=self.cache,
            read_picker=TenantPicker(mix, ctx.random("read-tenants")),
            read_rng=ctx.random("reads"),
            sessions=self.fallback or sessions,
            mongo_writer=self.mongo,
            mongo_reader=mongo_reader,
            profiles=self.profiles,
            read_queries=(lambda: self._queries(keys)) if queries is not None else None,
            background=background,
        )

    def _read_mix(self) -> dict[str, float]:
        """The query mix's weights, without the profile reads a MongoDB mode cannot play here."""
        ctx = self.ctx
        wl, variant = ctx.spec.workload, ctx.variant
        read_mix = {str(k): w for k, w in wl.read_mix.items()} or dict(
            PlatformConfig(rate=1, duration_s=1).read_mix
        )
        if self._mongo_ryw() and read_mix.get("profile", 0) > 0 and wl.reads_per_s > 0:
            why = mongo_path_blocked(ctx.dep, MONGO_RYW_NEEDS[str(variant.ryw_mode)])
            if why is not None:
                read_mix.pop("profile")
                self.not_run["profile_reads"] = f"ryw_mode {variant.ryw_mode} reads through MongoDB: {why}"
        return read_mix

    def _config(self, read_mix: dict[str, float]) -> PlatformConfig:
        ctx = self.ctx
        wl, variant = ctx.spec.workload, ctx.variant
        return PlatformConfig(
            rate=ctx.profile.peak(),
            profile=ctx.profile,
            queue_capacity=variant.queue.capacity if variant.queue else 0,
            queue_mode=variant.queue.mode if variant.queue else "shed",
            duration_s=ctx.duration_s,
            max_batch=wl.max_batch,
            reads_per_s=wl.reads_per_s,
            read_mix=read_mix,
            ryw_mode=variant.ryw_mode,
            ryw_wait_ms=variant.wait_timeout_ms,
            read_workers=wl.read_workers,
            users_per_tenant=wl.users_per_tenant,
            sessions_per_s=wl.sessions_per_s,
        )

    def _redis_reads(self, keys: KeyScheme) -> RedisQueries:
        """The Redis query paths and the dashboard cache (its refresher starts now)."""
        ctx = self.ctx
        queries = self._queries(keys)
        client = self._redis_client()
        origin = self._dashboard_origin(keys)
        self.cache_origin = origin.name
        self.cache = Cache(
            client,
            ctx.recorder,
            ctx.clock,
            keys,
            origin.loader,
            ctx.variant.cache,
            cache_config(ctx.spec.workload.cache_ttl_ms),
            rng=ctx.random("cache"),
            tenants_of=origin.tenants_of,
            run_variant=ctx.name,
        )
        if self.cache.refresher is not None:
            self.cache.refresher.start()
        return queries

    def _queries(self, keys: KeyScheme) -> RedisQueries:
        """Query paths on connections of their own: the master router, and a replica router when
        the variant reads its own writes from replicas."""
        ctx = self.ctx
        replica: SlotRouter | None = None
        seeds = replica_seeds(ctx.dep) if ctx.variant.ryw_mode in ("replica", "replica_after_wait") else []
        if seeds:
            replica = (
                ReplicaRouter(seeds, cluster=True, now_ns=ctx.clock.now_ns)
                if ctx.cluster
                else SlotRouter(seeds, cluster=False, now_ns=ctx.clock.now_ns)
            )
            self.routers.append(replica)
        return RedisQueries(self._router(), ctx.recorder, keys, replica=replica, variant=ctx.name)

    def _redis_sessions(self) -> SessionDriver | None:
        ctx = self.ctx
        if ctx.spec.workload.sessions_per_s <= 0:
            return None
        if ctx.variant.session_store == "redis":
            cfg = self._session_config()
            return SessionDriver(
                self._router(), ctx.recorder, ctx.clock, cfg, ctx.name, ctx.random("sessions")
            )
        if ctx.dep.mongo is None:
            self.not_run["sessions"] = "session_store fallback keeps a copy in MongoDB, which did not run"
        return None

    # -- the Workload protocol ----------------------------------------------------------------
    def live_latency(self, origin_ns: int) -> LatencyHistograms | None:
        return None

    def control(self) -> WorkloadControl | None:
        return self.driver

    def run(self, progress: Progress) -> DriverStats:
        return self.driver.run(progress)

    def stop_background(self) -> None:
        if self.cache is not None:
            self.cache.close()  # its refresher stops with the workload

    def final_reads(self) -> int:
        """After healing: every counter key (``final_read``), every session key (``final_sessions``,
        in either store with the MongoDB session fallback) and every hourly HyperLogLog
        (``pfcount``, judged by the unique-users checker against the exact distinct users the
        history acknowledged); with the MongoDB plane, every written tenant's events and audit log
        and every written document (``final_events``, ``final_audit``, ``final_docs``). Returns how
        many could not be read."""
        ctx, d, router = self.ctx, self.driver, self.final_router
        unread = final_reads(router, ctx.recorder, sorted(d.counter_keys), ctx.name)
        if self.fallback is not None:  # a session is there if either store has it
            unread += self.fallback.store.final_sessions(sorted(self.fallback.counter_keys))
        elif d.sessions is not None:
            unread += final_sessions(
                router, ctx.recorder, ctx.clock, sorted(d.sessions.counter_keys), ctx.name
            )
        unread += self._final_hll()
        if self.mongo is not None and self.mongo_client is not None:
            self.mongo.stop()  # the audit records still queued are written before they are read back
            reader = FinalReader(self.mongo_client, ctx.recorder, ctx.clock, ctx.name)
            written = {t: list(ids) for t, ids in self.mongo.ingestor.written.items()}
            tenants_unread, docs_unread = reader.final_events_and_docs(self.mongo.tenants, written)
            unread += len(tenants_unread) + docs_unread
            unread += len(reader.final_audit(self.mongo.audit_tenants))
        return unread

    def _final_hll(self) -> int:
        rec, name = self.ctx.recorder, self.ctx.name
        unread = 0
        hll = sorted(self.driver.ingestor.hll_keys)
        for start in range(0, len(hll), 1000):
            chunk = hll[start : start + 1000]
            ops = rec.invoke_batch("final", "pfcount", [{"variant": name, "key": k} for k in chunk])
            replies = self.final_router.execute([("PFCOUNT", k) for k in chunk], chunk)
            for op, reply in zip(ops, replies, strict=True):
                fields: dict[str, Any]
                if reply.outcome is OpType.OK:
                    fields = {"value": int(reply.value)}
                else:
                    unread += 1
                    fields = {"error": str(reply.value)}
                rec.complete(op, reply.outcome, "final", "pfcount", time_ns=reply.done_ns, **fields)
        return unread


def cache_config(ttl_ms: int) -> CacheConfig:
    """The dashboard cache for a logical lifetime of ``ttl_ms``. The mutex's lock lives 5 s, the
    case study's ``EX 5``: a lock shorter than the origin's slowest query (2 s under a loaded
    FerretDB) expires under its holder and lets a second loader in. The refresher watches the
    key's PTTL, which outlives the logical expiry by ``grace_ms``: it reloads when a quarter of the
    lifetime is left, so readers of a key it keeps are served fresh values (the default lead, a
    fixed second, is below the grace and would serve them stale ones for most of each cycle)."""
    grace = CacheConfig().grace_ms
    return CacheConfig(
        ttl_ms=ttl_ms, grace_ms=grace, lock_ms=5_000, refresh_ahead_ms=grace + max(1, ttl_ms // 4)
    )


PLATFORM = WorkloadKind(
    "platform",
    PlatformWorkload,
    frozenset({"rate_limit", "shed"}),  # a shed event was offered, never achieved
    frozenset({"rate_limit", "incr"}),
    variant_planes,
)
