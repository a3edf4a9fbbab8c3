"""The MongoDB side of ingestion: batches of events into ``events`` with unordered ``insert_many``.

What it assumes: the ``events`` collection has the platform's unique ``idempotency`` index
(``topologies/collections/platform.yaml``: ``{tenant_id, event_time, event_id}``), so sending an
event again is harmless: a duplicate-key error on that index means an earlier attempt stored it.
Documents are built fresh for every attempt (pymongo adds an ``_id`` to each), so no other unique
index can collide with an earlier attempt.

Outcomes per event (:func:`harness.clients.mongo_outcomes.bulk_outcomes`): inserted → ``ok``;
duplicate on the idempotency index → ``ok`` ``already-stored``; a write error that may have been
applied (mongos lost the shard mid-write, a time limit, the ``RetryableWriteError`` label) →
``info``; another write error → ``fail`` with the server's code and message; a
``writeConcernError`` → ``info`` for the events written; a network error, timeout or not-primary
error for the command → ``info`` for the whole batch; errors raised before sending → ``fail``; an
unacknowledged insert (``w: 0``, which scenarios refuse) → ``info``, never ``ok``, and not resent.
Events whose outcome is unknown (or that a stepdown, a shard without a primary or a
server-selection timeout refused) are sent again, up to ``max_attempts`` in all, each attempt
its own op. (With retryable writes on, pymongo itself re-sends a command once after a network
error, under the same transaction number, inside one attempt: the server applies it once.)

Ops recorded (process ``ingest-mongo``), per event and attempt:

* ``insert`` — invoke: ``tenant``, ``event_id``, ``wc`` (``{"w": ..., "j": ..., "wtimeout": ...}``),
  ``window`` (the event's minute bucket, as the Redis counters use), ``attempt``, ``key``;
  completion: ``value`` = ``inserted`` / ``already-stored`` or ``error`` (+ ``code``).
* ``doc_insert`` (when ``record_docs``) — the same write as the retention checker sees it:
  ``key`` ``events/<tenant>/<event_id>``, ``tenant``, ``retention_class``, ``created_ms``,
  ``expires_at_ms``; same outcome.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.write_concern import WriteConcern

from harness.clients.mongo_outcomes import WriteOutcome, bulk_outcomes
from harness.clients.mongo_unique import SoleUniqueIndex
from harness.clock import RunClock
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.topology.mongo_spec import DATABASE
from harness.workload.model.generator import Event
from harness.workload.model.keys import minute_bucket

PROCESS = "ingest-mongo"
IDEMPOTENCY_INDEX = "idempotency"
IDEMPOTENCY_KEY = ("tenant_id", "event_time", "event_id")


def doc_key(tenant: str, event_id: str) -> str:
    """The document's identity in the retention checker's vocabulary."""
    return f"events/{tenant}/{event_id}"


@dataclass(frozen=True)
class WriteConcernSpec:
    w: int | str = 1
    j: bool | None = None
    wtimeout_ms: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.w, int) and self.w < 0:
            raise ValueError("w cannot be negative")
        if self.wtimeout_ms is not None and self.wtimeout_ms < 0:
            raise ValueError("wtimeout_ms cannot be negative")

    def pymongo(self) -> WriteConcern:
        return WriteConcern(w=self.w, j=self.j, wtimeout=self.wtimeout_ms)

    def record(self) -> dict[str, Any]:
        """As the ops record it (and the driver sends it): only the fields given."""
        out: dict[str, Any] = {"w": self.w}
        if self.j is not None:
            out["j"] = self.j
        if self.wtimeout_ms is not None:
            out["wtimeout"] = self.wtimeout_ms
        return out


@dataclass(frozen=True)
class MongoIngestConfig:
    batch_size: int = 500
    wc: WriteConcernSpec = field(default_factory=WriteConcernSpec)
    max_attempts: int = 3  # per event, the first send included
    retry_backoff_s: float = 0.05  # pause before sending the unknown ones again
    record_docs: bool = True
    ingestion_node: str = "ing-1"
    database: str = DATABASE
    collection: str = "events"
    # The idempotency index's fields: another shard key moves its fields in front (CollectionSpec.sharded_on).
    idempotency_key: tuple[str, ...] = IDEMPOTENCY_KEY

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.max_attempts < 1:
            raise ValueError("batch_size and max_attempts must be at least 1")
        if self.retry_backoff_s < 0:
            raise ValueError("retry_backoff_s cannot be negative")


@dataclass
class IngestStats:
    batches: int = 0  # insert_many calls
    events: int = 0
    attempts: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: {"ok": 0, "fail": 0, "info": 0})
    details: dict[str, int] = field(default_factory=dict)
    final: dict[str, int] = field(default_factory=lambda: {"ok": 0, "fail": 0, "info": 0})

    def to_dict(self) -> dict[str, Any]:
        return {
            "batches": self.batches,
            "events": self.events,
            "attempts": self.attempts,
            "outcomes": dict(self.outcomes),
            "details": dict(self.details),
            "final": dict(self.final),
        }


class MongoIngestor:
    """Writes events in batches; see the module docstring for outcomes and ops."""

    def __init__(
        self,
        client: MongoClient[dict[str, Any]],
        recorder: HistoryRecorder,
        clock: RunClock,
        cfg: MongoIngestConfig,
        variant: str,
        *,
        wall_ms: Callable[[], int] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        extra_fields: Callable[[Event], Mapping[str, Any]] | None = None,
    ) -> None:
        self.rec = recorder
        self._extra = extra_fields  # fields a variant's shard key adds to each document (a suffix)
        self.clock = clock
        self.cfg = cfg
        self.variant = variant
        self._wall_ms = wall_ms or (lambda: clock.wall_ms_at(clock.now_ns()))
        self._sleep = sleep
        self.coll: Collection[dict[str, Any]] = client[cfg.database].get_collection(
            cfg.collection, write_concern=cfg.wc.pymongo()
        )
        # Each attempt's documents get fresh _ids: a duplicate can only be on the idempotency index.
        self._sole_unique = SoleUniqueIndex(self.coll, IDEMPOTENCY_INDEX)
        self.stats = IngestStats()
        # tenant -> event ids (an ordered set) that may be stored: what final_docs looks up
        self.written: dict[str, dict[str, None]] = {}

    def write(self, events: Sequence[Event], sched_ns: Sequence[int] | None = None) -> list[WriteOutcome]:
        """Writes ``events`` (in batches of ``batch_size``), retrying unknown outcomes; returns each
        event's last outcome. ``sched_ns`` (parallel) is when the open loop wanted each sent."""
        out: list[WriteOutcome] = []
        for start in range(0, len(events), self.cfg.batch_size):
            chunk = list(events[start : start + self.cfg.batch_size])
            sched = None if sched_ns is None else list(sched_ns[start : start + self.cfg.batch_size])
            out.extend(self._write_batch(chunk, sched))
        return out

    def _write_batch(self, events: list[Event], sched: list[int] | None) -> list[WriteOutcome]:
        self.stats.events += len(events)
        last: list[WriteOutcome] = [WriteOutcome(OpType.FAIL, "not-sent")] * len(events)
        todo = list(range(len(events)))
        for attempt in range(1, self.cfg.max_attempts + 1):
            if attempt > 1:
                self._sleep(self.cfg.retry_backoff_s)
            part_sched = None if sched is None else [sched[i] for i in todo]
            results = self._attempt([events[i] for i in todo], attempt, part_sched)
            for i, res in zip(todo, results, strict=True):
                last[i] = res
            todo = [i for i, res in zip(todo, results, strict=True) if res.retryable]
            if not todo:
                break
        for res in last:
            self.stats.final[res.outcome.value] += 1
        return last

    def _attempt(self, events: list[Event], attempt: int, sched: list[int] | None) -> list[WriteOutcome]:
        """One ``insert_many`` of ``events``: each event's ops invoked, the batch sent, each
        document's outcome classified and recorded."""
        wc = self.cfg.wc.record()
        received = self._wall_ms()
        docs = [e.document(self.cfg.ingestion_node, received) for e in events]
        if self._extra is not None:
            docs = [doc | dict(self._extra(e)) for doc, e in zip(docs, events, strict=True)]
        send_ns = self.clock.now_ns()
        ops = [
            self._invoke(ev, attempt, wc, send_ns, None if sched is None else sched[k])
            for k, ev in enumerate(events)
        ]
        self.stats.batches += 1
        self.stats.attempts += len(events)
        results, done_ns = self._send(docs)
        for ev, op_ids, res in zip(events, ops, results, strict=True):
            self._record(ev, op_ids, res, done_ns)
        return results

    def _invoke(
        self, ev: Event, attempt: int, wc: dict[str, Any], send_ns: int, sched_ns: int | None
    ) -> tuple[int, int | None]:
        """The event's ``insert`` op and, when ``record_docs``, its ``doc_insert`` op, invoked."""
        extra: dict[str, Any] = {} if sched_ns is None else {"sched_ns": sched_ns}
        key = doc_key(ev.tenant, ev.event_id)
        op = self.rec.invoke(
            PROCESS,
            "insert",
            time_ns=send_ns,
            variant=self.variant,
            tenant=ev.tenant,
            event_id=ev.event_id,
            key=key,
            wc=wc,
            window=minute_bucket(ev.time_ms),
            attempt=attempt,
            **extra,
        )
        doc_op = None
        if self.cfg.record_docs:
            doc_op = self.rec.invoke(
                PROCESS,
                "doc_insert",
                time_ns=send_ns,
                variant=self.variant,
                key=key,
                tenant=ev.tenant,
                retention_class=ev.retention_class,
                created_ms=ev.time_ms,
                expires_at_ms=ev.expires_at_ms,
                attempt=attempt,
            )
        return op, doc_op

    def _send(self, docs: list[dict[str, Any]]) -> tuple[list[WriteOutcome], int]:
        """Sends ``docs`` (unordered) and classifies each one's outcome; returns the outcomes and
        when the reply (or the error) came."""
        error: BaseException | None = None
        acknowledged = True
        try:
            acknowledged = self.coll.insert_many(docs, ordered=False).acknowledged
        except Exception as exc:  # classified per document below; nothing is swallowed unrecorded
            error = exc
        done_ns = self.clock.now_ns()
        results = bulk_outcomes(
            len(docs),
            error,
            dup_index=IDEMPOTENCY_INDEX,
            dup_key=self.cfg.idempotency_key,
            acknowledged=acknowledged,
            unnamed_duplicate=self._sole_unique,
        )
        return results, done_ns

    def _record(self, ev: Event, op_ids: tuple[int, int | None], res: WriteOutcome, done_ns: int) -> None:
        """Completes the event's ops with its outcome and counts it; an event that may be stored is
        remembered for the final reads."""
        op, doc_op = op_ids
        fields: dict[str, Any] = (
            {"value": res.detail}
            if res.outcome is OpType.OK
            else {"error": res.error or res.detail, "detail": res.detail}
        )
        if res.code is not None:
            fields["code"] = res.code
        self.rec.complete(op, res.outcome, PROCESS, "insert", time_ns=done_ns, **fields)
        if doc_op is not None:
            self.rec.complete(doc_op, res.outcome, PROCESS, "doc_insert", time_ns=done_ns, **fields)
        self.stats.outcomes[res.outcome.value] += 1
        self.stats.details[res.detail] = self.stats.details.get(res.detail, 0) + 1
        if res.outcome is not OpType.FAIL:
            self.written.setdefault(ev.tenant, {})[ev.event_id] = None
