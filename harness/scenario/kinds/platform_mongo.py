"""The platform kind's MongoDB side: the event and audit writers, the query service, the
read-your-writes profile store, the session fallback and the rollup worker, on collections reset
for the variant."""

from __future__ import annotations

from typing import Any

from pymongo import MongoClient

from harness.clients.mongo_stats import sharded_chunks
from harness.scenario.kinds.platform_parts import Background, DashboardOrigin, PlatformParts
from harness.scenario.planes import mongo_path_blocked
from harness.topology import mongo as mongo_nodes
from harness.topology import mongo_commands as cmds
from harness.workload.model.generator import EventGenerator
from harness.workload.model.keys import KeyScheme
from harness.workload.mongo_plane.aggregation import AggregationWorker
from harness.workload.mongo_plane.audit_writer import AuditWriter
from harness.workload.mongo_plane.ingest import (
    IDEMPOTENCY_INDEX,
    MongoIngestConfig,
    MongoIngestor,
    WriteConcernSpec,
)
from harness.workload.mongo_plane.queries import QueryService
from harness.workload.platform.driver import redis_dashboard_loader
from harness.workload.platform.mongo_side import (
    MongoEventWriter,
    MongoProfiles,
    MongoQueryMix,
    aggregation_job,
    dashboard_tenants,
    mongo_dashboard_loader,
    reset_collections,
)
from harness.workload.platform.ryw import ProfileStore
from harness.workload.platform.session_fallback import FallbackSessionDriver, FallbackSessionStore
from harness.workload.redis_plane.cache import default_tenants_of

#: The process of the MongoDB dashboard cache's origin queries (the Redis loader's is the same).
LOADER_PROCESS = "dashboard-loader"


class MongoSide(PlatformParts):
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

    def _dashboard_origin(self, keys: KeyScheme) -> DashboardOrigin:
        """The dashboard cache's origin: the capstone's MongoDB dashboard query when that plane
        runs (on a client of its own: loads run concurrently on readers and the refresher, beside
        ingestion's writes), else the tenant's Redis counters (also when the scenario says
        ``cache_origin: redis``). Both record every load as an op of process ``dashboard-loader``."""
        ctx = self.ctx
        plane = ctx.dep.mongo
        if plane is None or ctx.spec.workload.cache_origin == "redis":
            if plane is not None:
                self.notes["cache_origin"] = "the Redis counters, as the scenario asks (cache_origin: redis)"
            loader = redis_dashboard_loader(self._router(), ctx.recorder, keys, ctx.clock, ctx.name)
            return DashboardOrigin("redis", loader, default_tenants_of)
        client: MongoClient[dict[str, Any]] = ctx.dep.mongo_client(
            serverSelectionTimeoutMS=5000, connectTimeoutMS=2000, socketTimeoutMS=10_000
        )
        self.loader_client = client
        colls = plane.spec.load_collections()
        service = QueryService(
            client[colls.database],
            ctx.recorder,
            ctx.clock,
            ctx.name,
            read_pref=ctx.variant.read_pref,
            collections=colls,
            process=LOADER_PROCESS,
        )
        name = f"mongodb ({plane.features.name})" if plane.features is not None else "mongodb"
        return DashboardOrigin(name, mongo_dashboard_loader(service), dashboard_tenants)

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
