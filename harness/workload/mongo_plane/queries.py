"""The query service: the capstone's five sample queries (Part XIII, "Sample Queries with Performance
Expectations"), each with its read preference and read concern explicit and recorded.

Assumes the capstone's ``events``, ``event_aggregates`` and ``audit_logs`` schemas and indexes
(topologies/collections/platform.yaml). Filters, sort, limit, the dashboard's hint, the event-count
aggregation and the audit query's ``readConcern("majority")`` are the capstone's, unchanged, except
that the hint names the index (its name taken from the collections spec the service is given):
the capstone's key pattern also matches the partial ``audit_events_idx``, and the server refuses
an ambiguous hint (IndexNotFound 27). Each
call takes a read preference (mode name, e.g. ``primary``, ``secondaryPreferred``) and a read
concern level (``local``, ``majority``, ...; ``None`` sends none: the server's default, recorded as
``default``); the audit query always reads ``majority`` (the capstone requires strong consistency).

Ops recorded (process ``query``, or the service's ``process``), one per query, ``f`` = the query's
name (:data:`QUERIES`):
    invoke: ``tenant``, ``read_pref``, ``read_concern``, ``now_ms``, and the query's own
    parameters (``user_id``, ``ip``, ``category``, ``since_ms`` / ``until_ms``).
    completion ``ok`` (the cursor fully iterated inside the op): ``count`` (documents returned),
    ``tenants`` (each returned document's ``tenant_id``, result order, for the tenant-isolation
    checker) and ``ids`` (``event_id`` / ``audit_id``). The event-count query returns groups keyed by
    event type, which carry no tenant: its completion has ``ids`` (the event types) and ``count``,
    no ``tenants`` (no isolation evidence). ``fail`` with ``error``: the query did not return. A
    read has no side effect, so there is no unknown outcome: a timeout is a failed read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import PyMongoError
from pymongo.read_concern import ReadConcern

from harness.clients.mongo_outcomes import describe, read_preference
from harness.clock import RunClock
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.topology.mongo_spec import CollectionsFile, load_collections

PROCESS = "query"
HOUR_MS = 3_600_000
DAY_MS = 86_400_000

#: The capstone's expected latency per query (ms): targets for a scenario to check.
EXPECTED_MS: dict[str, int] = {
    "dashboard": 50,
    "user_timeline": 100,
    "ip_investigation": 500,
    "event_counts": 100,
    "audit_retrieval": 200,
}
QUERIES = tuple(EXPECTED_MS)
#: The dashboard's index, by key; hinted by the name the collections spec gives it.
DASHBOARD_KEY = {"tenant_id": 1, "event_time": -1}


def dashboard_hint(collections: CollectionsFile) -> str:
    """The name of the dashboard's index in ``events`` (ValueError when the spec has none)."""
    return collections.collection("events").full_index_name(DASHBOARD_KEY)


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass
class QueryResult:
    name: str
    outcome: OpType
    docs: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


class QueryService:
    """Runs the five queries against ``db``; ``read_pref`` / ``read_concern`` are the defaults a
    call may override; ``collections`` is the spec the indexes were built from (default: the
    shipped ``platform`` file)."""

    def __init__(
        self,
        db: Database[dict[str, Any]],
        recorder: HistoryRecorder,
        clock: RunClock,
        variant: str,
        *,
        read_pref: str = "primary",
        read_concern: str | None = "local",
        now_ms: Callable[[], int] | None = None,
        collections: CollectionsFile | None = None,
        process: str = PROCESS,
    ) -> None:
        # Resolved now: a spec without the index fails here, not on every dashboard query.
        self.dashboard_hint = dashboard_hint(collections or load_collections("platform"))
        self.db = db
        self.rec = recorder
        self.clock = clock
        self.variant = variant
        self.read_pref = read_pref
        self.read_concern = read_concern
        self.process = process  # another service's queries (the cache's loader) are told apart
        self._now_ms = now_ms or (lambda: clock.wall_ms_at(clock.now_ns()))
        self.sched_ns: int | None = None  # set by an open-loop caller: latency from the schedule

    def _coll(self, name: str, read_pref: str, read_concern: str | None) -> Collection[dict[str, Any]]:
        mode = read_preference(read_pref)  # ValueError on an unknown name, before any op
        return self.db.get_collection(name, read_preference=mode, read_concern=ReadConcern(read_concern))

    # -- the five queries ----------------------------------------------------------------------

    def dashboard(
        self, tenant: str, *, read_pref: str | None = None, read_concern: str | None = ""
    ) -> QueryResult:
        """Query 1: the tenant's events of the last hour, newest first, 100, hinted."""
        now = self._now_ms()
        pref, concern = self._spec(read_pref, read_concern)
        coll = self._coll("events", pref, concern)

        def run() -> list[dict[str, Any]]:
            cursor = (
                coll.find({"tenant_id": tenant, "event_time": {"$gte": _dt(now - HOUR_MS)}})
                .sort({"event_time": -1})
                .limit(100)
                .hint(self.dashboard_hint)
            )
            return list(cursor)

        return self._timed("dashboard", tenant, pref, concern, now, run, "event_id", since_ms=now - HOUR_MS)

    def user_timeline(
        self, tenant: str, user_id: str, *, read_pref: str | None = None, read_concern: str | None = ""
    ) -> QueryResult:
        """Query 2: one user's events of the last 24 hours, newest first, 50."""
        now = self._now_ms()
        pref, concern = self._spec(read_pref, read_concern)
        coll = self._coll("events", pref, concern)

        def run() -> list[dict[str, Any]]:
            flt = {"tenant_id": tenant, "actor.user_id": user_id, "event_time": {"$gte": _dt(now - DAY_MS)}}
            return list(coll.find(flt).sort({"event_time": -1}).limit(50))

        return self._timed(
            "user_timeline",
            tenant,
            pref,
            concern,
            now,
            run,
            "event_id",
            user_id=user_id,
            since_ms=now - DAY_MS,
        )

    def ip_investigation(
        self,
        tenant: str,
        ip: str,
        since_ms: int,
        until_ms: int,
        *,
        read_pref: str | None = None,
        read_concern: str | None = "",
    ) -> QueryResult:
        """Query 3: every event of the tenant from one IP address in ``[since, until)``, newest first."""
        now = self._now_ms()
        pref, concern = self._spec(read_pref, read_concern)
        coll = self._coll("events", pref, concern)

        def run() -> list[dict[str, Any]]:
            flt = {
                "tenant_id": tenant,
                "actor.ip_address": ip,
                "event_time": {"$gte": _dt(since_ms), "$lt": _dt(until_ms)},
            }
            return list(coll.find(flt).sort({"event_time": -1}))

        return self._timed(
            "ip_investigation",
            tenant,
            pref,
            concern,
            now,
            run,
            "event_id",
            ip=ip,
            since_ms=since_ms,
            until_ms=until_ms,
        )

    def event_counts(
        self, tenant: str, *, read_pref: str | None = None, read_concern: str | None = ""
    ) -> QueryResult:
        """Query 4: event counts by type over the last 24 hours of hourly aggregates, top 20."""
        now = self._now_ms()
        pref, concern = self._spec(read_pref, read_concern)
        coll = self._coll("event_aggregates", pref, concern)
        pipeline: list[dict[str, Any]] = [
            {
                "$match": {
                    "tenant_id": tenant,
                    "bucket_type": "hourly",
                    "bucket_time": {"$gte": _dt(now - DAY_MS)},
                }
            },
            {
                "$group": {
                    "_id": "$dimensions.event_type",
                    "total_count": {"$sum": "$metrics.count"},
                    "unique_users": {"$sum": "$metrics.unique_users"},
                }
            },
            {"$sort": {"total_count": -1}},
            {"$limit": 20},
        ]
        return self._timed(
            "event_counts", tenant, pref, concern, now, lambda: list(coll.aggregate(pipeline)), "_id",
            since_ms=now - DAY_MS,
        )  # fmt: skip

    def audit_retrieval(
        self, tenant: str, category: str, since_ms: int, until_ms: int, *, read_pref: str | None = None
    ) -> QueryResult:
        """Query 5: the tenant's audit records of one category in ``[since, until)``, newest
        first, read concern majority."""
        now = self._now_ms()
        pref, _ = self._spec(read_pref, None)
        coll = self._coll("audit_logs", pref, "majority")

        def run() -> list[dict[str, Any]]:
            flt = {
                "tenant_id": tenant,
                "category": category,
                "logged_at": {"$gte": _dt(since_ms), "$lt": _dt(until_ms)},
            }
            return list(coll.find(flt).sort({"logged_at": -1}))

        return self._timed(
            "audit_retrieval",
            tenant,
            pref,
            "majority",
            now,
            run,
            "audit_id",
            category=category,
            since_ms=since_ms,
            until_ms=until_ms,
        )

    # -- recording -----------------------------------------------------------------------------

    def _spec(self, read_pref: str | None, read_concern: str | None) -> tuple[str, str | None]:
        """``read_concern=""`` means the service's default; ``None`` sends none."""
        return (
            read_pref or self.read_pref,
            self.read_concern if read_concern == "" else read_concern,
        )

    def _timed(
        self,
        name: str,
        tenant: str,
        read_pref: str,
        read_concern: str | None,
        now_ms: int,
        run: Callable[[], list[dict[str, Any]]],
        id_field: str,
        **params: Any,
    ) -> QueryResult:
        rec, process = self.rec, self.process
        op = rec.invoke(
            process,
            name,
            tenant=tenant,
            read_pref=read_pref,
            read_concern=read_concern or "default",
            now_ms=now_ms,
            variant=self.variant,
            **({} if self.sched_ns is None else {"sched_ns": self.sched_ns}),
            **params,
        )
        try:
            docs = run()
        except PyMongoError as exc:
            rec.complete(op, OpType.FAIL, process, name, error=describe(exc))
            return QueryResult(name, OpType.FAIL, error=describe(exc))
        fields: dict[str, Any] = {"count": len(docs), "ids": [d.get(id_field) for d in docs]}
        if name != "event_counts":  # groups by event type carry no tenant
            fields["tenants"] = [d.get("tenant_id") for d in docs]
        rec.complete(op, OpType.OK, process, name, **fields)
        return QueryResult(name, OpType.OK, docs)
