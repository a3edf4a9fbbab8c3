"""The MongoDB plane's reads after healing: what each tenant holds, as the checkers need it.

What it assumes: the faults are healed and writes have stopped. Every read goes to the primary
with majority read concern (only majority-committed data counts as "survived"), and pages the
whole cursor inside its op, so an op's completion is the complete answer or none. Reads are
idempotent: one that did not complete ``ok`` is tried again, up to ``rounds`` times, each try its
own op (the checkers use the latest usable one).

Ops recorded (process ``final``):

* ``final_events`` — invoke ``tenant``, ``now_ms``; ok ``value`` = ``{"event_ids": [...],
  "windows": [...]}``, one entry per stored document, ``windows`` the minute bucket of each
  document's ``event_time`` (:mod:`harness.checkers.final_events`).
* ``final_audit`` — invoke ``tenant``, ``now_ms``; ok ``value`` = the tenant's records, flat
  (:func:`harness.workload.audit_writer.record_of`), sorted by ``logged_at``.
* ``final_docs`` — invoke ``tenant``, ``keys`` (``events/<tenant>/<event_id>``, at most ``chunk``
  per op), ``now_ms``, ``read_pref`` ``primary``; ok ``value`` = the keys found
  (:mod:`harness.checkers.retention`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pymongo import ASCENDING, MongoClient, ReadPreference
from pymongo.collection import Collection
from pymongo.read_concern import ReadConcern

from harness.clients.mongo_outcomes import exception_outcome
from harness.clock import RunClock
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.workload.audit_writer import datetime_to_ms, record_of
from harness.workload.keys import minute_bucket
from harness.workload.mongo_ingest import DATABASE, doc_key

PROCESS = "final"


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

    def _read(self, f: str, fields: Mapping[str, Any], run: Callable[[], Any]) -> bool:
        """One logical read, tried up to ``rounds`` times; True when one try completed ok."""
        for attempt in range(1, self.rounds + 1):
            if attempt > 1:
                self._sleep(self.pause_s)
            op = self.rec.invoke(
                PROCESS, f, variant=self.variant, now_ms=self._wall_ms(), attempt=attempt, **fields
            )
            try:
                value = run()
            except Exception as exc:  # recorded; the read is tried again
                res = exception_outcome(exc)
                self.rec.complete(op, res.outcome, PROCESS, f, error=res.error)
                continue
            self.rec.complete(op, OpType.OK, PROCESS, f, value=value)
            return True
        return False

    def final_events(self, tenants: Iterable[str]) -> list[str]:
        """Reads every tenant's stored events; returns the tenants never read."""
        unread: list[str] = []
        for tenant in sorted(set(tenants)):

            def run(t: str = tenant) -> dict[str, list[Any]]:
                ids: list[str] = []
                windows: list[str] = []
                cursor = self.events.find(
                    {"tenant_id": t},
                    projection={"_id": 0, "event_id": 1, "event_time": 1},
                    sort=[("event_time", ASCENDING)],
                    batch_size=self.batch_size,
                )
                for doc in cursor:  # paged to the end inside the op
                    ids.append(str(doc.get("event_id")))
                    windows.append(minute_bucket(datetime_to_ms(doc["event_time"])))
                return {"event_ids": ids, "windows": windows}

            if not self._read("final_events", {"tenant": tenant}, run):
                unread.append(tenant)
        return unread

    def final_audit(self, tenants: Iterable[str]) -> list[str]:
        """Reads every tenant's audit log; returns the tenants never read."""
        unread: list[str] = []
        for tenant in sorted(set(tenants)):

            def run(t: str = tenant) -> list[dict[str, Any]]:
                cursor = self.audit.find(
                    {"tenant_id": t},
                    sort=[("logged_at", ASCENDING), ("_id", ASCENDING)],
                    batch_size=self.batch_size,
                )
                return [record_of(doc) for doc in cursor]

            if not self._read("final_audit", {"tenant": tenant}, run):
                unread.append(tenant)
        return unread

    def final_docs(self, written: Mapping[str, Sequence[str]], chunk: int = 1000) -> int:
        """Looks up the given event ids per tenant (``$in``, ``chunk`` per op); returns how many
        lookups never completed ok."""
        missed = 0
        for tenant in sorted(written):
            ids = list(written[tenant])
            for start in range(0, len(ids), chunk):
                part = ids[start : start + chunk]

                def run(t: str = tenant, part: list[str] = part) -> list[str]:
                    cursor = self.events.find(
                        {"tenant_id": t, "event_id": {"$in": part}},
                        projection={"_id": 0, "event_id": 1},
                        batch_size=self.batch_size,
                    )
                    return [doc_key(t, str(doc["event_id"])) for doc in cursor]

                fields = {
                    "tenant": tenant,
                    "keys": [doc_key(tenant, i) for i in part],
                    "read_pref": "primary",
                }
                missed += not self._read("final_docs", fields, run)
        return missed
