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

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import redis
from pymongo import MongoClient

from harness.clients.mongo_stats import sharded_chunks
from harness.clients.redis_router import SlotRouter
from harness.faults.base import WorkloadControl
from harness.metrics.hdr import LatencyHistograms
from harness.ops import OpType
from harness.scenario.context import VariantContext
from harness.scenario.judge import variant_planes
from harness.scenario.kinds.base import WorkloadKind
from harness.scenario.parts import tenants_and_keys
from harness.scenario.planes import MONGO_RYW_NEEDS, mongo_path_blocked
from harness.topology import mongo as mongo_nodes
from harness.topology import mongo_commands as cmds
from harness.topology import redis as redis_nodes
from harness.topology.deployment import replica_seeds
from harness.workload.engine.openloop import DriverStats, Progress
from harness.workload.model.generator import EventGenerator, GeneratorConfig
from harness.workload.model.keys import KeyScheme
from harness.workload.model.tenants import TenantPicker
from harness.workload.mongo_plane.aggregation import AggregationWorker
from harness.workload.mongo_plane.audit_writer import AuditWriter
from harness.workload.mongo_plane.final_reads import FinalReader
from harness.workload.mongo_plane.ingest import (
    IDEMPOTENCY_INDEX,
    MongoIngestConfig,
    MongoIngestor,
    WriteConcernSpec,
)
from harness.workload.mongo_plane.queries import QueryService
from harness.workload.platform.driver import PlatformConfig, PlatformDriver, redis_dashboard_loader
from harness.workload.platform.mongo_side import (
    MongoEventWriter,
    MongoProfiles,
    MongoQueryMix,
    aggregation_job,
    reset_collections,
)
from harness.workload.platform.ryw import ProfileStore
from harness.workload.platform.session_fallback import FallbackSessionDriver, FallbackSessionStore
from harness.workload.redis_plane.cache import Cache, CacheConfig
from harness.workload.redis_plane.events import final_reads
from harness.workload.redis_plane.ingest import RedisIngestConfig, RedisIngestor, ingest_script
from harness.workload.redis_plane.reads import RedisQueries, ReplicaRouter
from harness.workload.redis_plane.sessions import SessionConfig, SessionDriver, final_sessions

Background = list[tuple[str, Callable[[threading.Event], None]]]


class PlatformWorkload:
    """The driver plus everything it opened, closed by :meth:`close` whatever happened."""

    def __init__(self, ctx: VariantContext) -> None:
        self.ctx = ctx
        self.routers: list[SlotRouter] = []
        self.clients: list[Any] = []
        self.cache: Cache | None = None
        self.mongo: MongoEventWriter | None = None
        self.mongo_client: MongoClient[dict[str, Any]] | None = None
        self.profiles: MongoProfiles | None = None
        self.fallback: FallbackSessionDriver | None = None
        self.not_run: dict[str, str] = {}  # a path the variant asked for, and why it is not played
        self.notes: dict[str, str] = {}  # a path that ran differently here, and why
        self.chunks: dict[str, dict[str, int]] = {}  # per sharded collection and shard
        try:
            self.driver = self._assemble()
            self.final_router = self._router()
        except BaseException:
            self.close()  # nothing opened for a variant that never ran is left behind
            raise

    # -- assembly -----------------------------------------------------------------------------
    def _router(self) -> SlotRouter:
        r = self.ctx.router()
        self.routers.append(r)
        return r

    def _redis_client(self) -> Any:
        """A redis-py client of the deployment (a cluster client on a cluster), no retries."""
        ctx = self.ctx
        if ctx.cluster:
            c: Any = ctx.dep.cluster_client(retry=redis_nodes.no_retry(), socket_timeout=2)
        else:
            host, port = ctx.seeds[0]
            c = redis.Redis(host=host, port=port, socket_timeout=2, retry=redis_nodes.no_retry())
        self.clients.append(c)
        return c

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
            limit=wl.limit, window_ms=wl.window_ms, tenant_limits={whale.tenant: whale.limit} if whale else {}
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

    def _mongo_ryw(self) -> bool:
        return self.ctx.variant.ryw_mode in MONGO_RYW_NEEDS

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
            users_per_tenant=wl.users_per_tenant,
            sessions_per_s=wl.sessions_per_s,
        )

    def _redis_reads(self, keys: KeyScheme) -> RedisQueries:
        """The Redis query paths and the dashboard cache (its refresher starts now)."""
        ctx = self.ctx
        replica: SlotRouter | None = None
        # Only the Redis replica read-your-writes modes read from replicas.
        seeds = replica_seeds(ctx.dep) if ctx.variant.ryw_mode in ("replica", "replica_after_wait") else []
        if seeds:
            replica = (
                ReplicaRouter(seeds, cluster=True, now_ns=ctx.clock.now_ns)
                if ctx.cluster
                else SlotRouter(seeds, cluster=False, now_ns=ctx.clock.now_ns)
            )
            self.routers.append(replica)
        queries = RedisQueries(self._router(), ctx.recorder, keys, replica=replica, variant=ctx.name)
        self.cache = Cache(
            self._redis_client(),
            ctx.recorder,
            ctx.clock,
            keys,
            redis_dashboard_loader(self._router(), ctx.recorder, keys, ctx.clock, ctx.name),
            ctx.variant.cache,
            CacheConfig(ttl_ms=ctx.spec.workload.cache_ttl_ms),
            rng=ctx.random("cache"),
            run_variant=ctx.name,
        )
        if self.cache.refresher is not None:
            self.cache.refresher.start()
        return queries

    def _session_config(self) -> SessionConfig:
        ctx = self.ctx
        wl = ctx.spec.workload
        return SessionConfig(
            rate=max(wl.sessions_per_s, 1),  # unused when no sessions run
            duration_s=ctx.duration_s,
            sessions=wl.sessions,
            ttl_s=wl.session_ttl_s,
            tenants=min(wl.tenants, 1000),
        )

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

    def _mongo_side(self, gen: EventGenerator, read_mix: dict[str, float], background: Background) -> Any:
        """The MongoDB writers, readers and rollups; returns the query mix's reader (or None)."""
        ctx = self.ctx
        wl, variant, plane = ctx.spec.workload, ctx.variant, ctx.dep.mongo
        assert plane is not None
        mclient: MongoClient[dict[str, Any]] = ctx.dep.mongo_client(
            serverSelectionTimeoutMS=5000, connectTimeoutMS=2000, socketTimeoutMS=10_000
        )
        self.mongo_client = mclient
        colls = plane.spec.load_collections()
        db = mclient[colls.database]
        self._reset_collections()
        wc = variant.write_concern
        ingest_cfg = MongoIngestConfig(
            batch_size=wl.mongo_batch,
            wc=WriteConcernSpec(w=wc.w, j=wc.j, wtimeout_ms=wc.wtimeout_ms),
            retry_backoff_s=wl.mongo_retry_backoff_ms / 1000,
        )
        self.mongo = MongoEventWriter(
            MongoIngestor(mclient, ctx.recorder, ctx.clock, ingest_cfg, ctx.name),
            AuditWriter(mclient, ctx.recorder, ctx.clock, ctx.name, audit_ms=gen.cfg.retention.audit_ms),
        )
        self.mongo.start()
        reader = None
        if wl.reads_per_s > 0:
            service = QueryService(
                db, ctx.recorder, ctx.clock, ctx.name, read_pref=variant.read_pref, collections=colls
            )
            reader = MongoQueryMix(service, ctx.clock)
        if wl.reads_per_s > 0 and self._mongo_ryw() and read_mix.get("profile", 0) > 0:
            cache_client = self._redis_client() if variant.ryw_mode == "write_through" else None
            store = ProfileStore(
                mclient,
                ctx.recorder,
                ctx.clock,
                ctx.name,
                variant.ryw_mode,
                database=db.name,
                cache=cache_client,
            )
            self.profiles = MongoProfiles(store)
        if wl.sessions_per_s > 0 and variant.session_store == "fallback":
            self._fallback_sessions(db)
        writer = self.mongo
        # The capstone's rollup pipelines use $addToSet, $push and $max: where the server refuses
        # them, the same documents are grouped here from one scan per bucket (and the run says so).
        refused = mongo_path_blocked(ctx.dep, ["group_accumulators"])
        if refused is not None:
            self.notes["aggregation"] = f"rollups grouped client-side from scans: {refused}"
        worker = AggregationWorker(db, ctx.recorder, ctx.clock, ctx.name, portable=refused is not None)
        background.append(
            ("aggregation", aggregation_job(worker, lambda: writer.tenants, wl.aggregate_every_s))
        )
        return reader

    def _reset_collections(self) -> None:
        """Empty collections with initial chunks for the tenants this scenario writes, before its
        first write; the idempotency index dropped where the variant plays that mistake."""
        ctx = self.ctx
        plane = ctx.dep.mongo
        assert plane is not None
        database = plane.spec.load_collections().database
        with mongo_nodes.ddl_client(plane, 30.0) as ddl:
            reset_collections(ddl, plane, tenants=ctx.spec.workload.tenants)
            if not ctx.variant.idempotency_index:  # the case study's mistake, on purpose
                cmds.drop_index(ddl, database, "events", IDEMPOTENCY_INDEX)
                self.notes["idempotency_index"] = "dropped by the variant: resends store second copies"
            if plane.sharded:
                self.chunks = sharded_chunks(ddl, database)

    def _fallback_sessions(self, db: Any) -> None:
        ctx = self.ctx
        plane = ctx.dep.mongo
        assert plane is not None
        ttl_s = ctx.spec.workload.session_ttl_s
        store = FallbackSessionStore(self._redis_client(), db, ctx.recorder, ctx.clock, ctx.name, ttl_s=ttl_s)
        if mongo_path_blocked(ctx.dep, ["ttl_index"]) is None:
            store.ensure_indexes()
        else:  # correct without it: every lookup filters expires_at > now; nothing is deleted
            plane.leave_out("sessions: index ttl_expires_at (the server has no TTL indexes)")
        self.fallback = FallbackSessionDriver(store, self._session_config(), ctx.random("sessions"))

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

    def summary(self, start_s: float) -> dict[str, Any]:
        """What the platform driver's side schedules did, for metrics.json and the report (times
        in seconds from the variant's start, as the other series)."""
        d = self.driver
        rs = d.read_stats
        out: dict[str, Any] = {
            "reads": {
                "offered": rs.offered,
                "by_kind": rs.by_kind,
                "not_ok": rs.not_ok,
                "max_lag_ms": rs.max_lag_s * 1000,
                "mongo_dropped": rs.mongo_dropped,
            },
            "errors": d.errors,
        }
        if self.cache is not None:
            cs = self.cache.stats
            out["cache"] = {
                "variant": self.cache.variant,
                "reader_loads": cs.reader_loads,
                "refresher_loads": cs.refresher_loads,
                "misses": cs.misses,
                "lock_timeouts": cs.lock_timeouts,
                "early": cs.early,
                "max_stampede": max((max(b) for b in cs.bursts.values() if b), default=0),
            }
        if d.sessions is not None:
            out["sessions"] = d.sessions.stats.to_dict()
            out["sessions"]["store"] = "fallback" if self.fallback is not None else "redis"
        if self.profiles is not None:
            out["profiles"] = {
                "mode": self.profiles.store.mode,
                "sessions_opened": self.profiles.sessions_opened,
            }
        if self.not_run:
            out["not_run"] = dict(self.not_run)
        if self.notes:
            out["notes"] = dict(self.notes)
        if d.queue_stats is not None:
            q = out["queue"] = d.queue_stats.to_dict()
            q["depth_series"] = [(round(t - start_s, 3), depth) for t, depth in q["depth_series"]]
        if self.mongo is not None:
            out["mongo"] = self._mongo_summary(self.mongo)
        return out

    def _mongo_summary(self, mongo: MongoEventWriter) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ingest": mongo.ingestor.stats.to_dict(),
            "audit_waits": mongo.audit_waits,
            "errors": mongo.errors,
        }
        if mongo.audit is not None:
            out["audit"] = mongo.audit.stats.to_dict()
        if self.chunks:  # where the variant's writes could go: chunks per shard when it started
            out["chunks"] = self.chunks
        return out

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
        if self.profiles is not None:
            self.profiles.close()  # ends the MongoDB sessions before their client closes
        if self.mongo is not None:
            self.mongo.stop()
        if self.mongo_client is not None:
            self.mongo_client.close()
        for r in self.routers:
            r.close()
        for c in self.clients:
            with contextlib.suppress(redis.RedisError, OSError):
                c.close()


PLATFORM = WorkloadKind(
    "platform",
    PlatformWorkload,
    frozenset({"rate_limit", "shed"}),  # a shed event was offered, never achieved
    frozenset({"rate_limit", "incr"}),
    variant_planes,
)
