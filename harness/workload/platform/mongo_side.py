"""The platform's MongoDB side, as :class:`harness.workload.platform.driver.PlatformDriver` uses it when
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
* :class:`MongoProfiles` — the read-your-writes steps of the MongoDB modes (:mod:`.ryw`):
  one :class:`ProfileSession` per simulated user, kept for the run (bounded), each step a profile
  write then a read of it by that user's session.
* :func:`aggregation_job` — the rollup worker as a background job of the driver (bounded by its
  stop event).
* :func:`mongo_dashboard_loader` — the dashboard cache's origin when this plane runs: the
  capstone's dashboard query, one recorded ``dashboard`` op per load.
"""

from __future__ import annotations

import queue
import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from pymongo import MongoClient

from harness.clock import RunClock
from harness.ops import OpType
from harness.topology import mongo_commands as cmds
from harness.topology.mongo import MongoPlane, create_collections
from harness.workload.model.generator import Event, tenant_net
from harness.workload.mongo_plane.aggregation import AggregationWorker
from harness.workload.mongo_plane.audit_writer import AuditWriter
from harness.workload.mongo_plane.ingest import MongoIngestor
from harness.workload.mongo_plane.queries import QueryService
from harness.workload.platform.ryw import ProfileSession, ProfileStore
from harness.workload.redis_plane.cache import Loader, LoaderError

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


class MongoProfiles:
    """Read-your-writes steps on a user's profile (``profile:<tenant>:<user>``) through a
    :class:`ProfileStore`, for one caller thread. Each user keeps one :class:`ProfileSession`
    (in ``causal`` mode one causally consistent MongoDB session: the step's write and read, and the
    user's later steps, share it). At most ``max_sessions`` are open: the least recently used is
    closed, and that user's next step opens a new session under a new name (``<tenant>/<user>#2``),
    since a causal guarantee holds within one session only. :meth:`close` ends them all."""

    def __init__(self, store: ProfileStore, *, max_sessions: int = 10_000) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self.store = store
        self.max_sessions = max_sessions
        self._open: OrderedDict[tuple[str, str], ProfileSession] = OrderedDict()
        self._opened: dict[tuple[str, str], int] = {}  # sessions each user has had
        self.sessions_opened = 0

    def session(self, tenant: str, user: str) -> ProfileSession:
        who = (tenant, user)
        s = self._open.get(who)
        if s is not None:
            self._open.move_to_end(who)
            return s
        if len(self._open) >= self.max_sessions:
            _, oldest = self._open.popitem(last=False)
            oldest.close()
        n = self._opened[who] = self._opened.get(who, 0) + 1
        s = self._open[who] = self.store.session(f"{tenant}/{user}" + (f"#{n}" if n > 1 else ""))
        self.sessions_opened += 1
        return s

    def step(self, tenant: str, user: str, sched_ns: int) -> bool:
        """A write then a read of the same profile by the user's session; True when the write was
        acknowledged (the read's outcome is in the history either way, as the Redis path's)."""
        key = f"profile:{tenant}:{user}"
        s = self.session(tenant, user)
        self.store.sched_ns = sched_ns
        if s.write(tenant, key) is None:
            return False
        s.read(tenant, key)
        return True

    def close(self) -> None:
        while self._open:
            _, s = self._open.popitem(last=False)
            s.close()


#: What a variant writes: emptied before it starts, so it is judged on its own writes only (an
#: audit chain or an event count carried over from the previous variant would read as forged).
VARIANT_COLLECTIONS = ("events", "audit_logs", "event_aggregates", "profiles", "sessions")


def reset_collections(
    client: MongoClient[dict[str, Any]], plane: MongoPlane, *, tenants: int | None = None
) -> None:
    """Drops every collection a variant writes, then creates the deployment's collections again
    as bring-up does (validators, indexes, sharding, initial chunks spread for ``tenants``).
    ``client`` is a DDL client (:func:`harness.topology.mongo.ddl_client`). Dropping is one
    command per collection; ``deleteMany({})`` with ``w: majority`` deleted and replicated every
    document one by one and outlived a 10 s socket timeout on a busy machine."""
    database = plane.spec.load_collections().database
    for name in VARIANT_COLLECTIONS:
        cmds.drop_collection(client, database, name)
    create_collections(client, plane, sharded=plane.sharded, tenants=tenants)


def aggregation_job(
    worker: AggregationWorker, tenants: Callable[[], list[str]], interval_s: float
) -> Callable[[threading.Event], None]:
    """The rollups every ``interval_s`` over the tenants written so far, until stopped."""

    def run(stop: threading.Event) -> None:
        worker.run_scheduled(tenants, interval_s=interval_s, stop=stop)

    return run


def mongo_dashboard_loader(service: QueryService) -> Loader:
    """The dashboard the cache holds when the MongoDB plane runs: the capstone's dashboard query
    (the tenant's events of the last hour, newest first, 100), each load recorded by ``service`` as
    its ``dashboard`` op, so the origin's queries are in the history as well as in the cache's
    stats. Readers and the refresher may load at once (that is the stampede), so ``service`` should
    sit on a client of its own: pymongo's pool serves concurrent callers. The cached value keeps
    each event's id and type (JSON, small), and ``tenants``, each event's ``tenant_id``: what
    :func:`dashboard_tenants` reports to tenant-isolation for every read the value serves."""

    def load(tenant: str) -> dict[str, Any]:
        res = service.dashboard(tenant)
        if res.outcome is not OpType.OK:
            raise LoaderError(f"dashboard of {tenant}: {res.error}")
        return {
            "tenant": tenant,
            "count": len(res.docs),
            "events": [[d.get("event_id"), d.get("event_type")] for d in res.docs],
            "tenants": [d.get("tenant_id") for d in res.docs],
        }

    return load


def dashboard_tenants(value: Any) -> list[str] | None:
    """The tenants a cached MongoDB dashboard holds data of: its own, then each event's."""
    if not isinstance(value, dict) or not isinstance(value.get("tenant"), str):
        return None
    return [value["tenant"], *value.get("tenants", [])]
