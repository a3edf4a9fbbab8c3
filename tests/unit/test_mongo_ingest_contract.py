"""Contract tests of the MongoDB data paths: ingestion, the audit chain and the final reads.

Each wire command the plane sends is received by ``mockupdb`` (answering the handshake as MongoDB
7.0 and 8.0), asserted field by field and answered as a server would: success, duplicate-key
``writeErrors``, a ``writeConcernError``, a dropped connection. The recorded history is then fed
to the real checkers, to show that the ops say what the checkers need: acknowledged events present
→ valid, unknown outcomes counted apart, a fabricated loss → invalid.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import bson
import pytest
from mockupdb import CODEC_OPTIONS, MockupDB, go
from pymongo import MongoClient

from harness.audit_chain import GENESIS
from harness.checkers import Verdict, build_checkers, run_checkers
from harness.clock import RunClock, seeded_random
from harness.history.loader import Op, load_history, stream_ops
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.workload.model.generator import DAY_MS, Event, EventGenerator
from harness.workload.model.keys import minute_bucket
from harness.workload.model.tenants import TenantMix, TenantPicker
from harness.workload.mongo_plane.audit_writer import (
    AuditWriter,
    chain_record,
    ms_to_datetime,
    stored_document,
)
from harness.workload.mongo_plane.final_reads import FinalReader
from harness.workload.mongo_plane.ingest import MongoIngestConfig, MongoIngestor, WriteConcernSpec, doc_key

T0 = 1_700_000_000_000
WALL = T0 + 90_000  # the injected wall clock: the reads run shortly after the events
WC = WriteConcernSpec(w="majority", j=True, wtimeout_ms=5000)
ACK, DUPS, RET, AUDIT = "acknowledged-writes-survive", "no-duplicates", "retention", "audit-trail-integrity"


@pytest.fixture
def rec(tmp_path: Path) -> Iterator[HistoryRecorder]:
    with HistoryRecorder(tmp_path / "history.jsonl", RunClock()) as r:
        yield r


def make_events(n: int, seed: int = 5) -> list[Event]:
    picker = TenantPicker(TenantMix(3, 1.0, None, 0.0), seeded_random(seed, "tenants"))
    gen = EventGenerator(picker, seeded_random(seed, "events"))
    return gen.batch(0, [T0 + 1_000 * i for i in range(n)])


def ingestor(client: MongoClient[dict[str, Any]], rec: HistoryRecorder, **cfg: Any) -> MongoIngestor:
    config = MongoIngestConfig(wc=WC, retry_backoff_s=0.0, **cfg)
    return MongoIngestor(client, rec, rec.clock, config, "v1", wall_ms=lambda: WALL)


def reader(client: MongoClient[dict[str, Any]], rec: HistoryRecorder) -> FinalReader:
    return FinalReader(client, rec, rec.clock, "v1", batch_size=2, pause_s=0.0, wall_ms=lambda: WALL)


def receive(server: MockupDB, name: str, db: str = "eventlog") -> Any:
    req = server.receives(timeout=10)
    assert req.command_name == name, f"expected {name}, got {req.command_name}: {req.doc}"
    assert req.namespace == db
    return req


def as_sent(doc: dict[str, Any]) -> Any:
    """A document as mockupdb decodes it (naive UTC datetimes, ordered dicts)."""
    return bson.decode(bson.encode(doc), CODEC_OPTIONS)


def receive_insert(server: MockupDB, events: Sequence[Event]) -> Any:
    """The next insert: exactly these events' documents, unordered, under the configured wc."""
    req = receive(server, "insert")
    assert {k: v for k, v in req.doc.items() if k not in ("documents", "lsid", "$db")} == {
        "insert": "events",
        "ordered": False,
        "writeConcern": {"w": "majority", "j": True, "wtimeout": 5000},
    }
    docs = req.doc["documents"]
    assert len(docs) == len(events)
    for doc, ev in zip(docs, events, strict=True):
        assert isinstance(doc["_id"], bson.ObjectId)
        assert {k: v for k, v in doc.items() if k != "_id"} == as_sent(ev.document("ing-1", WALL))
    return req


def dup_error(index: int, ev: Event) -> dict[str, Any]:
    """A duplicate on the idempotency index, as the server words it."""
    return {
        "index": index,
        "code": 11000,
        "errmsg": (
            "E11000 duplicate key error collection: eventlog.events index: idempotency dup key: "
            f'{{ tenant_id: "{ev.tenant}", event_time: new Date({ev.time_ms}), event_id: "{ev.event_id}" }}'
        ),
        "keyPattern": {"tenant_id": 1, "event_time": 1, "event_id": 1},
        "keyValue": {
            "tenant_id": ev.tenant,
            "event_time": ms_to_datetime(ev.time_ms),
            "event_id": ev.event_id,
        },
    }


WCE = {
    "code": 64,
    "codeName": "WriteConcernFailed",
    "errmsg": "waiting for replication timed out",
    "errInfo": {"wtimeout": True, "writeConcern": {"w": "majority", "j": True, "wtimeout": 5000}},
}


def answer_finds(server: MockupDB, stored: Sequence[Event], tenants: Iterable[str] | None = None) -> None:
    """Answers the one scan behind every tenant's ``final_events`` read (and ``final_docs``
    lookup): the asked tenants' events, newest first (the reader puts each tenant's in
    ``event_time`` order itself), paging by two documents through getMore."""
    asked = sorted(set(tenants) if tenants is not None else {e.tenant for e in stored})
    req = receive(server, "find")
    assert req.doc["find"] == "events"
    assert req.doc["filter"] == {"tenant_id": {"$in": asked}}
    assert req.doc["projection"] == {"_id": 0, "tenant_id": 1, "event_id": 1, "event_time": 1}
    assert "sort" not in req.doc  # a server-side sort of every tenant's events is not needed
    assert req.doc["readConcern"] == {"level": "majority"}
    assert "$readPreference" not in req.doc  # primary: the driver's default, not sent
    docs = [
        {"tenant_id": e.tenant, "event_id": e.event_id, "event_time": ms_to_datetime(e.time_ms)}
        for e in sorted(stored, key=lambda e: -e.time_ms)
        if e.tenant in asked
    ]
    pages = [docs[i : i + 2] for i in range(0, len(docs), 2)] or [[]]
    req.ok(cursor={"id": 0 if len(pages) == 1 else 77, "ns": "eventlog.events", "firstBatch": pages[0]})
    for n, page in enumerate(pages[1:], 2):
        more = receive(server, "getMore")
        assert more.doc["getMore"] == 77 and more.doc["collection"] == "events"
        more.ok(cursor={"id": 0 if n == len(pages) else 77, "ns": "eventlog.events", "nextBatch": page})


def answer_docs(server: MockupDB, lookups: dict[str, list[str]], stored: Sequence[Event]) -> None:
    """The lookups of written ids are answered by the same scan of their tenants' events."""
    answer_finds(server, stored, lookups)


def verdicts(rec: HistoryRecorder, names: list[str]) -> dict[str, Verdict]:
    rec.flush()
    return {v.name: v for v in run_checkers(build_checkers(names), stream_ops(rec.path))}


def ops(rec: HistoryRecorder, f: str) -> list[Op]:
    rec.flush()
    return [op for op in load_history(rec.path) if op.f == f]


# -- ingestion ----------------------------------------------------------------------------------


def ingest_and_read(
    server: MockupDB, client: MongoClient[dict[str, Any]], rec: HistoryRecorder, lose: int | None
) -> dict[str, Verdict]:
    """Six events in batches of four, all acknowledged; the final read holds all but ``lose``."""
    events = make_events(6)
    ing = ingestor(client, rec, batch_size=4)
    future = go(ing.write, events)
    receive_insert(server, events[:4]).ok(n=4)
    receive_insert(server, events[4:]).ok(n=2)
    results = future()
    assert [(r.outcome.value, r.detail) for r in results] == [("ok", "inserted")] * 6
    stored = [e for i, e in enumerate(events) if i != lose]
    final = reader(client, rec)
    future = go(final.final_events, ing.written)
    answer_finds(server, stored)
    assert future() == []
    written = {t: list(ids) for t, ids in ing.written.items()}
    future = go(final.final_docs, written)
    answer_docs(server, written, stored)
    assert future() == 0
    return verdicts(rec, [ACK, DUPS, RET])


def test_acknowledged_batch_is_found_and_judged_valid(
    server: MockupDB, client: MongoClient[dict[str, Any]], rec: HistoryRecorder
) -> None:
    got = ingest_and_read(server, client, rec, lose=None)
    assert got[ACK].status == "valid", got[ACK].summary
    assert got[ACK].details["by_level"]["w:majority"]["acked"] == 6
    assert got[DUPS].status == "valid" and got[DUPS].details["stored"] == 6
    assert got[RET].status == "valid", got[RET].summary
    assert got[RET].details["observations_judged"]["docs"] == 6
    inserts = ops(rec, "insert")
    first = inserts[0].invoke
    ev = make_events(6)[0]
    assert (first["tenant"], first["event_id"], first["attempt"]) == (ev.tenant, ev.event_id, 1)
    assert first["wc"] == {"w": "majority", "j": True, "wtimeout": 5000}
    assert first["window"] == minute_bucket(ev.time_ms) and first["key"] == doc_key(ev.tenant, ev.event_id)
    (read,) = [op for op in ops(rec, "final_events") if op.get("tenant") == ev.tenant]
    assert read.completion is not None
    value = read.completion["value"]
    assert ev.event_id in value["event_ids"] and len(value["windows"]) == len(value["event_ids"])


def test_a_lost_acknowledged_event_is_invalid(
    server: MockupDB, client: MongoClient[dict[str, Any]], rec: HistoryRecorder
) -> None:
    got = ingest_and_read(server, client, rec, lose=2)
    assert got[ACK].status == "invalid" and got[ACK].details["lost"] == 1
    assert got[ACK].examples[0]["event_id"] == make_events(6)[2].event_id
    assert got[RET].status == "invalid"  # and it went before its retention ran out
    assert got[RET].details["by_kind"] == {"removed-too-early": 1}


def test_duplicate_key_is_already_stored_and_other_write_errors_fail(
    server: MockupDB, client: MongoClient[dict[str, Any]], rec: HistoryRecorder
) -> None:
    events = make_events(4)
    future = go(ingestor(client, rec).write, events)
    invalid = {"index": 3, "code": 121, "errmsg": "Document failed validation", "errInfo": {}}
    receive_insert(server, events).ok(n=2, writeErrors=[dup_error(1, events[1]), invalid])
    results = future()  # nothing retried: a duplicate is a success, a validation error is final
    assert [(r.outcome.value, r.detail, r.code) for r in results] == [
        ("ok", "inserted", None),
        ("ok", "already-stored", 11000),
        ("ok", "inserted", None),
        ("fail", "write-error", 121),
    ]
    completions = [op.completion for op in ops(rec, "insert")]
    assert [c["type"] for c in completions if c] == ["ok", "ok", "ok", "fail"]
    assert completions[1] and completions[1]["value"] == "already-stored"
    assert completions[3] and completions[3]["code"] == 121 and "validation" in completions[3]["error"]
    future = go(reader(client, rec).final_events, {e.tenant for e in events})
    answer_finds(server, events)  # the refused event shows up after all: judged
    future()
    got = verdicts(rec, [ACK])[ACK]
    assert got.status == "invalid" and got.details["failed_present"] == 1


def test_write_concern_error_is_unknown_and_the_retry_confirms_it(
    server: MockupDB, client: MongoClient[dict[str, Any]], rec: HistoryRecorder
) -> None:
    events = make_events(3)
    future = go(ingestor(client, rec).write, events)
    receive_insert(server, events).ok(n=3, writeConcernError=WCE)
    # Sent again, same events: the idempotency index answers "already there", now replicated.
    receive_insert(server, events).ok(n=0, writeErrors=[dup_error(i, e) for i, e in enumerate(events)])
    assert [r.detail for r in future()] == ["already-stored"] * 3
    inserts = ops(rec, "insert")
    assert [(op.get("attempt"), op.outcome) for op in inserts] == [(1, "info")] * 3 + [(2, "ok")] * 3
    assert inserts[0].completion and inserts[0].completion["code"] == 64
    future = go(reader(client, rec).final_events, {e.tenant for e in events})
    answer_finds(server, events)
    future()
    got = verdicts(rec, [ACK, DUPS])
    assert got[ACK].status == "valid" and got[ACK].details["acked"] == 3
    assert got[ACK].details["retried_events"] == 3
    assert got[DUPS].status == "valid"


def test_unknown_outcomes_are_counted_apart_present_or_absent(
    server: MockupDB, client: MongoClient[dict[str, Any]], rec: HistoryRecorder
) -> None:
    events = make_events(3)
    future = go(ingestor(client, rec, max_attempts=1).write, events)
    receive_insert(server, events).ok(n=3, writeConcernError=WCE)
    assert [r.outcome.value for r in future()] == ["info"] * 3
    future = go(reader(client, rec).final_events, {e.tenant for e in events})
    answer_finds(server, events[:2])  # the primary's write of the third was rolled back
    future()
    got = verdicts(rec, [ACK])[ACK]
    assert got.status == "valid", got.summary
    assert (got.details["acked"], got.details["unknown_present"], got.details["unknown_absent"]) == (0, 2, 1)


def test_dropped_connection_leaves_the_whole_batch_unknown_then_retries(
    server: MockupDB, client: MongoClient[dict[str, Any]], rec: HistoryRecorder
) -> None:
    events = make_events(3)
    future = go(ingestor(client, rec).write, events)
    receive_insert(server, events).hangup()
    receive_insert(server, events).ok(n=3)  # the first attempt had not been applied after all
    assert [r.detail for r in future()] == ["inserted"] * 3
    first = ops(rec, "insert")[:3]
    assert {op.outcome for op in first} == {"info"}
    assert all(op.completion and "AutoReconnect" in op.completion["error"] for op in first)
    docs = ops(rec, "doc_insert")
    assert [op.outcome for op in docs] == ["info"] * 3 + ["ok"] * 3
    assert docs[0].get("retention_class") == events[0].retention_class
    assert docs[0].get("expires_at_ms") == events[0].expires_at_ms


def test_shard_network_errors_reported_per_document_by_mongos_are_unknown(
    server: MockupDB, client: MongoClient[dict[str, Any]], rec: HistoryRecorder
) -> None:
    """mongos reports a shard it lost mid-write per document: the shard may have applied it."""
    events = make_events(4)
    future = go(ingestor(client, rec, max_attempts=1).write, events)
    errors = [
        {"index": 0, "code": 6, "codeName": "HostUnreachable", "errmsg": "Connection refused"},
        {"index": 1, "code": 9001, "codeName": "SocketException", "errmsg": "socket closed"},
        {"index": 2, "code": 1, "errmsg": "write to shard failed", "errorLabels": ["RetryableWriteError"]},
    ]
    receive_insert(server, events).ok(n=1, writeErrors=errors)
    results = future()
    assert [(r.outcome.value, r.detail, r.code) for r in results] == [
        ("info", "unknown", 6),
        ("info", "unknown", 9001),
        ("info", "unknown", 1),
        ("ok", "inserted", None),
    ]
    assert all(r.retryable for r in results[:3])  # sent again, same event id, by a later attempt
    inserts = ops(rec, "insert")
    assert [op.outcome for op in inserts] == ["info", "info", "info", "ok"]
    assert [op.completion and op.completion.get("code") for op in inserts[:3]] == [6, 9001, 1]
    assert [op.outcome for op in ops(rec, "doc_insert")] == ["info", "info", "info", "ok"]
    # The shard had applied the first two after all: present, which an unknown outcome allows.
    future = go(reader(client, rec).final_events, {e.tenant for e in events})
    answer_finds(server, [events[0], events[1], events[3]])
    future()
    got = verdicts(rec, [ACK])[ACK]
    assert got.status == "valid", got.summary
    assert got.details["failed_present"] == 0
    assert (got.details["unknown_present"], got.details["unknown_absent"]) == (2, 1)


def test_unacknowledged_insert_is_never_recorded_ok(
    server: MockupDB, client: MongoClient[dict[str, Any]], rec: HistoryRecorder
) -> None:
    """Defence in depth behind the scenario check: with ``w: 0`` the server sends no reply, so
    pymongo's result says ``acknowledged: False`` and nothing is known of the events."""
    events = make_events(2)
    cfg = MongoIngestConfig(wc=WriteConcernSpec(w=0), retry_backoff_s=0.0)
    ing = MongoIngestor(client, rec, rec.clock, cfg, "v1", wall_ms=lambda: WALL)
    future = go(ing.write, events)
    req = receive(server, "insert")
    assert req.doc["writeConcern"] == {"w": 0}
    assert len(req.doc["documents"]) == 2  # no reply: the client does not wait for one
    results = future()
    assert [(r.outcome.value, r.detail) for r in results] == [("info", "unacknowledged")] * 2
    assert not any(r.retryable for r in results)  # sent again, it would be just as unknown
    assert [op.outcome for op in ops(rec, "insert")] == ["info", "info"]
    assert [op.outcome for op in ops(rec, "doc_insert")] == ["info", "info"]
    assert ing.stats.final == {"ok": 0, "fail": 0, "info": 2}


def test_nothing_sent_when_no_server_is_selectable_is_a_failure(rec: HistoryRecorder) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead: MongoClient[dict[str, Any]] = MongoClient(
        f"mongodb://127.0.0.1:{port}/?directConnection=true", serverSelectionTimeoutMS=100
    )
    try:
        results = ingestor(dead, rec, max_attempts=1).write(make_events(2))
    finally:
        dead.close()
    assert [(r.outcome.value, r.detail) for r in results] == [("fail", "not-sent")] * 2
    assert [op.outcome for op in ops(rec, "insert")] == ["fail", "fail"]


# -- audit chain --------------------------------------------------------------------------------


def audit_events(n: int) -> list[Event]:
    """``n`` audit events of one tenant, in time order."""
    picker = TenantPicker(TenantMix(1, 1.0, None, 0.0), seeded_random(9, "tenants"))
    gen = EventGenerator(picker, seeded_random(9, "events"))
    found = [e for e in gen.batch(0, [T0 + 10 * i for i in range(3000)]) if e.is_audit][:n]
    assert len(found) == n
    return [dataclasses.replace(e, tenant="t00001") for e in found]


def receive_audit_insert(server: MockupDB, record: dict[str, Any]) -> Any:
    req = receive(server, "insert")
    assert {k: v for k, v in req.doc.items() if k not in ("documents", "lsid", "$db")} == {
        "insert": "audit_logs",
        "ordered": True,
        "writeConcern": {"w": "majority", "j": True},
    }
    (doc,) = req.doc["documents"]
    assert {k: v for k, v in doc.items() if k != "_id"} == as_sent(stored_document(record))
    return req


def audit_chain_across_unknown(
    server: MockupDB, client: MongoClient[dict[str, Any]], rec: HistoryRecorder, delete: int | None
) -> dict[str, Verdict]:
    evs = audit_events(3)
    writer = AuditWriter(client, rec, rec.clock, "v1", audit_ms=365 * DAY_MS, wall_ms=lambda: WALL)
    r1 = chain_record(evs[0].audit_content(365 * DAY_MS), GENESIS)
    r2 = chain_record(evs[1].audit_content(365 * DAY_MS), r1["hash"])
    r3 = chain_record(evs[2].audit_content(365 * DAY_MS), r2["hash"])

    future = go(writer.append, evs[0])
    receive_audit_insert(server, r1).ok(n=1)
    assert future() == "ok"
    future = go(writer.append, evs[1])
    receive_audit_insert(server, r2).hangup()  # unknown: did r2 land?
    assert future() == "info"
    future = go(writer.append, evs[2])
    # Before appending r3 the writer reads r2 back from the primary at majority...
    req = receive(server, "find")
    assert req.doc["find"] == "audit_logs"
    assert req.doc["filter"] == {
        "tenant_id": "t00001",
        "logged_at": as_sent({"d": ms_to_datetime(r2["logged_at_ms"])})["d"],
        "audit_id": r2["audit_id"],
    }
    assert req.doc["readConcern"] == {"level": "majority"} and req.doc["limit"] == 1
    req.ok(cursor={"id": 0, "ns": "eventlog.audit_logs", "firstBatch": []})
    # ... absent, so it sends r2 itself again (not r3 on r1, which would fork the chain): it had
    # landed meanwhile, and the unique audit_id index says so.
    dup = {
        "index": 0,
        "code": 11000,
        "errmsg": "E11000 duplicate key error collection: eventlog.audit_logs index: audit_id_unique dup key",
        "keyPattern": {"tenant_id": 1, "logged_at": 1, "audit_id": 1},
    }
    receive_audit_insert(server, r2).ok(n=0, writeErrors=[dup])
    receive_audit_insert(server, r3).ok(n=1)
    assert future() == "ok"
    assert writer.heads == {"t00001": r3["hash"]} and writer.stats.resends == 1

    stored = [stored_document(r) for i, r in enumerate((r1, r2, r3)) if i != delete]
    future = go(reader(client, rec).final_audit, ["t00001"])
    req = receive(server, "find")
    assert req.doc["find"] == "audit_logs" and req.doc["filter"] == {"tenant_id": {"$in": ["t00001"]}}
    assert "sort" not in req.doc and req.doc["readConcern"] == {"level": "majority"}
    docs = [{"_id": bson.ObjectId(), **d} for d in stored]
    # Out of order on the wire: the reader sorts by logged_at, then _id.
    req.ok(cursor={"id": 0, "ns": "eventlog.audit_logs", "firstBatch": docs[::-1]})
    assert future() == []
    return verdicts(rec, [AUDIT])


def test_audit_chain_written_across_an_unknown_outcome_is_valid(
    server: MockupDB, client: MongoClient[dict[str, Any]], rec: HistoryRecorder
) -> None:
    got = audit_chain_across_unknown(server, client, rec, delete=None)[AUDIT]
    assert got.status == "valid", got.summary
    assert got.details["records_stored"] == 3
    assert [op.get("attempt") for op in ops(rec, "audit_insert")] == [1, 1, 2, 1]
    (head,) = ops(rec, "audit_head")
    assert head.outcome == "ok" and head.completion and head.completion["value"] is None


def test_audit_record_missing_after_the_run_is_invalid(
    server: MockupDB, client: MongoClient[dict[str, Any]], rec: HistoryRecorder
) -> None:
    got = audit_chain_across_unknown(server, client, rec, delete=1)[AUDIT]
    assert got.status == "invalid"
    assert got.details["by_kind"]["audit-record-deleted"] == 1


def test_audit_head_found_on_read_back_is_adopted_without_resending(
    server: MockupDB, client: MongoClient[dict[str, Any]], rec: HistoryRecorder
) -> None:
    evs = audit_events(2)
    writer = AuditWriter(client, rec, rec.clock, "v1", audit_ms=365 * DAY_MS, wall_ms=lambda: WALL)
    r1 = chain_record(evs[0].audit_content(365 * DAY_MS), GENESIS)
    r2 = chain_record(evs[1].audit_content(365 * DAY_MS), r1["hash"])
    future = go(writer.append, evs[0])
    receive_audit_insert(server, r1).ok(n=1, writeConcernError=WCE)
    assert future() == "info"
    future = go(writer.append, evs[1])
    receive(server, "find").ok(
        cursor={"id": 0, "ns": "eventlog.audit_logs", "firstBatch": [{"hash": r1["hash"]}]}
    )
    receive_audit_insert(server, r2).ok(n=1)
    assert future() == "ok"
    assert writer.stats.resends == 0 and writer.heads["t00001"] == r2["hash"]


#: Per-document errors mongos reports for a shard it lost mid-write (the record may be stored)
#: and the refusal it gives when the shard has no primary (certainly not stored, worth resending).
SHARD_LOST = {"code": 9001, "codeName": "SocketException", "errmsg": "socket closed"}
SHARD_UNREACHABLE = {"code": 6, "codeName": "HostUnreachable", "errmsg": "Connection refused"}
LABELLED = {"code": 1, "errmsg": "write to shard failed", "errorLabels": ["RetryableWriteError"]}
NO_SHARD_PRIMARY = {"code": 133, "codeName": "FailedToSatisfyReadPreference", "errmsg": "no primary"}


def audit_writer(client: MongoClient[dict[str, Any]], rec: HistoryRecorder) -> AuditWriter:
    return AuditWriter(
        client, rec, rec.clock, "v1", audit_ms=365 * DAY_MS, wall_ms=lambda: WALL, sleep=lambda _s: None
    )


def answer_read_back(server: MockupDB, record: dict[str, Any], stored: bool) -> None:
    req = receive(server, "find")
    assert req.doc["find"] == "audit_logs" and req.doc["filter"]["audit_id"] == record["audit_id"]
    found = [{"hash": record["hash"]}] if stored else []
    req.ok(cursor={"id": 0, "ns": "eventlog.audit_logs", "firstBatch": found})


def final_chain(
    server: MockupDB, client: MongoClient[dict[str, Any]], rec: HistoryRecorder, records: list[dict[str, Any]]
) -> Verdict:
    future = go(reader(client, rec).final_audit, ["t00001"])
    stored = [{"_id": bson.ObjectId(), **stored_document(r)} for r in records]
    receive(server, "find").ok(cursor={"id": 0, "ns": "eventlog.audit_logs", "firstBatch": stored})
    assert future() == []
    return verdicts(rec, [AUDIT])[AUDIT]


def three_records() -> tuple[list[Event], list[dict[str, Any]]]:
    evs = audit_events(3)
    records: list[dict[str, Any]] = []
    for ev in evs:
        records.append(
            chain_record(ev.audit_content(365 * DAY_MS), records[-1]["hash"] if records else GENESIS)
        )
    return evs, records


@pytest.mark.parametrize("error", [SHARD_LOST, SHARD_UNREACHABLE, LABELLED], ids=["9001", "6", "label"])
def test_audit_record_a_shard_may_have_stored_is_read_back_before_the_next(
    server: MockupDB, client: MongoClient[dict[str, Any]], rec: HistoryRecorder, error: dict[str, Any]
) -> None:
    evs, (r1, r2, r3) = three_records()
    writer = audit_writer(client, rec)
    future = go(writer.append, evs[0])
    receive_audit_insert(server, r1).ok(n=1)
    assert future() == "ok"
    future = go(writer.append, evs[1])
    receive_audit_insert(server, r2).ok(n=0, writeErrors=[{"index": 0, **error}])
    assert future() == "info"  # not a refusal: r3 must not be chained on r1 yet
    future = go(writer.append, evs[2])
    answer_read_back(server, r2, stored=True)  # the shard had stored it
    receive_audit_insert(server, r3).ok(n=1)  # chained on r2: one chain
    assert future() == "ok"
    assert writer.heads == {"t00001": r3["hash"]} and writer.stats.resends == 0
    got = final_chain(server, client, rec, [r1, r2, r3])
    assert got.status == "valid", got.summary
    assert got.details["records_stored"] == 3


@pytest.mark.parametrize(
    "error", [SHARD_UNREACHABLE, LABELLED, NO_SHARD_PRIMARY], ids=["6", "label", "133-no-primary"]
)
def test_audit_resend_that_the_shard_did_not_answer_settles_nothing(
    server: MockupDB, client: MongoClient[dict[str, Any]], rec: HistoryRecorder, error: dict[str, Any]
) -> None:
    """After an unknown outcome the writer reads back, then resends the same record. A resend that
    fails this way says nothing of the first attempt (only a refusal of the record itself does):
    the writer keeps resolving instead of chaining the next record on the predecessor."""
    evs, (r1, r2, r3) = three_records()
    writer = audit_writer(client, rec)
    future = go(writer.append, evs[0])
    receive_audit_insert(server, r1).ok(n=1)
    future()
    future = go(writer.append, evs[1])
    receive_audit_insert(server, r2).hangup()
    assert future() == "info"
    future = go(writer.append, evs[2])
    answer_read_back(server, r2, stored=False)  # not visible yet
    receive_audit_insert(server, r2).ok(n=0, writeErrors=[{"index": 0, **error}])
    answer_read_back(server, r2, stored=True)  # the first attempt had landed
    receive_audit_insert(server, r3).ok(n=1)
    assert future() == "ok"
    assert writer.heads == {"t00001": r3["hash"]}
    assert (writer.stats.resends, writer.stats.head_reads) == (1, 2)
    assert [op.get("attempt") for op in ops(rec, "audit_insert")] == [1, 1, 2, 1]
    got = final_chain(server, client, rec, [r1, r2, r3])
    assert got.status == "valid", got.summary
    assert got.details["records_stored"] == 3


def test_audit_record_refused_for_want_of_a_shard_primary_is_sent_again(
    server: MockupDB, client: MongoClient[dict[str, Any]], rec: HistoryRecorder
) -> None:
    evs, (r1, r2, r3) = three_records()
    writer = audit_writer(client, rec)
    future = go(writer.append, evs[0])
    receive_audit_insert(server, r1).ok(n=1)
    future()
    future = go(writer.append, evs[1])
    receive_audit_insert(server, r2).ok(n=0, writeErrors=[{"index": 0, **NO_SHARD_PRIMARY}])
    assert future() == "fail"  # certainly not stored...
    future = go(writer.append, evs[2])
    answer_read_back(server, r2, stored=False)
    receive_audit_insert(server, r2).ok(n=1)  # ... so the same record is sent again, first
    receive_audit_insert(server, r3).ok(n=1)
    assert future() == "ok"
    assert writer.heads == {"t00001": r3["hash"]} and writer.stats.resends == 1
    got = final_chain(server, client, rec, [r1, r2, r3])
    assert got.status == "valid", got.summary


@pytest.mark.parametrize("lose", [None, 2], ids=["all-stored", "one-lost"])
def test_insert_windows_join_the_redis_counters(
    server: MockupDB, client: MongoClient[dict[str, Any]], rec: HistoryRecorder, lose: int | None
) -> None:
    ingest_and_read(server, client, rec, lose=lose)
    # The Redis plane of the same events, as the events driver records it: one acknowledged INCR
    # per event on its tenant's minute counter, then a final read of each counter.
    counts: dict[tuple[str, str], int] = {}
    for ev in make_events(6):
        window = minute_bucket(ev.time_ms)
        key = f"counter:{{t:{ev.tenant}}}:events:{window}"
        op = rec.invoke("ingest", "incr", key=key, tenant=ev.tenant, window=window)
        counts[(key, window)] = counts.get((key, window), 0) + 1
        rec.complete(op, OpType.OK, "ingest", "incr", value=counts[(key, window)])
    for (key, _), n in counts.items():
        op = rec.invoke("final", "final_read", key=key)
        rec.complete(op, OpType.OK, "final", "final_read", value=n, key=key)
    got = verdicts(rec, ["counters-reconcile"])["counters-reconcile"]
    assert got.details["planes"] == {"redis": "ran", "mongodb": "ran"}
    assert got.details["groups_compared_with_mongodb"] == len(counts)
    if lose is None:
        assert got.status == "valid", got.summary
    else:
        assert got.status == "invalid" and got.details["planes_disagree"] == 1
        assert got.examples[0]["window"] == minute_bucket(make_events(6)[2].time_ms)


def test_one_scan_answers_every_tenant_and_lookup_and_a_failed_scan_is_tried_again(
    server: MockupDB, client: MongoClient[dict[str, Any]], rec: HistoryRecorder
) -> None:
    events = make_events(6)
    tenants = sorted({e.tenant for e in events})
    written = {t: [e.event_id for e in events if e.tenant == t] for t in tenants}
    future = go(reader(client, rec).final_events_and_docs, tenants, written)
    receive(server, "find").hangup()  # the first scan's connection drops, and the driver's retry
    receive(server, "find").hangup()  # too: every read of the round is unknown
    answer_finds(server, events[1:])  # the second answers them all, with one event missing
    assert future() == ([], 0)
    reads = ops(rec, "final_events")
    assert [(op.get("attempt"), op.outcome) for op in reads] == [(1, "info")] * len(tenants) + [
        (2, "ok")
    ] * len(tenants)
    docs = ops(rec, "final_docs")
    assert [(op.get("attempt"), op.outcome) for op in docs] == [(1, "info")] * len(tenants) + [
        (2, "ok")
    ] * len(tenants)
    second = [op for op in reads + docs if op.get("attempt") == 2]
    # every read of a round was invoked before its scan and completed after it
    assert max(op.invoke_ns for op in second) < min(op.complete_ns or 0 for op in second)
    lost = events[0]
    (read,) = [op for op in reads if op.get("tenant") == lost.tenant and op.outcome == "ok"]
    assert read.completion is not None and lost.event_id not in read.completion["value"]["event_ids"]
    stored_ms = {e.event_id: e.time_ms for e in events}
    ids = read.completion["value"]["event_ids"]
    assert [stored_ms[i] for i in ids] == sorted(stored_ms[i] for i in ids)  # in event_time order
    (lookup,) = [op for op in docs if op.get("tenant") == lost.tenant and op.outcome == "ok"]
    assert lookup.completion is not None
    assert doc_key(lost.tenant, lost.event_id) not in lookup.completion["value"]
    assert len(lookup.completion["value"]) == len(written[lost.tenant]) - 1


# FerretDB 1.x's duplicate: no keyPattern, no index name (seen live against FerretDB 1.24.2).
UNNAMED_DUP = {"code": 11000, "errmsg": "E11000 duplicate key error collection: eventlog.events"}


@pytest.mark.parametrize(
    ("unique", "detail"),
    [
        (["idempotency"], "already-stored"),  # the only index it can be on: an earlier attempt stored it
        (["idempotency", "some_other_unique"], "write-error"),  # it may be on the other: not attributed
    ],
)
def test_a_duplicate_that_names_no_index_is_attributed_only_when_it_can_be(
    server: MockupDB,
    client: MongoClient[dict[str, Any]],
    rec: HistoryRecorder,
    unique: list[str],
    detail: str,
) -> None:
    events = make_events(2)
    ing = ingestor(client, rec, max_attempts=1)
    future = go(ing.write, events)
    receive_insert(server, events).ok(n=1, writeErrors=[{"index": 0, **UNNAMED_DUP}])
    req = receive(server, "listIndexes")  # asked once, only because the duplicate named nothing
    assert req.doc["listIndexes"] == "events"
    indexes = [{"v": 2, "key": {"_id": 1}, "name": "_id_"}] + [
        {"v": 2, "key": {"tenant_id": 1, "x": 1}, "name": n, "unique": True} for n in unique
    ]
    req.ok(cursor={"id": 0, "ns": "eventlog.events", "firstBatch": indexes})
    assert [r.detail for r in future()] == [detail, "inserted"]
    # Asked once per ingestor: the next unnamed duplicate is decided without asking again.
    future = go(ing.write, events[1:])
    receive_insert(server, events[1:]).ok(n=0, writeErrors=[{"index": 0, **UNNAMED_DUP}])
    assert [r.detail for r in future()] == [detail]
