"""The platform's MongoDB side, as :class:`harness.workload.platform.PlatformDriver` uses it when
that plane runs.

* :class:`MongoEventWriter` — ingestion: each batch of admitted events goes to ``events`` through
  :class:`MongoIngestor` (``insert_many``, the scenario's write concern, idempotent retries); the
  audit events among them are appended to their tenant's chain in ``audit_logs`` by
  :class:`AuditWriter` (``w: majority, j: true``) on their own thread, so a slow majority write
  delays audit records, not ingestion. The audit queue is bounded and *blocks* when full: the
  ingestion thread then waits, and its latency (measured from the schedule) shows it; nothing is
  dropped.
* :class:`MongoQueryMix` — the query service's five MongoDB queries, one per call, chosen from a
  seeded stream with the capstone's parameters (last hour, last day, the tenant's IP range,
  aggregates of the last day, a category of audit records of the last year).
* :func:`aggregation_job` — the rollup worker as a background job of the driver (bounded by its
  stop event).
"""

from __future__ import annotations

import queue
import random
import threading
from collections.abc import Callable, Sequence
from typing import Any

from pymongo.database import Database
from pymongo.write_concern import WriteConcern

from harness.clock import RunClock
from harness.workload.aggregation import AggregationWorker
from harness.workload.audit_writer import AuditWriter
from harness.workload.generator import Event, tenant_net
from harness.workload.mongo_ingest import MongoIngestor
from harness.workload.queries import QueryService

QUERIES = ("dashboard", "user_timeline", "ip_investigation", "event_counts", "audit_retrieval")
AUDIT_CATEGORIES = ("security", "access", "data_change", "admin")
DAY_MS = 86_400_000


class MongoEventWriter:
    def __init__(
        self,
        ingestor: MongoIngestor,
        audit: AuditWriter | None,
        *,
        audit_queue: int = 1000,
        log: Callable[[str], None] = print,
    ) -> None:
        self.ingestor = ingestor
        self.audit = audit
        self.log = log
        self._q: queue.Queue[Event | None] = queue.Queue(maxsize=audit_queue)
        self._thread: threading.Thread | None = None
        self.audit_waits = 0  # times ingestion waited for room in the audit queue
        self.errors: list[str] = []

    def start(self) -> None:
        if self.audit is not None and self._thread is None:
            self._thread = threading.Thread(target=self._drain, name="audit-writer", daemon=True)
            self._thread.start()

    def write(self, events: Sequence[Event], sched_ns: Sequence[int]) -> None:
        self.ingestor.write(events, sched_ns)
        if self.audit is None:
            return
        for ev in events:
            if ev.is_audit:
                try:
                    self._q.put_nowait(ev)
                except queue.Full:
                    self.audit_waits += 1
                    self._q.put(ev)

    def stop(self, timeout_s: float = 60.0) -> None:
        """Lets the audit thread finish what was queued (bounded), then stops it."""
        if self._thread is None:
            return
        self._q.put(None)
        self._thread.join(timeout=timeout_s)
        if self._thread.is_alive():
            self.errors.append(f"audit writer still busy after {timeout_s:g}s; {self._q.qsize()} queued")
        self._thread = None

    @property
    def tenants(self) -> list[str]:
        return sorted(self.ingestor.written)

    @property
    def audit_tenants(self) -> list[str]:
        return sorted(self.audit.tenants) if self.audit is not None else []

    def _drain(self) -> None:
        assert self.audit is not None
        while True:
            ev = self._q.get()
            if ev is None:
                return
            try:
                self.audit.append(ev)
            except Exception as exc:  # recorded by the writer where it could be; reported here
                self.errors.append(f"audit append: {type(exc).__name__}: {exc}")
                self.log(f"audit writer: {type(exc).__name__}: {exc}")


class MongoQueryMix:
    """One of the five queries per call (see the module doc); every call is recorded by the service."""

    def __init__(
        self, service: QueryService, clock: RunClock, weights: Sequence[float] = (3, 3, 1, 2, 1)
    ) -> None:
        if len(weights) != len(QUERIES) or any(w < 0 for w in weights) or not any(weights):
            raise ValueError(f"weights: one non-negative weight per query {QUERIES}, not all zero")
        self.service = service
        self.clock = clock
        self.weights = list(weights)

    def query(self, tenant: str, user: str, rng: random.Random, sched_ns: int) -> None:
        name = rng.choices(QUERIES, weights=self.weights)[0]
        s = self.service
        s.sched_ns = sched_ns
        now = self.clock.wall_ms_at(self.clock.now_ns())
        if name == "dashboard":
            s.dashboard(tenant)
        elif name == "user_timeline":
            s.user_timeline(tenant, user)
        elif name == "ip_investigation":
            # An address of the tenant's users (the generator's scheme), usual or not.
            s.ip_investigation(tenant, f"{tenant_net(tenant)}.{rng.randrange(256)}", now - DAY_MS, now + 1)
        elif name == "event_counts":
            s.event_counts(tenant)
        else:
            s.audit_retrieval(tenant, rng.choice(AUDIT_CATEGORIES), now - 365 * DAY_MS, now + 1)


#: What a variant writes: emptied before it starts, so it is judged on its own writes only (an
#: audit chain or an event count carried over from the previous variant would read as forged).
VARIANT_COLLECTIONS = ("events", "audit_logs", "event_aggregates", "profiles", "sessions")


def reset_collections(db: Database[dict[str, Any]]) -> dict[str, int]:
    """``deleteMany({})`` with ``w: majority`` on each collection (indexes, validators and
    sharding stay); returns how many documents each held."""
    removed: dict[str, int] = {}
    for name in VARIANT_COLLECTIONS:
        coll = db.get_collection(name, write_concern=WriteConcern(w="majority"))
        removed[name] = coll.delete_many({}).deleted_count
    return removed


def aggregation_job(
    worker: AggregationWorker, tenants: Callable[[], list[str]], interval_s: float
) -> Callable[[threading.Event], None]:
    """The rollups every ``interval_s`` over the tenants written so far, until stopped."""

    def run(stop: threading.Event) -> None:
        worker.run_scheduled(tenants, interval_s=interval_s, stop=stop)

    return run
