"""Sustained event storage with and without retention: the unbounded-growth case study on MongoDB.

Every event is one document of ``growth_events`` (``_id`` ``<tenant>/<n>``, ``tenant_id``,
``created_at``, a ``payload_bytes`` string), inserted open loop in unordered ``insert_many``
batches. The retention class says each lives ``retention_ms``; how that is enforced is the variant's
``retention``:

* ``none`` — the case study's bug: nothing is ever deleted;
* ``ttl_index`` — the fix's step 1: ``{created_at: 1}`` with ``expireAfterSeconds``, the server's TTL
  monitor deletes (once per ``ttlMonitorSleepSecs``); a server that refuses the index (FerretDB) plays
  nothing and says why;
* ``batched_cleanup`` — the fix's step 2 as a job: every ``cleanup_every_s``, documents older than
  the cutoff are deleted in batches of about ``cleanup_batch`` (a range of ``created_at``, see
  :func:`delete_batch`), again until a batch comes back short, with a pause between batches. The
  guide's ``deleteMany(filter, {limit: 10000})`` does not exist (a delete's ``limit`` is 0 or 1),
  so a batch is bounded by a query.

Ops (process ``mongo-growth``), in the retention checker's vocabulary (``harness.checkers.retention``):
``doc_insert`` per document (``key`` = ``_id``, ``tenant``, ``retention_class`` ``standard``,
``created_ms``) and ``doc_read`` / ``final_docs`` (``find({_id: {$in: keys}})`` on the primary;
``ok`` ``value`` = the keys found). Beside the writes: a **checker** thread reads back up to 50
documents whose insert was acknowledged more than ``retention_ms + grace_ms`` ago, every
``check_every_s``; a **sampler** records ``$collStats`` storage (documents, data, storage and index
bytes) and the oldest document's age once a second: past the retention, that age is how late
deletion runs (the TTL monitor's lag, or the cleanup job's).
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pymongo.collection import Collection
from pymongo.errors import PyMongoError

from harness.clients.mongo_outcomes import bulk_outcomes, describe
from harness.clock import RunClock
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.workload.engine.openloop import DriverStats, Progress, run_schedule
from harness.workload.engine.profile import RateProfile

PROCESS = "mongo-growth"
COLLECTION = "growth_events"
RETENTION_CLASS = "standard"
CHECK_DOCS = 50  # documents per retention read
FINAL_DOCS = 500  # the oldest documents, read back once the run is over
Retention = Literal["none", "ttl_index", "batched_cleanup"]
Coll = Collection[dict[str, Any]]


@dataclass(frozen=True)
class MongoGrowthConfig:
    rate: float
    duration_s: float
    tenants: int
    retention_ms: int
    retention: Retention
    payload_bytes: int = 512
    grace_ms: int = 1000
    check_every_s: float = 0.5
    cleanup_every_s: float = 1.0
    cleanup_batch: int = 1000
    cleanup_pause_s: float = 0.1  # the guide's pause between batches, so deletes do not hog the server
    max_batch: int = 500
    drain_s: float = 5.0
    profile: RateProfile | None = None


@dataclass
class StorageSample:
    t_s: float
    documents: int
    data_bytes: int  # the documents' size as the server counts it (uncompressed on WiredTiger)
    storage_bytes: int  # what they take on disk
    index_bytes: int
    oldest_age_ms: float | None  # the oldest document's age (None: empty)


@dataclass
class GrowthCounts:
    stored: int = 0  # documents acknowledged
    refused: int = 0
    checks: int = 0
    cleanup_deleted: int = 0
    cleanup_batches: int = 0
    cleanup_errors: int = 0
    samples: list[StorageSample] = field(default_factory=list)


def prepare_collection(coll: Coll, retention: Retention, retention_ms: int) -> None:
    """``growth_events`` empty, with a tenant timeline index and the variant's ``created_at`` index
    (a TTL index for ``ttl_index``). Raises the server's refusal (OperationFailure) unchanged."""
    coll.drop()
    coll.create_index([("tenant_id", 1), ("created_at", -1)], name="tenant_timeline")
    if retention == "ttl_index":
        coll.create_index(
            [("created_at", 1)], name="ttl_created_at", expireAfterSeconds=max(1, retention_ms // 1000)
        )
    else:
        coll.create_index([("created_at", 1)], name="created_at")


class MongoGrowthDriver:
    def __init__(
        self,
        coll: Coll,
        recorder: HistoryRecorder,
        clock: RunClock,
        cfg: MongoGrowthConfig,
        variant: str,
        rng: random.Random,
    ) -> None:
        self.coll = coll
        self.rec = recorder
        self.clock = clock
        self.cfg = cfg
        self.variant = variant
        self.rng = rng
        self.stats = DriverStats()
        self.counts = GrowthCounts()
        self.written: deque[tuple[int, str]] = deque()  # (acknowledged at ns, _id), oldest first
        self._lock = threading.Lock()
        self._payload = "x" * cfg.payload_bytes
        self._first: list[str] = []

    def run(self, on_progress: Progress | None = None) -> DriverStats:
        return run_schedule(self.clock, self.cfg, stats=self.stats, send=self._send, on_progress=on_progress)

    def _send(self, first_seq: int, sched: list[int], _backlog: list[Any]) -> None:
        cfg, rec = self.cfg, self.rec
        tenants = [f"t{self.rng.randrange(cfg.tenants):05d}" for _ in sched]
        now_ns = self.clock.now_ns()
        now_ms = self.clock.wall_ms_at(now_ns)
        created = datetime.fromtimestamp(now_ms / 1000, UTC)
        ids = [f"{t}/{first_seq + i}" for i, t in enumerate(tenants)]
        ops = [
            rec.invoke(
                PROCESS,
                "doc_insert",
                time_ns=now_ns,
                key=k,
                tenant=t,
                retention_class=RETENTION_CLASS,
                created_ms=now_ms,
                variant=self.variant,
                sched_ns=s,
            )
            for k, t, s in zip(ids, tenants, sched, strict=True)
        ]
        docs = [
            {"_id": k, "tenant_id": t, "created_at": created, "payload": self._payload}
            for k, t in zip(ids, tenants, strict=True)
        ]
        error: BaseException | None = None
        try:
            self.coll.insert_many(docs, ordered=False)
        except PyMongoError as exc:
            error = exc
        done_ns = self.clock.now_ns()
        outcomes = bulk_outcomes(len(docs), error, dup_index="_id_", dup_key=["_id"])
        for key, op, out in zip(ids, ops, outcomes, strict=True):
            extra = {} if out.error is None else {"error": out.error}
            rec.complete(op, out.outcome, PROCESS, "doc_insert", time_ns=done_ns, **extra)
            self.stats.outcomes[out.outcome.value] += 1
            if out.outcome is OpType.OK:
                self.counts.stored += 1
                self.stats.admitted += 1
                with self._lock:
                    self.written.append((done_ns, key))
                if len(self._first) < FINAL_DOCS:
                    self._first.append(key)
            elif out.outcome is OpType.FAIL:
                self.counts.refused += 1

    # -- beside the writes ------------------------------------------------------------------------
    def check_loop(self, coll: Coll, stop: threading.Event) -> None:
        """Reads back documents past their retention until ``stop``: a sample of what came due since
        the last look, its oldest first."""
        cfg = self.cfg
        while not stop.wait(cfg.check_every_s):
            due_ns = self.clock.now_ns() - (cfg.retention_ms + cfg.grace_ms) * 1_000_000
            keys: list[str] = []
            with self._lock:
                while self.written and self.written[0][0] <= due_ns:
                    _, key = self.written.popleft()
                    if len(keys) < CHECK_DOCS:
                        keys.append(key)
            if keys:
                self.read_docs(coll, keys, "doc_read")

    def read_docs(self, coll: Coll, keys: list[str], f: str) -> bool:
        """One ``find`` by ``_id``, recorded as one op; True when it answered."""
        now_ns = self.clock.now_ns()
        op = self.rec.invoke(
            PROCESS, f, time_ns=now_ns, keys=keys, now_ms=self.clock.wall_ms_at(now_ns), variant=self.variant
        )
        try:
            found = [str(d["_id"]) for d in coll.find({"_id": {"$in": keys}}, {"_id": 1})]
        except PyMongoError as exc:  # a read has no side effect: one that did not answer failed
            self.rec.complete(op, OpType.FAIL, PROCESS, f, time_ns=self.clock.now_ns(), error=describe(exc))
            return False
        self.rec.complete(op, OpType.OK, PROCESS, f, time_ns=self.clock.now_ns(), value=found)
        self.counts.checks += 1
        return True

    def cleanup_loop(self, coll: Coll, stop: threading.Event) -> None:
        """The batched cleanup job (``batched_cleanup`` only) until ``stop``."""
        cfg = self.cfg
        while not stop.wait(cfg.cleanup_every_s):
            now_ms = self.clock.wall_ms_at(self.clock.now_ns())  # the clock created_at came from
            cutoff = datetime.fromtimestamp((now_ms - cfg.retention_ms) / 1000, UTC)
            while not stop.is_set():
                try:
                    deleted, full = delete_batch(coll, cutoff, cfg.cleanup_batch)
                except PyMongoError:
                    self.counts.cleanup_errors += 1  # the next round tries again
                    break
                self.counts.cleanup_deleted += deleted
                self.counts.cleanup_batches += 1 if deleted else 0
                if not full or stop.wait(cfg.cleanup_pause_s):
                    break

    def sample_loop(self, coll: Coll, stop: threading.Event, t0: Callable[[], float]) -> None:
        """Storage as the server reports it, and the oldest document's age, once a second and once
        more when ``stop`` is set (the end of the load)."""
        while True:
            stopped = stop.is_set()
            with contextlib.suppress(PyMongoError):  # a missed sample is a gap
                now_ms = self.clock.wall_ms_at(self.clock.now_ns())
                self.counts.samples.append(sample_storage(coll, round(t0(), 3), now_ms))
            if stopped:
                return
            stop.wait(1.0)

    def first_docs(self) -> list[str]:
        return list(self._first)


def delete_batch(coll: Coll, cutoff: datetime, batch: int) -> tuple[int, bool]:
    """Deletes one batch of documents created before ``cutoff``: the latest ``created_at`` among
    ``batch`` of them bounds a range delete. Through the ``created_at`` index these are the oldest,
    so a batch is about ``batch`` documents (more only when times tie); a server that scans instead
    (FerretDB pushes no range filter down) picks any of them and the batch may be larger, still all
    expired. A range, not ``_id: {$in: ids}``: FerretDB takes a second per 1,000 ids.
    Returns (deleted, whether the batch was full: more may be due)."""
    times = [
        d["created_at"] for d in coll.find({"created_at": {"$lt": cutoff}}, {"created_at": 1}).limit(batch)
    ]
    if not times:
        return 0, False
    deleted = coll.delete_many({"created_at": {"$lte": max(times)}}).deleted_count
    return deleted, len(times) == batch


def sample_storage(coll: Coll, t_s: float, now_ms: float) -> StorageSample:
    """``$collStats`` storage (summed over shards: through mongos one document per shard) and the
    age of the oldest document."""
    docs = list(coll.aggregate([{"$collStats": {"storageStats": {}}}]))
    stats = [d.get("storageStats") or {} for d in docs]
    oldest = coll.find_one({}, {"created_at": 1}, sort=[("created_at", 1)])
    age = None
    if oldest is not None and isinstance(oldest.get("created_at"), datetime):
        created = oldest["created_at"].replace(tzinfo=UTC)
        age = round(max(0.0, now_ms - created.timestamp() * 1000), 1)  # stored to the ms
    return StorageSample(
        t_s,
        documents=sum(int(s.get("count", 0)) for s in stats),
        data_bytes=sum(int(s.get("size", 0)) for s in stats),
        storage_bytes=sum(int(s.get("storageSize", 0)) for s in stats),
        index_bytes=sum(int(s.get("totalIndexSize", 0)) for s in stats),
        oldest_age_ms=age,
    )
