"""The aggregation worker: the capstone's hourly rollups of ``events`` into ``event_aggregates``, and
a daily rollup built from the hourly buckets, run on a bounded schedule during a workload.

The pipelines, the upsert filter and the schemas they assume are in
:mod:`harness.workload.mongo_plane.aggregation_pipelines` (re-exported here).

Ops recorded (process ``aggregator``):

``aggregate`` — one pipeline run for one tenant and bucket (a read of ``events``, or of the hourly
    buckets for a daily run). invoke: ``tenant``, ``bucket_type``, ``bucket_ms`` (epoch ms of the
    bucket start), ``now_ms``; completion ``ok``: ``value`` = number of groups (documents to
    upsert), recorded when the cursor is exhausted, before the upserts. A pipeline that did not
    return is ``fail`` (a read has no side effect). On a server that refuses the pipelines'
    accumulators (``portable``) the same documents are grouped here from one scan per bucket for
    every tenant, and each tenant's op (invoke ``pipeline: portable``) spans that scan.
``aggregate_upsert`` — one ``updateOne(..., upsert: true)``. invoke: ``key`` (the bucket document's
    identity, ``event_aggregates/<tenant>/<bucket_type>/<bucket_ms>/<event_type>/<environment>``),
    ``tenant``, ``bucket_ms``, ``count`` (``metrics.count`` written), ``wc``; completion ``ok``:
    ``value`` = ``"inserted"`` or ``"updated"``. Write outcomes as :mod:`harness.clients.mongo_outcomes`;
    an unacknowledged upsert (a ``w: 0`` ``wc``) is ``info``.
``doc_insert`` — for the retention checker, when an upsert *created* the document (its reply carried
    ``upserted``), or may have (an upsert of unknown outcome for a bucket this worker has never seen
    created): ``key`` as above, ``tenant``, ``retention_class`` ``aggregates``, ``created_ms`` =
    ``bucket_ms`` (the TTL-indexed field), ``collection``; recorded right after the upsert with the
    upsert's own invoke and completion times and outcome.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import PyMongoError
from pymongo.write_concern import WriteConcern

from harness.clients.mongo_outcomes import describe, write_outcome
from harness.clock import RunClock
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.workload.mongo_plane import aggregation_portable as scanned
from harness.workload.mongo_plane.aggregation_pipelines import (
    DAY_MS,
    HOUR_MS,
    bucket_key,
    daily_pipeline,
    hourly_pipeline,
    to_dt,
    upsert_filter,
)

__all__ = [
    "DAY_MS",
    "HOUR_MS",
    "PROCESS",
    "AggregateRun",
    "AggregationWorker",
    "bucket_key",
    "daily_pipeline",
    "hourly_pipeline",
    "upsert_filter",
]

PROCESS = "aggregator"


@dataclass
class AggregateRun:
    tenant: str
    bucket_type: str
    bucket_ms: int
    outcome: OpType
    groups: int = 0
    upserted: int = 0
    upsert_outcomes: dict[str, int] | None = None


class AggregationWorker:
    """Runs rollups against ``db`` and records every step; ``wc`` is the upserts' write concern."""

    def __init__(
        self,
        db: Database[dict[str, Any]],
        recorder: HistoryRecorder,
        clock: RunClock,
        variant: str,
        *,
        wc: WriteConcern | None = None,
        now_ms: Callable[[], int] | None = None,
        portable: bool = False,
    ) -> None:
        self.rec = recorder
        # The server refuses the pipelines' accumulators (FerretDB): the same documents are computed
        # from one scan per bucket for every tenant (:mod:`.aggregation_portable`).
        self.portable = portable
        self.clock = clock
        self.variant = variant
        self.wc = wc or WriteConcern(w="majority")
        self.events: Collection[dict[str, Any]] = db.get_collection("events")
        self.aggregates: Collection[dict[str, Any]] = db.get_collection(
            "event_aggregates", write_concern=self.wc
        )
        self._now_ms = now_ms or (lambda: clock.wall_ms_at(clock.now_ns()))
        self._created: set[str] = set()  # bucket documents known to exist (an upsert created them)
        self.runs = 0

    def hourly(self, tenant: str, bucket_ms: int) -> AggregateRun:
        bucket_ms -= bucket_ms % HOUR_MS
        now = self._now_ms()
        pipeline = hourly_pipeline(tenant, to_dt(bucket_ms), to_dt(now))
        return self._run(self.events, pipeline, tenant, "hourly", bucket_ms, now)

    def daily(self, tenant: str, day_ms: int) -> AggregateRun:
        day_ms -= day_ms % DAY_MS
        now = self._now_ms()
        pipeline = daily_pipeline(tenant, to_dt(day_ms), to_dt(now))
        return self._run(self.aggregates, pipeline, tenant, "daily", day_ms, now)

    def run_once(
        self, tenants: Iterable[str], now_ms: int | None = None, stop: threading.Event | None = None
    ) -> list[AggregateRun]:
        """One pass: per tenant, the previous and the current hour (late events land in the
        previous one), then the current day from the hourly buckets. A set ``stop`` ends the pass
        at the next step (a pass over thousands of tenants must not outlive its workload)."""
        stopped = stop.is_set if stop is not None else lambda: False
        now = self._now_ms() if now_ms is None else now_ms
        hour = now - now % HOUR_MS
        self.runs += 1
        if self.portable:
            return self._run_portable(sorted(set(tenants)), hour, now, stopped)
        out: list[AggregateRun] = []
        for tenant in tenants:
            if stopped():
                break
            out.append(self.hourly(tenant, hour - HOUR_MS))
            out.append(self.hourly(tenant, hour))
            out.append(self.daily(tenant, now))
        return out

    def run_scheduled(
        self,
        tenants: Callable[[], Iterable[str]],
        *,
        interval_s: float,
        stop: threading.Event,
        max_runs: int | None = None,
    ) -> int:
        """Passes every ``interval_s`` (the capstone runs its job every 5 minutes; scenarios
        scale it down) until ``stop`` is set or ``max_runs`` passes ran. ``tenants`` is asked
        each pass (the workload's tenants so far). Returns the number of passes."""
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        done = 0
        while not stop.is_set() and (max_runs is None or done < max_runs):
            self.run_once(list(tenants()), stop=stop)
            done += 1
            if stop.wait(interval_s):
                break
        return done

    # -- one run -------------------------------------------------------------------------------

    def _run_portable(
        self, tenants: list[str], hour: int, now: int, stopped: Callable[[], bool]
    ) -> list[AggregateRun]:
        """:meth:`run_once` without server-side grouping: per bucket, one scan for all tenants."""
        out: list[AggregateRun] = []
        for bucket in (hour - HOUR_MS, hour):
            if not tenants or stopped():
                return out
            scan = {
                "tenant_id": {"$in": tenants},
                "event_time": {"$gte": to_dt(bucket), "$lt": to_dt(bucket + HOUR_MS)},
            }

            def hourly(b: int = bucket, flt: dict[str, Any] = scan) -> dict[str, list[dict[str, Any]]]:
                return scanned.hourly_docs(self.events.find(flt, scanned.EVENT_FIELDS), to_dt(b), to_dt(now))

            out += self._run_scanned(tenants, "hourly", bucket, now, hourly, stopped)
        if stopped():
            return out
        day = now - now % DAY_MS
        scan = {
            "tenant_id": {"$in": tenants},
            "bucket_type": "hourly",
            "bucket_time": {"$gte": to_dt(day), "$lt": to_dt(day + DAY_MS)},
        }

        def daily() -> dict[str, list[dict[str, Any]]]:
            found = self.aggregates.find(scan, scanned.HOURLY_FIELDS)
            return scanned.daily_docs(found, to_dt(day), to_dt(now))

        return out + self._run_scanned(tenants, "daily", day, now, daily, stopped)

    def _run_scanned(
        self,
        tenants: list[str],
        bucket_type: str,
        bucket_ms: int,
        now_ms: int,
        compute: Callable[[], dict[str, list[dict[str, Any]]]],
        stopped: Callable[[], bool],
    ) -> list[AggregateRun]:
        """Each tenant's ``aggregate`` op invoked before the one scan that answers them all and
        completed after it (``pipeline: portable``), then the tenant's upserts."""
        fields = [
            {"tenant": t, "bucket_type": bucket_type, "bucket_ms": bucket_ms, "now_ms": now_ms,
             "variant": self.variant, "pipeline": "portable"}
            for t in tenants
        ]  # fmt: skip
        ops = self.rec.invoke_batch(PROCESS, "aggregate", fields)
        try:
            docs = compute()  # the cursor is exhausted inside
        except PyMongoError as exc:
            self.rec.complete_batch(
                ops, OpType.FAIL, PROCESS, "aggregate", [{"error": describe(exc)}] * len(ops)
            )
            return [AggregateRun(t, bucket_type, bucket_ms, OpType.FAIL) for t in tenants]
        self.rec.complete_batch(
            ops, OpType.OK, PROCESS, "aggregate", [{"value": len(docs.get(t, []))} for t in tenants]
        )
        out: list[AggregateRun] = []
        for t in tenants:
            if stopped():  # the groups of the tenants not reached are not written this pass
                break
            out.append(self._upsert_all(docs.get(t, []), t, bucket_type, bucket_ms))
        return out

    def _upsert_all(
        self, results: list[dict[str, Any]], tenant: str, bucket_type: str, bucket_ms: int
    ) -> AggregateRun:
        outcomes = {"ok": 0, "fail": 0, "info": 0}
        upserted = 0
        for doc in results:
            outcome, inserted = self._upsert(doc, tenant, bucket_ms)
            outcomes[outcome.value] += 1
            upserted += inserted
        return AggregateRun(tenant, bucket_type, bucket_ms, OpType.OK, len(results), upserted, outcomes)

    def _run(
        self,
        source: Collection[dict[str, Any]],
        pipeline: list[dict[str, Any]],
        tenant: str,
        bucket_type: str,
        bucket_ms: int,
        now_ms: int,
    ) -> AggregateRun:
        rec = self.rec
        op = rec.invoke(
            PROCESS,
            "aggregate",
            tenant=tenant,
            bucket_type=bucket_type,
            bucket_ms=bucket_ms,
            now_ms=now_ms,
            variant=self.variant,
        )
        try:
            results = list(source.aggregate(pipeline))  # fully iterated inside the op
        except PyMongoError as exc:
            rec.complete(op, OpType.FAIL, PROCESS, "aggregate", error=describe(exc))
            return AggregateRun(tenant, bucket_type, bucket_ms, OpType.FAIL)
        # Completed before the upserts start, so the history stays in completion order.
        rec.complete(op, OpType.OK, PROCESS, "aggregate", value=len(results))
        return self._upsert_all(results, tenant, bucket_type, bucket_ms)

    def _upsert(self, doc: dict[str, Any], tenant: str, bucket_ms: int) -> tuple[OpType, int]:
        rec = self.rec
        dims = doc.get("dimensions", {})
        key = bucket_key(
            tenant, doc["bucket_type"], bucket_ms, dims.get("event_type"), dims.get("environment")
        )
        count = doc.get("metrics", {}).get("count")
        start = self.clock.now_ns()
        op = rec.invoke(
            PROCESS,
            "aggregate_upsert",
            time_ns=start,
            key=key,
            tenant=tenant,
            bucket_ms=bucket_ms,
            count=count,
            wc=self.wc.document,
            variant=self.variant,
        )
        created: bool | None = False
        error: str | None = None
        try:
            res = self.aggregates.update_one(upsert_filter(doc), {"$set": doc}, upsert=True)
        except PyMongoError as exc:
            outcome, error = write_outcome(exc), describe(exc)
        else:
            if res.acknowledged:
                outcome, created = OpType.OK, res.upserted_id is not None
            else:  # w: 0: no reply came, so nothing is known (never ok)
                outcome, error = OpType.INFO, "unacknowledged write (w: 0)"
        done = self.clock.now_ns()
        if error is None:
            value = "inserted" if created else "updated"
            rec.complete(op, outcome, PROCESS, "aggregate_upsert", time_ns=done, value=value)
        else:
            rec.complete(op, outcome, PROCESS, "aggregate_upsert", time_ns=done, error=error)
            created = None if outcome == OpType.INFO and key not in self._created else False
        if created is not False:  # created, or maybe created (unknown outcome)
            self._record_insert(key, tenant, bucket_ms, start, done, outcome)
            if created:
                self._created.add(key)
        return outcome, int(bool(created))

    def _record_insert(
        self, key: str, tenant: str, bucket_ms: int, start: int, done: int, outcome: OpType
    ) -> None:
        ins = self.rec.invoke(
            PROCESS,
            "doc_insert",
            time_ns=start,
            key=key,
            tenant=tenant,
            collection="event_aggregates",
            retention_class="aggregates",
            created_ms=bucket_ms,
            variant=self.variant,
        )
        self.rec.complete(ins, outcome, PROCESS, "doc_insert", time_ns=done)
