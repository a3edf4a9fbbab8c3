"""The ``mongo_growth`` kind: events stored as MongoDB documents, removed as the variant's
``mongo_retention`` says (the unbounded-growth case study on MongoDB;
:mod:`harness.workload.mongo_plane.growth`). Beside the inserts: a checker thread reading back
documents past their retention, a storage sampler, and for ``batched_cleanup`` the cleanup job.
After healing, the first documents stored are read back (``final_docs``).

A variant whose removal the server cannot do (``ttl_index`` on a server that refuses TTL indexes)
plays nothing: its figures say why (``not_run``), and its retention check is not run
(``checker_planes``: ``mongodb:ttl_index``). Random stream: ``tenants``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from pymongo import MongoClient

from harness.faults.base import WorkloadControl
from harness.metrics.hdr import LatencyHistograms
from harness.scenario.context import VariantContext
from harness.scenario.kinds.base import WorkloadKind, run_beside
from harness.scenario.planes import NEEDS_PLANE, mongo_path_blocked, requirement
from harness.scenario.spec import VariantSpec
from harness.workload.engine.openloop import DriverStats, Progress
from harness.workload.mongo_plane.growth import (
    COLLECTION,
    MongoGrowthConfig,
    MongoGrowthDriver,
    prepare_collection,
)
from harness.workload.mongo_plane.growth_figures import storage_summary

KIND = "mongo_growth"
#: The server features each way of removing expired events needs.
RETENTION_NEEDS: Mapping[str, tuple[str, ...]] = {
    "none": (),
    "ttl_index": ("ttl_index",),
    "batched_cleanup": (),
}


def growth_planes(variant: VariantSpec) -> Mapping[str, str]:
    """Every check judges MongoDB documents; a TTL index variant's needs the server's TTL indexes."""
    needs = requirement("mongodb", RETENTION_NEEDS[variant.mongo_retention])
    return {**NEEDS_PLANE, "retention": needs}


class MongoGrowthWorkload:
    def __init__(self, ctx: VariantContext) -> None:
        wl, variant = ctx.spec.workload, ctx.variant
        self.ctx = ctx
        self.blocked = mongo_path_blocked(ctx.dep, RETENTION_NEEDS[variant.mongo_retention])
        self.cfg = MongoGrowthConfig(
            rate=ctx.profile.peak(),
            profile=ctx.profile,
            duration_s=ctx.duration_s,
            tenants=wl.tenants,
            retention_ms=wl.retention_ms,
            retention=variant.mongo_retention,
            payload_bytes=wl.payload_bytes,
            max_batch=wl.max_batch,
        )
        self.clients: list[MongoClient[dict[str, Any]]] = []
        self.driver: MongoGrowthDriver | None = None
        if self.blocked is not None:
            ctx.log(f"variant {ctx.name} not run: {self.blocked}")
            return
        assert ctx.dep.mongo is not None  # not blocked: the plane ran
        self.database = ctx.dep.mongo.spec.load_collections().database
        coll = self._coll()
        prepare_collection(coll, self.cfg.retention, self.cfg.retention_ms)
        self.driver = MongoGrowthDriver(
            coll, ctx.recorder, ctx.clock, self.cfg, ctx.name, ctx.random("tenants")
        )

    def _coll(self) -> Any:
        """The collection through a client of its own (each thread beside the load gets one)."""
        client: MongoClient[dict[str, Any]] = self.ctx.dep.mongo_client(
            serverSelectionTimeoutMS=5000, connectTimeoutMS=2000, socketTimeoutMS=10_000
        )
        self.clients.append(client)
        return client[self.database][COLLECTION]

    def live_latency(self, origin_ns: int) -> LatencyHistograms | None:
        return None

    def control(self) -> WorkloadControl | None:
        return None

    def run(self, progress: Progress) -> DriverStats:
        driver = self.driver
        if driver is None:
            return DriverStats()
        t0 = time.monotonic()
        check, sample = self._coll(), self._coll()  # a client for each thread beside the load
        loops: list[Callable[[threading.Event], None]] = [
            lambda stop: driver.check_loop(check, stop),
            lambda stop: driver.sample_loop(sample, stop, lambda: time.monotonic() - t0),
        ]
        if self.cfg.retention == "batched_cleanup":
            clean = self._coll()
            loops.append(lambda stop: driver.cleanup_loop(clean, stop))
        return run_beside(lambda: driver.run(progress), loops)

    def stop_background(self) -> None:
        pass

    def final_reads(self) -> int:
        if self.driver is None:
            return 0
        docs = self.driver.first_docs()
        if docs and not self.driver.read_docs(self._coll(), docs, "final_docs"):
            return len(docs)
        return 0

    def summary(self, start_s: float) -> dict[str, Any]:
        if self.driver is None:
            return {"not_run": {KIND: str(self.blocked)}}
        return {"storage": storage_summary(self.driver.counts, self.cfg.retention_ms, self.cfg.retention)}

    def close(self) -> None:
        for c in self.clients:
            c.close()


MONGO_GROWTH = WorkloadKind(
    KIND, MongoGrowthWorkload, frozenset({"doc_insert"}), frozenset({"doc_insert"}), growth_planes
)
