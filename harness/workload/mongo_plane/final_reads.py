"""The MongoDB plane's reads after healing: what each tenant holds, as the checkers need it.

What it assumes: the faults are healed and writes have stopped. Every read goes to the primary
with majority read concern (only majority-committed data counts as "survived"), and pages the
whole cursor inside its op, so an op's completion is the complete answer or none. Reads are
idempotent: one that did not complete ``ok`` is tried again, up to ``rounds`` times, each try its
own op (the checkers use the latest usable one).

One scan serves many ops: the events of every tenant asked for come back in one cursor
(``tenant_id: {$in: ...}``), and each tenant's ``final_events`` op (and each ``final_docs`` lookup)
is invoked before the scan starts and completed after it ends, so its window holds the read that
answered it. Per-tenant queries cost a round trip each on mongod and a whole-collection scan each
on FerretDB (its SQLite backend pushes no filter down): 2,000 tenants took 40 minutes there.

Ops recorded (process ``final``):

* ``final_events`` — invoke ``tenant``, ``now_ms``; ok ``value`` = ``{"event_ids": [...],
  "windows": [...]}``, one entry per stored document in ``event_time`` order, ``windows`` the
  minute bucket of each document's ``event_time`` (:mod:`harness.checkers.final_events`).
* ``final_audit`` — invoke ``tenant``, ``now_ms``; ok ``value`` = the tenant's records, flat
  (:func:`harness.workload.mongo_plane.audit_writer.record_of`), sorted by ``logged_at`` then ``_id``.
* ``final_docs`` — invoke ``tenant``, ``keys`` (``events/<tenant>/<event_id>``, at most ``chunk``
  per op), ``now_ms``, ``read_pref`` ``primary``; ok ``value`` = the keys found
  (:mod:`harness.checkers.retention`).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import MongoClient, ReadPreference
from pymongo.collection import Collection
from pymongo.read_concern import ReadConcern

from harness.clients.mongo_outcomes import exception_outcome
from harness.clock import RunClock
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.topology.mongo_spec import DATABASE
from harness.workload.model.keys import minute_bucket
from harness.workload.mongo_plane.audit_writer import datetime_to_ms, record_of
from harness.workload.mongo_plane.ingest import doc_key

PROCESS = "final"
#: Reads the stored documents of the given tenants, by tenant.
Scan = Callable[[list[str]], Mapping[str, list[Any]]]


class FinalReader:
    """Runs the final reads over one client; see the module docstring."""

    def __init__(
        self,
        client: MongoClient[dict[str, Any]],
        recorder: HistoryRecorder,
        clock: RunClock,
        variant: str,
        *,
        database: str = DATABASE,
        rounds: int = 3,
        pause_s: float = 0.5,
        batch_size: int = 1000,
        wall_ms: Callable[[], int] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rounds < 1 or batch_size < 1:
            raise ValueError("rounds and batch_size must be at least 1")
        self.rec = recorder
        self.variant = variant
        self.rounds = rounds
        self.pause_s = pause_s
        self.batch_size = batch_size
        self._wall_ms = wall_ms or (lambda: clock.wall_ms_at(clock.now_ns()))
        self._sleep = sleep
        db = client[database]
        opts: dict[str, Any] = {
            "read_preference": ReadPreference.PRIMARY,
            "read_concern": ReadConcern("majority"),
        }
        self.events: Collection[dict[str, Any]] = db.get_collection("events", **opts)
        self.audit: Collection[dict[str, Any]] = db.get_collection("audit_logs", **opts)

    def _unread(self, reads: list[_Read], scan: Scan) -> list[_Read]:
        """Answers ``reads`` from scans of their tenants, each round's reads invoked before its scan
        and completed after it; the reads of a scan that failed are tried again next round.
        Returns the reads never answered ok."""
        pending = reads
        for attempt in range(1, self.rounds + 1):
            if not pending:
                break
            if attempt > 1:
                self._sleep(self.pause_s)
            now_ms = self._wall_ms()
            common: dict[str, Any] = {"variant": self.variant, "now_ms": now_ms, "attempt": attempt}
            ids = [self.rec.invoke(PROCESS, r.f, **common, **r.fields) for r in pending]
            try:
                by_tenant = scan(sorted({r.tenant for r in pending}))
            except Exception as exc:  # recorded on every read it was to answer; tried again
                res = exception_outcome(exc)
                for op, r in zip(ids, pending, strict=True):
                    self.rec.complete(op, res.outcome, PROCESS, r.f, error=res.error)
                continue
            for op, r in zip(ids, pending, strict=True):
                self.rec.complete(op, OpType.OK, PROCESS, r.f, value=r.answer(by_tenant.get(r.tenant, [])))
            pending = []
        return pending

    def _event_scan(self, tenants: list[str]) -> dict[str, list[tuple[str, int]]]:
        """Every stored event of ``tenants`` as ``(event_id, event_time_ms)``, per tenant in
        ``event_time`` order (sorted here: one cursor, paged to the end)."""
        out: dict[str, list[tuple[str, int]]] = defaultdict(list)
        cursor = self.events.find(
            {"tenant_id": {"$in": tenants}},
            projection={"_id": 0, "tenant_id": 1, "event_id": 1, "event_time": 1},
            batch_size=self.batch_size,
        )
        for doc in cursor:
            stored = (str(doc.get("event_id")), datetime_to_ms(doc["event_time"]))
            out[str(doc.get("tenant_id"))].append(stored)
        for events in out.values():
            events.sort(key=lambda e: e[1])
        return out

    def _audit_scan(self, tenants: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Every stored audit record of ``tenants``, per tenant sorted by ``logged_at`` then ``_id``."""
        docs: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for doc in self.audit.find({"tenant_id": {"$in": tenants}}, batch_size=self.batch_size):
            docs[str(doc.get("tenant_id"))].append(doc)
        return {t: [record_of(d) for d in sorted(ds, key=_audit_order)] for t, ds in docs.items()}

    def final_events(self, tenants: Iterable[str]) -> list[str]:
        """Reads every tenant's stored events; returns the tenants never read."""
        return [r.tenant for r in self._unread(self._events_reads(tenants), self._event_scan)]

    def final_audit(self, tenants: Iterable[str]) -> list[str]:
        """Reads every tenant's audit log; returns the tenants never read."""
        reads = [_Read("final_audit", t, {"tenant": t}, list) for t in sorted(set(tenants))]
        return [r.tenant for r in self._unread(reads, self._audit_scan)]

    def final_docs(self, written: Mapping[str, Sequence[str]], chunk: int = 1000) -> int:
        """Looks up the given event ids per tenant (``chunk`` per op); returns how many lookups
        never completed ok."""
        return len(self._unread(self._docs_reads(written, chunk), self._event_scan))

    def final_events_and_docs(
        self, tenants: Iterable[str], written: Mapping[str, Sequence[str]], chunk: int = 1000
    ) -> tuple[list[str], int]:
        """:meth:`final_events` and :meth:`final_docs` answered by the same scans."""
        events = self._events_reads(tenants)
        unread = self._unread(events + self._docs_reads(written, chunk), self._event_scan)
        return [r.tenant for r in unread if r.f == "final_events"], sum(r.f == "final_docs" for r in unread)

    @staticmethod
    def _events_reads(tenants: Iterable[str]) -> list[_Read]:
        def answer(events: list[tuple[str, int]]) -> dict[str, list[str]]:
            return {"event_ids": [e for e, _ in events], "windows": [minute_bucket(ms) for _, ms in events]}

        return [_Read("final_events", t, {"tenant": t}, answer) for t in sorted(set(tenants))]

    @staticmethod
    def _docs_reads(written: Mapping[str, Sequence[str]], chunk: int) -> list[_Read]:
        reads: list[_Read] = []
        for tenant in sorted(written):
            ids = list(written[tenant])
            for start in range(0, len(ids), chunk):
                part = ids[start : start + chunk]

                keys = [doc_key(tenant, i) for i in part]

                def answer(
                    events: list[tuple[str, int]], t: str = tenant, part: list[str] = part
                ) -> list[str]:
                    stored = {e for e, _ in events}
                    return [doc_key(t, i) for i in part if i in stored]

                reads.append(
                    _Read(
                        "final_docs", tenant, {"tenant": tenant, "keys": keys, "read_pref": "primary"}, answer
                    )
                )
        return reads


@dataclass(frozen=True)
class _Read:
    """One read op: its name, the tenant whose scan answers it, its invoke fields, and how its
    value is made from that tenant's scanned documents."""

    f: str
    tenant: str
    fields: dict[str, Any]
    answer: Callable[[list[Any]], Any]


def _audit_order(doc: Mapping[str, Any]) -> tuple[Any, str]:
    return (doc.get("logged_at"), str(doc.get("_id")))
