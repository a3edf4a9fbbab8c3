"""The ``sharded_events`` kind: events inserted through mongos into ``events`` sharded on the
variant's ``shard_key``, with the dashboard reads beside them when ``reads_per_s`` asks
(:mod:`harness.workload.mongo_plane.sharded_events`): the MongoDB halves of the hot-partition and
cross-shard-query case studies.

It needs sharding. Where the MongoDB plane runs without it (FerretDB standing in for a sharded
cluster where no mongod exists) the kind runs nothing for the variant and says why in the plane's
own words (``workload.not_run``); its checkers need ``mongodb:sharding`` (:func:`sharded_planes`),
so they are ``not_run`` too rather than judging writes to one server that no shard key placed.
Random streams: ``tenants`` (whose event), ``events`` (the events), ``reads`` (whose dashboard),
``explain`` (the tenants whose query is explained before the load)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo import MongoClient

from harness.checkers import acknowledged_writes, no_duplicates, tenant_isolation
from harness.faults.base import WorkloadControl
from harness.metrics.hdr import LatencyHistograms
from harness.scenario.context import VariantContext
from harness.scenario.kinds.base import WorkloadKind
from harness.scenario.parts import tenants_and_keys
from harness.scenario.planes import NEEDS_PLANE, mongo_path_blocked, requirement
from harness.scenario.spec import VariantSpec
from harness.topology import mongo as mongo_nodes
from harness.workload.engine.openloop import DriverStats, Progress
from harness.workload.model.generator import EventGenerator, GeneratorConfig
from harness.workload.model.tenants import TenantMix, TenantPicker
from harness.workload.mongo_plane.shard_reads import ReadConfig, uniform_tenants
from harness.workload.mongo_plane.sharded_events import ShardedConfig, ShardedEvents

NAME = "sharded_events"
#: Tenants whose dashboard query mongos is asked to plan before the load (and the whale's).
EXPLAIN_SAMPLE = 20
#: What the kind's evidence needs: a shard key placed the writes, mongos routed the reads.
NEEDS = requirement("mongodb", ["sharding"])
DDL_TIMEOUT_S = 60.0


def sharded_planes(variant: VariantSpec) -> Mapping[str, str]:
    """Every checker of this kind judges what a sharded cluster did: it needs sharding."""
    names = (acknowledged_writes.NAME, no_duplicates.NAME, tenant_isolation.NAME)
    return {**NEEDS_PLANE, **dict.fromkeys(names, NEEDS)}


def sharded_config(ctx: VariantContext, mix: TenantMix) -> ShardedConfig:
    """The variant's load: its shard key on the collections file's ``events``, the whale's
    suffixes, the reads and the tenants explained."""
    wl, v, plane = ctx.spec.workload, ctx.variant, ctx.dep.mongo
    assert plane is not None
    colls = plane.spec.load_collections()
    base = colls.collection("events")
    spec = base.sharded_on(v.shard_key) if v.shard_key is not None else base
    whale = wl.whale.tenant if wl.whale is not None else None
    hint = spec.full_index_name({"tenant_id": 1, "event_time": -1})  # the dashboard's index
    reads = None
    if wl.reads_per_s > 0:
        workers = max(1, wl.read_workers)
        reads = ReadConfig(wl.reads_per_s, ctx.duration_s, workers, wl.slow_ms, hint)
    regular = [t for t in mix.names() if t != whale]
    sample = ctx.random("explain").sample(regular, k=min(EXPLAIN_SAMPLE, len(regular)))
    return ShardedConfig(
        profile=ctx.profile,
        duration_s=ctx.duration_s,
        spec=spec,
        tenants=wl.tenants,
        chunks_per_shard=colls.presplit.chunks_per_shard,
        hot={whale: v.whale_shards} if whale is not None and v.whale_shards > 1 else {},
        whale=whale,
        max_batch=wl.max_batch,
        reads=reads,
        explain_tenants=(*sorted(sample), *([whale] if whale is not None else [])),
    )


class ShardedEventsWorkload:
    def __init__(self, ctx: VariantContext) -> None:
        self.ctx = ctx
        self.load: ShardedEvents | None = None
        self.clients: list[MongoClient[dict[str, Any]]] = []
        self.blocked = mongo_path_blocked(ctx.dep, ["sharding"])
        if self.blocked is not None:
            ctx.log(f"{ctx.name}: {NAME} not run: {self.blocked}")
            return
        plane = ctx.dep.mongo
        assert plane is not None
        opts = {"serverSelectionTimeoutMS": 5000, "connectTimeoutMS": 2000, "socketTimeoutMS": 10_000}
        self.clients = [ctx.dep.mongo_client(**opts), ctx.dep.mongo_client(**opts)]  # writes, reads
        try:
            mix, _ = tenants_and_keys(ctx.spec, ctx.variant)
            gen = EventGenerator(
                TenantPicker(mix, ctx.random("tenants")),
                ctx.random("events"),
                GeneratorConfig(users_per_tenant=ctx.spec.workload.users_per_tenant),
            )
            pick = uniform_tenants(mix.names(), ctx.random("reads"))
            cfg = sharded_config(ctx, mix)
            writer, reader = self.clients
            self.load = ShardedEvents(
                plane, (writer, reader), ctx.recorder, ctx.clock, cfg, ctx.name, gen, pick
            )
            with mongo_nodes.ddl_client(plane, DDL_TIMEOUT_S) as ddl:
                self.load.prepare(ddl)
        except BaseException:
            self.close()  # the runner closes only a workload that was built
            raise

    def live_latency(self, origin_ns: int) -> LatencyHistograms | None:
        return None

    def control(self) -> WorkloadControl | None:
        return None

    def run(self, progress: Progress) -> DriverStats:
        if self.load is None:
            return DriverStats()  # not run: nothing offered, nothing sent
        return self.load.run(progress)

    def stop_background(self) -> None:
        pass

    def final_reads(self) -> int:
        return 0 if self.load is None else self.load.final_reads()

    def summary(self, start_s: float) -> dict[str, Any]:
        if self.load is None:
            return {"not_run": {NAME: str(self.blocked)}}
        figures = self.load.summary()
        errors = figures.pop("errors", [])
        return {"sharded": figures, **({"errors": errors} if errors else {})}

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.clients = []


SHARDED_EVENTS = WorkloadKind(
    NAME, ShardedEventsWorkload, frozenset({"insert"}), frozenset({"insert"}), sharded_planes
)
