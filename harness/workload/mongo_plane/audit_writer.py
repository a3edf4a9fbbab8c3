"""The audit writer: each tenant's audit records appended to ``audit_logs`` as a hash chain.

What it assumes: one writer per tenant (the chain head lives here); ``audit_logs`` has the
platform's unique ``audit_id_unique`` index ``{tenant_id, logged_at, audit_id}`` and the
``$jsonSchema`` validator of ``topologies/collections/platform.yaml``. The hash is
:func:`harness.audit_chain.audit_hash` over the flat record (dates as epoch ms); the stored
document carries the same content with ``logged_at``/``expires_at`` as BSON dates.
:func:`stored_document` and :func:`record_of` are the one conversion between the two.

Each record is one insert with ``w: "majority", j: true``. It is sent as an ordered bulk of one
(the same ``insert`` command ``insert_one`` sends) because ``insert_one`` reports a duplicate key
and hides a write concern error that came with it; the bulk reply keeps both. Outcomes as in
:func:`harness.clients.mongo_outcomes.bulk_outcomes`, with a duplicate on ``audit_id_unique``
meaning "already stored". After an unknown outcome (a shard lost behind mongos is one) the chain
head is uncertain, so before the tenant's next append the writer reads that record back (primary,
majority read concern): found, it is the head; absent, the same record is sent again (a duplicate
means it landed meanwhile), never a different record on the same predecessor, which would fork
the chain. Only a refusal of the record itself (a write error no retry can change) settles that
it was never stored; a resend that is unknown again, or refused for want of a (shard) primary,
settles nothing. A record refused that way on its first send is certainly not stored and is sent
again, the same way, before the tenant's next one. A tenant whose head stays unknown after
``max_resolve`` tries gets no new record (counted as ``skipped``).

Ops recorded (process ``audit``): ``audit_insert`` (invoke: ``tenant``, ``key`` = audit_id,
``value`` = the record as sent, ``attempt``; completion ``value`` ``inserted``/``already-stored``
or ``error``) and ``audit_head`` (invoke: ``tenant``, ``key``, ``now_ms``, ``read_pref``,
``read_concern``; ok ``value`` = the stored record's hash, or null when absent).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bson.datetime_ms import DatetimeMS
from pymongo import MongoClient, ReadPreference
from pymongo.collection import Collection
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from harness.audit_chain import GENESIS, audit_hash
from harness.clients.mongo_outcomes import WriteOutcome, bulk_outcomes, exception_outcome
from harness.clients.mongo_unique import SoleUniqueIndex
from harness.clock import RunClock
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.topology.mongo_spec import DATABASE
from harness.workload.model.generator import Event

PROCESS = "audit"
AUDIT_INDEX = "audit_id_unique"
AUDIT_KEY = ("tenant_id", "logged_at", "audit_id")
AUDIT_WC = WriteConcern(w="majority", j=True)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Flat record field (epoch ms) -> stored document field (BSON date).
_DATES = {"logged_at_ms": "logged_at", "expires_at_ms": "expires_at"}
_MS = {v: k for k, v in _DATES.items()}


def ms_to_datetime(ms: int) -> datetime:
    # timedelta keeps whole milliseconds exact (a float division by 1000 may not)
    return _EPOCH + timedelta(milliseconds=ms)


def datetime_to_ms(value: Any) -> int:
    """Epoch ms of a decoded BSON date (naive datetimes are UTC, as pymongo decodes them)."""
    if isinstance(value, DatetimeMS):
        return int(value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return (aware - _EPOCH) // timedelta(milliseconds=1)
    raise TypeError(f"not a BSON date: {value!r}")


def chain_record(content: Mapping[str, Any], prev_hash: str) -> dict[str, Any]:
    """The flat record as the checker sees it: the content plus ``prev_hash`` and ``hash``."""
    return {**content, "prev_hash": prev_hash, "hash": audit_hash(content, prev_hash)}


def stored_document(record: Mapping[str, Any]) -> dict[str, Any]:
    """The ``audit_logs`` document for a flat record: ms fields become BSON dates."""
    return {_DATES.get(k, k): ms_to_datetime(v) if k in _DATES else v for k, v in record.items()}


def record_of(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The flat record of a stored document (``_id`` dropped): the inverse of :func:`stored_document`."""
    return {_MS.get(k, k): datetime_to_ms(v) if k in _MS else v for k, v in doc.items() if k != "_id"}


@dataclass
class AuditStats:
    appended: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: {"ok": 0, "fail": 0, "info": 0})
    resends: int = 0
    head_reads: int = 0
    skipped: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "appended": self.appended,
            "outcomes": dict(self.outcomes),
            "resends": self.resends,
            "head_reads": self.head_reads,
            "skipped": self.skipped,
        }


class AuditWriter:
    """Appends audit events to their tenant's chain; see the module docstring."""

    def __init__(
        self,
        client: MongoClient[dict[str, Any]],
        recorder: HistoryRecorder,
        clock: RunClock,
        variant: str,
        *,
        audit_ms: int,
        database: str = DATABASE,
        collection: str = "audit_logs",
        max_resolve: int = 3,
        retry_backoff_s: float = 0.05,
        wall_ms: Callable[[], int] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_resolve < 1:
            raise ValueError("max_resolve must be at least 1")
        self.rec = recorder
        self.clock = clock
        self.variant = variant
        self.audit_ms = audit_ms
        self.max_resolve = max_resolve
        self.retry_backoff_s = retry_backoff_s
        self._wall_ms = wall_ms or (lambda: clock.wall_ms_at(clock.now_ns()))
        self._sleep = sleep
        db = client[database]
        self.coll: Collection[dict[str, Any]] = db.get_collection(collection, write_concern=AUDIT_WC)
        # Records are sent without an _id (the driver adds a fresh one): a duplicate names audit_id.
        self._sole_unique = SoleUniqueIndex(self.coll, AUDIT_INDEX)
        self.reader: Collection[dict[str, Any]] = db.get_collection(
            collection, read_preference=ReadPreference.PRIMARY, read_concern=ReadConcern("majority")
        )
        self.heads: dict[str, str] = {}  # tenant -> hash of its last stored record
        self.unresolved: dict[str, dict[str, Any]] = {}  # tenant -> record whose outcome is unknown
        self.tenants: set[str] = set()
        self.stats = AuditStats()

    def append(self, event: Event) -> OpType | None:
        """Appends ``event``'s audit record; its outcome, or None when the tenant's head stayed unknown."""
        tenant = event.tenant
        self.tenants.add(tenant)
        if tenant in self.unresolved and not self._resolve(tenant):
            self.stats.skipped += 1
            return None
        record = chain_record(event.audit_content(self.audit_ms), self.heads.get(tenant, GENESIS))
        res = self._insert(tenant, record, attempt=1)
        self.stats.appended += 1
        if res.outcome is OpType.OK:
            self.heads[tenant] = record["hash"]
        elif res.retryable:  # unknown, or refused but worth sending again: settled before the next
            self.unresolved[tenant] = record
        return res.outcome

    def _insert(self, tenant: str, record: dict[str, Any], attempt: int) -> WriteOutcome:
        op = self.rec.invoke(
            PROCESS,
            "audit_insert",
            variant=self.variant,
            tenant=tenant,
            key=record["audit_id"],
            value=record,
            attempt=attempt,
        )
        error: BaseException | None = None
        try:
            self.coll.insert_many([stored_document(record)], ordered=True)
        except Exception as exc:  # classified below
            error = exc
        res = bulk_outcomes(
            1, error, dup_index=AUDIT_INDEX, dup_key=AUDIT_KEY, unnamed_duplicate=self._sole_unique
        )[0]
        fields: dict[str, Any] = (
            {"value": res.detail} if res.outcome is OpType.OK else {"error": res.error, "detail": res.detail}
        )
        if res.code is not None:
            fields["code"] = res.code
        self.rec.complete(op, res.outcome, PROCESS, "audit_insert", **fields)
        self.stats.outcomes[res.outcome.value] += 1
        return res

    def _read_back(self, tenant: str, record: Mapping[str, Any]) -> tuple[bool, str | None]:
        """(read succeeded, stored hash or None)."""
        self.stats.head_reads += 1
        op = self.rec.invoke(
            PROCESS,
            "audit_head",
            variant=self.variant,
            tenant=tenant,
            key=record["audit_id"],
            now_ms=self._wall_ms(),
            read_pref="primary",
            read_concern="majority",
        )
        try:
            doc = self.reader.find_one(
                {
                    "tenant_id": tenant,
                    "logged_at": ms_to_datetime(record["logged_at_ms"]),
                    "audit_id": record["audit_id"],
                },
                projection={"_id": 0, "hash": 1},
            )
        except Exception as exc:
            res = exception_outcome(exc)
            self.rec.complete(op, res.outcome, PROCESS, "audit_head", error=res.error)
            return False, None
        found = None if doc is None else str(doc.get("hash"))
        self.rec.complete(op, OpType.OK, PROCESS, "audit_head", value=found)
        return True, found

    def _resolve(self, tenant: str) -> bool:
        """Settles the tenant's unknown record; True when the head is known again."""
        record = self.unresolved[tenant]
        for attempt in range(2, self.max_resolve + 2):
            if attempt > 2:
                self._sleep(self.retry_backoff_s)
            read, found = self._read_back(tenant, record)
            if not read:
                continue
            if found is not None:
                self.heads[tenant] = found
                del self.unresolved[tenant]
                return True
            self.stats.resends += 1
            res = self._insert(tenant, record, attempt)
            if res.outcome is OpType.OK:
                self.heads[tenant] = record["hash"]
                del self.unresolved[tenant]
                return True
            if res.detail == "write-error" and not res.retryable:
                # The server examined this very record and refused it (not a duplicate): the
                # earlier attempt cannot have stored it either, so the head is still the predecessor.
                # An unknown or retryable outcome (no primary, stepdown) says nothing of that attempt.
                del self.unresolved[tenant]
                return True
        return False
