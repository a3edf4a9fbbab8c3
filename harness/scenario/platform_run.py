"""Assembles the platform workload of one variant from the scenario and the deployment, and takes
its final reads after the run (so the runner stays one lifecycle, not a parts list).

Every part gets its own connections and its own seeded random stream (``<part>:<variant>``), so
the same seed replays the same events, tenants, reads and cache decisions.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from pymongo import MongoClient

from harness.clients.mongo_stats import sharded_chunks
from harness.clients.redis_router import Address, SlotRouter
from harness.clock import RunClock, seeded_random
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.scenario.parts import load_script, tenants_and_keys
from harness.scenario.spec import MONGO_RYW_NEEDS, ScenarioSpec, VariantSpec
from harness.topology import mongo as mongo_nodes
from harness.topology import mongo_commands as cmds
from harness.topology import redis as redis_nodes
from harness.topology.local import Deployment
from harness.topology.mongo_features import FEATURES
from harness.workload.engine.profile import RateProfile
from harness.workload.model.generator import EventGenerator, GeneratorConfig
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


@dataclass
class PlatformRun:
    """The driver plus everything it opened, closed by :meth:`close` whatever happened."""

    driver: PlatformDriver | None = None
    routers: list[SlotRouter] = field(default_factory=list)
    clients: list[Any] = field(default_factory=list)
    cache: Cache | None = None
    mongo: MongoEventWriter | None = None
    mongo_client: MongoClient[dict[str, Any]] | None = None
    profiles: MongoProfiles | None = None
    fallback: FallbackSessionDriver | None = None
    not_run: dict[str, str] = field(default_factory=dict)  # a schedule the variant asked for, why not
    notes: dict[str, str] = field(default_factory=dict)  # a path that ran differently here, and why
    chunks: dict[str, dict[str, int]] = field(default_factory=dict)  # per sharded collection and shard

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


def mongo_path_blocked(dep: Deployment, needs: Sequence[str] = ()) -> str | None:
    """Why a MongoDB data path cannot be played here (no plane, or a server without a feature it
    needs, in the server's words), or None."""
    if dep.mongo is None:
        return "the MongoDB plane did not run"
    features = dep.mongo.features
    missing = [n for n in needs if features is not None and not features.has(n)]
    if features is None or not missing:
        return None
    return f"{features.name} lacks {FEATURES[missing[0]]} ({features.lacks[missing[0]]})"


def _replica_router(dep: Deployment, cluster: bool, clock: RunClock) -> SlotRouter | None:
    """Reads from replicas: ``READONLY`` connections in a cluster, the replica's proxy otherwise."""
    replicas = [n for n in dep.redis if n.spec.role == "replica"]
    if not replicas:
        return None
    seeds: list[Address] = [(n.client_proxy.listen_host, n.client_proxy.listen_port) for n in dep.redis]
    if cluster:
        return ReplicaRouter(seeds, cluster=True, now_ns=clock.now_ns)
    r = replicas[0]
    return SlotRouter(
        [(r.client_proxy.listen_host, r.client_proxy.listen_port)], cluster=False, now_ns=clock.now_ns
    )


def _redis_client(dep: Deployment, seeds: list[Address], cluster: bool) -> Any:
    """A redis-py client of the deployment (a cluster client on a cluster), no retries."""
    if cluster:
        return dep.cluster_client(retry=redis_nodes.no_retry(), socket_timeout=2)
    return redis.Redis(host=seeds[0][0], port=seeds[0][1], socket_timeout=2, retry=redis_nodes.no_retry())


def build_platform(
    dep: Deployment,
    spec: ScenarioSpec,
    variant: VariantSpec,
    seeds: list[Address],
    cluster: bool,
    rec: HistoryRecorder,
    clock: RunClock,
    seed: int,
    duration: float,
    profile: RateProfile,
) -> PlatformRun:
    run = PlatformRun()
    try:
        _assemble(run, dep, spec, variant, seeds, cluster, rec, clock, seed, duration, profile)
    except BaseException:
        run.close()  # nothing opened for a variant that never ran is left behind
        raise
    return run


def _assemble(
    run: PlatformRun,
    dep: Deployment,
    spec: ScenarioSpec,
    variant: VariantSpec,
    seeds: list[Address],
    cluster: bool,
    rec: HistoryRecorder,
    clock: RunClock,
    seed: int,
    duration: float,
    profile: RateProfile,
) -> None:
    wl, v, whale = spec.workload, variant.name, spec.workload.whale
    assert wl.limit is not None and wl.window_ms is not None  # validated with the scenario
    mix, keys = tenants_and_keys(spec, variant)
    sha = load_script(dep, ingest_script())

    def router() -> SlotRouter:
        r = SlotRouter(seeds, cluster=cluster, now_ns=clock.now_ns)
        run.routers.append(r)
        return r

    gen = EventGenerator(
        TenantPicker(mix, seeded_random(seed, f"tenants:{v}")),
        seeded_random(seed, f"events:{v}"),
        GeneratorConfig(users_per_tenant=wl.users_per_tenant),
    )
    read_mix = {str(k): w for k, w in wl.read_mix.items()} or dict(
        PlatformConfig(rate=1, duration_s=1).read_mix
    )
    mongo_ryw = variant.ryw_mode in MONGO_RYW_NEEDS
    if mongo_ryw and read_mix.get("profile", 0) > 0 and wl.reads_per_s > 0:
        why = mongo_path_blocked(dep, MONGO_RYW_NEEDS[str(variant.ryw_mode)])
        if why is not None:
            # Never played on Redis (or a server that only looks alike) instead: the checkers that
            # judge them are reported not_run.
            read_mix.pop("profile")
            run.not_run["profile_reads"] = f"ryw_mode {variant.ryw_mode} reads through MongoDB: {why}"
    cfg = PlatformConfig(
        rate=profile.peak(),
        profile=profile,
        queue_capacity=variant.queue.capacity if variant.queue else 0,
        queue_mode=variant.queue.mode if variant.queue else "shed",
        duration_s=duration,
        max_batch=wl.max_batch,
        reads_per_s=wl.reads_per_s,
        read_mix=read_mix,
        ryw_mode=variant.ryw_mode,
        users_per_tenant=wl.users_per_tenant,
        sessions_per_s=wl.sessions_per_s,
    )
    ingestor = RedisIngestor(
        router(),
        rec,
        clock,
        keys,
        RedisIngestConfig(
            limit=wl.limit, window_ms=wl.window_ms, tenant_limits={whale.tenant: whale.limit} if whale else {}
        ),
        v,
        sha,
    )
    queries = cache = None
    if wl.reads_per_s > 0:
        # Only the Redis replica read-your-writes modes read from replicas.
        replica = (
            _replica_router(dep, cluster, clock)
            if variant.ryw_mode in ("replica", "replica_after_wait")
            else None
        )
        if replica is not None:
            run.routers.append(replica)
        queries = RedisQueries(router(), rec, keys, replica=replica, variant=v)
        client = _redis_client(dep, seeds, cluster)
        run.clients.append(client)
        cache = run.cache = Cache(
            client,
            rec,
            clock,
            keys,
            redis_dashboard_loader(router(), rec, keys, clock, v),
            variant.cache,
            CacheConfig(ttl_ms=wl.cache_ttl_ms),
            rng=seeded_random(seed, f"cache:{v}"),
            run_variant=v,
        )
        if cache.refresher is not None:
            cache.refresher.start()
    session_cfg = SessionConfig(
        rate=max(wl.sessions_per_s, 1),  # unused when no sessions run
        duration_s=duration,
        sessions=wl.sessions,
        ttl_s=wl.session_ttl_s,
        tenants=min(wl.tenants, 1000),
    )
    sessions: SessionDriver | FallbackSessionDriver | None = None
    if wl.sessions_per_s > 0 and variant.session_store == "redis":
        sessions = SessionDriver(router(), rec, clock, session_cfg, v, seeded_random(seed, f"sessions:{v}"))
    elif wl.sessions_per_s > 0 and dep.mongo is None:
        # Never played on Redis alone instead: the sessions checker is reported not_run.
        run.not_run["sessions"] = "session_store fallback keeps a copy in MongoDB, which did not run"
    mongo_reader = None
    background: list[tuple[str, Callable[[threading.Event], None]]] = []
    if dep.mongo is not None:
        mclient: MongoClient[dict[str, Any]] = dep.mongo_client(
            serverSelectionTimeoutMS=5000, connectTimeoutMS=2000, socketTimeoutMS=10_000
        )
        run.mongo_client = mclient
        colls = dep.mongo.spec.load_collections()
        db = mclient[colls.database]
        with mongo_nodes.ddl_client(dep.mongo, 30.0) as ddl:
            # Initial chunks for the tenants this scenario writes, before its first write.
            reset_collections(ddl, dep.mongo, tenants=wl.tenants)
            if not variant.idempotency_index:  # the case study's mistake, on purpose
                cmds.drop_index(ddl, colls.database, "events", IDEMPOTENCY_INDEX)
                run.notes["idempotency_index"] = "dropped by the variant: resends store second copies"
            if dep.mongo.sharded:
                run.chunks = sharded_chunks(ddl, db.name)
        wc = variant.write_concern
        run.mongo = MongoEventWriter(
            MongoIngestor(
                mclient,
                rec,
                clock,
                MongoIngestConfig(
                    batch_size=wl.mongo_batch,
                    wc=WriteConcernSpec(w=wc.w, j=wc.j, wtimeout_ms=wc.wtimeout_ms),
                    retry_backoff_s=wl.mongo_retry_backoff_ms / 1000,
                ),
                v,
            ),
            AuditWriter(mclient, rec, clock, v, audit_ms=gen.cfg.retention.audit_ms),
        )
        run.mongo.start()
        if wl.reads_per_s > 0:
            mongo_reader = MongoQueryMix(
                QueryService(db, rec, clock, v, read_pref=variant.read_pref, collections=colls), clock
            )
        if wl.reads_per_s > 0 and mongo_ryw and read_mix.get("profile", 0) > 0:
            cache_client = None
            if variant.ryw_mode == "write_through":
                cache_client = _redis_client(dep, seeds, cluster)
                run.clients.append(cache_client)
            run.profiles = MongoProfiles(
                ProfileStore(mclient, rec, clock, v, variant.ryw_mode, database=db.name, cache=cache_client)
            )
        if wl.sessions_per_s > 0 and variant.session_store == "fallback":
            session_client = _redis_client(dep, seeds, cluster)
            run.clients.append(session_client)
            store = FallbackSessionStore(session_client, db, rec, clock, v, ttl_s=wl.session_ttl_s)
            if mongo_path_blocked(dep, ["ttl_index"]) is None:
                store.ensure_indexes()
            else:  # correct without it: every lookup filters expires_at > now; nothing is deleted
                dep.mongo.leave_out("sessions: index ttl_expires_at (the server has no TTL indexes)")
            sessions = run.fallback = FallbackSessionDriver(
                store, session_cfg, seeded_random(seed, f"sessions:{v}")
            )
        writer = run.mongo
        # The capstone's rollup pipelines use $addToSet, $push and $max: where the server refuses
        # them, the same documents are grouped here from one scan per bucket (and the run says so).
        refused = mongo_path_blocked(dep, ["group_accumulators"])
        if refused is not None:
            run.notes["aggregation"] = f"rollups grouped client-side from scans: {refused}"
        worker = AggregationWorker(db, rec, clock, v, portable=refused is not None)
        background.append(
            ("aggregation", aggregation_job(worker, lambda: writer.tenants, wl.aggregate_every_s))
        )
    run.driver = PlatformDriver(
        clock=clock,
        generator=gen,
        ingestor=ingestor,
        cfg=cfg,
        queries=queries,
        cache=cache,
        read_picker=TenantPicker(mix, seeded_random(seed, f"read-tenants:{v}")),
        read_rng=seeded_random(seed, f"reads:{v}"),
        sessions=sessions,
        mongo_writer=run.mongo,
        mongo_reader=mongo_reader,
        profiles=run.profiles,
        background=background,
    )


def platform_final_reads(
    run: PlatformRun, router: SlotRouter, rec: HistoryRecorder, clock: RunClock, variant: str
) -> int:
    """After healing: every counter key (``final_read``), every session key (``final_sessions``, in
    either store with the MongoDB session fallback)
    and every hourly HyperLogLog (``pfcount``, judged by the unique-users checker against the exact
    distinct users the history acknowledged); with the MongoDB plane, every written tenant's events
    and audit log and every written document (``final_events``, ``final_audit``, ``final_docs``).
    Returns how many could not be read."""
    d = run.driver
    assert d is not None
    unread = final_reads(router, rec, sorted(d.counter_keys), variant)
    if run.fallback is not None:  # a session is there if either store has it
        unread += run.fallback.store.final_sessions(sorted(run.fallback.counter_keys))
    elif d.sessions is not None:
        unread += final_sessions(router, rec, clock, sorted(d.sessions.counter_keys), variant)
    hll = sorted(d.ingestor.hll_keys)
    for start in range(0, len(hll), 1000):
        chunk = hll[start : start + 1000]
        ops = rec.invoke_batch("final", "pfcount", [{"variant": variant, "key": k} for k in chunk])
        replies = router.execute([("PFCOUNT", k) for k in chunk], chunk)
        for op, reply in zip(ops, replies, strict=True):
            fields: dict[str, Any]
            if reply.outcome is OpType.OK:
                fields = {"value": int(reply.value)}
            else:
                unread += 1
                fields = {"error": str(reply.value)}
            rec.complete(op, reply.outcome, "final", "pfcount", time_ns=reply.done_ns, **fields)
    if run.mongo is not None and run.mongo_client is not None:
        run.mongo.stop()  # the audit records still queued are written before they are read back
        reader = FinalReader(run.mongo_client, rec, clock, variant)
        written = {t: list(ids) for t, ids in run.mongo.ingestor.written.items()}
        tenants_unread, docs_unread = reader.final_events_and_docs(run.mongo.tenants, written)
        unread += len(tenants_unread) + docs_unread
        unread += len(reader.final_audit(run.mongo.audit_tenants))
    return unread


def platform_summary(pr: PlatformRun, start_s: float) -> dict[str, Any]:
    """What the platform driver's side schedules did, for metrics.json and the report (times in
    seconds from the variant's start, as the other series)."""
    d = pr.driver
    assert d is not None
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
    if pr.cache is not None:
        cs = pr.cache.stats
        out["cache"] = {
            "variant": pr.cache.variant,
            "reader_loads": cs.reader_loads,
            "refresher_loads": cs.refresher_loads,
            "misses": cs.misses,
            "lock_timeouts": cs.lock_timeouts,
            "early": cs.early,
            "max_stampede": max((max(b) for b in cs.bursts.values() if b), default=0),
        }
    if d.sessions is not None:
        out["sessions"] = d.sessions.stats.to_dict()
        out["sessions"]["store"] = "fallback" if pr.fallback is not None else "redis"
    if pr.profiles is not None:
        out["profiles"] = {"mode": pr.profiles.store.mode, "sessions_opened": pr.profiles.sessions_opened}
    if pr.not_run:
        out["not_run"] = dict(pr.not_run)
    if pr.notes:
        out["notes"] = dict(pr.notes)
    if d.queue_stats is not None:
        q = out["queue"] = d.queue_stats.to_dict()
        q["depth_series"] = [(round(t - start_s, 3), depth) for t, depth in q["depth_series"]]
    if pr.mongo is not None:
        out["mongo"] = {
            "ingest": pr.mongo.ingestor.stats.to_dict(),
            "audit_waits": pr.mongo.audit_waits,
            "errors": pr.mongo.errors,
        }
        if pr.mongo.audit is not None:
            out["mongo"]["audit"] = pr.mongo.audit.stats.to_dict()
        if pr.chunks:  # where the variant's writes could go: chunks per shard when it started
            out["mongo"]["chunks"] = pr.chunks
    return out
