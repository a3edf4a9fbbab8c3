"""Contract tests for the MongoDB read side: the aggregation worker, the five sample queries and the
read-your-writes modes, against a mocked two-member replica set (tests/mockrs.py).

Every wire command is received, asserted field by field against the capstone's text, and answered
as a server would; the recorded histories are then judged by the real checkers.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from bson import ObjectId, Timestamp
from mockupdb import MockupDB, go
from pymongo import MongoClient
from pymongo.write_concern import WriteConcern

from harness.checkers.monotonic_reads import check_monotonic_reads
from harness.checkers.read_your_writes import check_read_your_writes
from harness.checkers.retention import check_retention
from harness.checkers.tenant_isolation import check_tenant_isolation
from harness.history.loader import load_history, stream_ops
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.topology.mongo_spec import load_collections
from harness.workload.mongo_plane.aggregation import DAY_MS, HOUR_MS, AggregationWorker
from harness.workload.mongo_plane.queries import QueryService
from harness.workload.platform.ryw import ProfileStore
from harness.workload.platform.session_fallback import FallbackSessionStore
from tests.mockrs import body, cursor, history, receive

Replset = tuple[MockupDB, MockupDB, MongoClient[dict[str, Any]]]

NOW_MS = 1_705_314_645_000  # 2024-01-15T10:30:45Z
HOUR = NOW_MS - NOW_MS % HOUR_MS  # 10:00


def dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def naive(ms: int) -> datetime:
    """As pymongo decodes a BSON date by default (naive UTC)."""
    return dt(ms).replace(tzinfo=None)


# -- aggregation worker -------------------------------------------------------------------------


def hourly_result(event_type: str, count: int) -> dict[str, Any]:
    """One document of the hourly pipeline's output, as the server returns it."""
    return {
        "tenant_id": "tenant_acme",
        "bucket_time": naive(HOUR),
        "bucket_type": "hourly",
        "dimensions": {"event_type": event_type, "environment": "production"},
        "metrics": {"count": count, "unique_users": 2, "unique_sessions": 3},
        "event_ids_sample": ["evt_a1", "evt_b2", "evt_c3"],
        "last_updated": naive(NOW_MS),
    }


def test_hourly_rollup_sends_the_capstone_pipeline_and_upserts_each_group(
    rs: Replset, recorder: HistoryRecorder
) -> None:
    primary, _secondary, client = rs
    worker = AggregationWorker(client["eventlog"], recorder, recorder.clock, "v", now_ms=lambda: NOW_MS)
    future = go(worker.hourly, "tenant_acme", HOUR + 1234)  # any instant inside the hour

    req = receive(primary, "aggregate")
    assert body(req) == {
        "aggregate": "events",
        "cursor": {},
        "pipeline": [
            {
                "$match": {
                    "tenant_id": "tenant_acme",
                    "event_time": {"$gte": naive(HOUR), "$lt": naive(HOUR + HOUR_MS)},
                }
            },
            {
                "$group": {
                    "_id": {
                        "tenant_id": "$tenant_id",
                        "event_type": "$event_type",
                        "environment": "$context.environment",
                    },
                    "count": {"$sum": 1},
                    "unique_users": {"$addToSet": "$actor.user_id"},
                    "unique_sessions": {"$addToSet": "$actor.session_id"},
                    "sample_events": {"$push": "$event_id"},
                }
            },
            {
                "$project": {
                    "_id": 0,
                    "tenant_id": "$_id.tenant_id",
                    "bucket_time": naive(HOUR),
                    "bucket_type": "hourly",
                    "dimensions": {"event_type": "$_id.event_type", "environment": "$_id.environment"},
                    "metrics": {
                        "count": "$count",
                        "unique_users": {"$size": "$unique_users"},
                        "unique_sessions": {"$size": "$unique_sessions"},
                    },
                    "event_ids_sample": {"$slice": ["$sample_events", 3]},
                    "last_updated": naive(NOW_MS),
                }
            },
        ],
    }
    assert "$readPreference" not in req.doc  # the primary
    login, view = hourly_result("user.login", 1523), hourly_result("page.view", 40)
    req.ok(**cursor("eventlog.events", [login, view]))

    for doc, created in ((login, True), (view, False)):
        req = receive(primary, "update")
        assert body(req) == {
            "update": "event_aggregates",
            "ordered": True,
            "writeConcern": {"w": "majority"},
            "updates": [
                {
                    "q": {
                        "tenant_id": "tenant_acme",
                        "bucket_time": naive(HOUR),
                        "bucket_type": "hourly",
                        "dimensions.event_type": doc["dimensions"]["event_type"],
                        "dimensions.environment": "production",
                    },
                    "u": {"$set": doc},
                    "multi": False,
                    "upsert": True,
                }
            ],
        }
        if created:
            req.ok(n=1, nModified=0, upserted=[{"index": 0, "_id": ObjectId()}])
        else:
            req.ok(n=1, nModified=1)
    run = future()
    assert (run.groups, run.upserted, run.upsert_outcomes) == (2, 1, {"ok": 2, "fail": 0, "info": 0})

    ops = load_history(history(recorder))
    agg = [o for o in ops if o.f == "aggregate"]
    assert [(o.outcome, o.completion and o.completion["value"]) for o in agg] == [("ok", 2)]
    assert agg[0].get("bucket_ms") == HOUR and agg[0].get("bucket_type") == "hourly"
    ups = [o for o in ops if o.f == "aggregate_upsert"]
    assert [o.completion and o.completion["value"] for o in ups] == ["inserted", "updated"]
    assert ups[0].get("count") == 1523 and ups[0].get("wc") == {"w": "majority"}
    [ins] = [o for o in ops if o.f == "doc_insert"]
    assert ins.get("key") == f"event_aggregates/tenant_acme/hourly/{HOUR}/user.login/production"
    assert (ins.get("retention_class"), ins.get("created_ms"), ins.outcome) == ("aggregates", HOUR, "ok")


def test_new_bucket_documents_are_judged_by_the_retention_checker(
    rs: Replset, recorder: HistoryRecorder
) -> None:
    primary, _secondary, client = rs
    worker = AggregationWorker(client["eventlog"], recorder, recorder.clock, "v", now_ms=lambda: NOW_MS)
    future = go(worker.hourly, "tenant_acme", HOUR)
    receive(primary, "aggregate").ok(**cursor("eventlog.events", [hourly_result("user.login", 5)]))
    receive(primary, "update").ok(n=1, nModified=0, upserted=[{"index": 0, "_id": ObjectId()}])
    future()
    key = f"event_aggregates/tenant_acme/hourly/{HOUR}/user.login/production"
    # A primary read 181 days after the bucket that still finds it: the 180-day TTL did not act.
    late = HOUR + 181 * DAY_MS
    op = recorder.invoke("final", "final_docs", keys=[key], now_ms=late)
    recorder.complete(op, OpType.OK, "final", "final_docs", value=[key], now_ms=late)
    verdict = check_retention(stream_ops(history(recorder)))
    assert verdict.status == "invalid", verdict.summary
    assert [e["kind"] for e in verdict.examples] == ["expired-too-late"]
    assert verdict.examples[0]["key"] == key


def test_upsert_of_unknown_outcome_is_info_and_may_have_created_the_bucket(
    rs: Replset, recorder: HistoryRecorder
) -> None:
    primary, _secondary, client = rs
    worker = AggregationWorker(client["eventlog"], recorder, recorder.clock, "v", now_ms=lambda: NOW_MS)
    future = go(worker.hourly, "tenant_acme", HOUR)
    receive(primary, "aggregate").ok(**cursor("eventlog.events", [hourly_result("api.call", 9)]))
    # The primary applied the upsert but could not confirm it on a majority: it may roll back.
    receive(primary, "update").ok(
        n=1,
        nModified=0,
        upserted=[{"index": 0, "_id": ObjectId()}],
        writeConcernError={
            "code": 64,
            "codeName": "WriteConcernFailed",
            "errmsg": "waiting for replication timed out",
            "errInfo": {"wtimeout": True},
        },
    )
    run = future()
    assert run.upsert_outcomes == {"ok": 0, "fail": 0, "info": 1}
    ops = load_history(history(recorder))
    [up] = [o for o in ops if o.f == "aggregate_upsert"]
    assert up.outcome == "info" and "WTimeoutError (64)" in (up.completion or {})["error"]
    [ins] = [o for o in ops if o.f == "doc_insert"]
    assert ins.outcome == "info"


def test_upsert_the_shard_may_have_applied_is_info(rs: Replset, recorder: HistoryRecorder) -> None:
    primary, _secondary, client = rs
    worker = AggregationWorker(client["eventlog"], recorder, recorder.clock, "v", now_ms=lambda: NOW_MS)
    future = go(worker.hourly, "tenant_acme", HOUR)
    receive(primary, "aggregate").ok(**cursor("eventlog.events", [hourly_result("api.call", 9)]))
    # mongos lost the shard mid-write and reports it for the document: it may have been applied.
    receive(primary, "update").ok(
        n=0,
        nModified=0,
        writeErrors=[{"index": 0, "code": 6, "codeName": "HostUnreachable", "errmsg": "Connection refused"}],
    )
    assert future().upsert_outcomes == {"ok": 0, "fail": 0, "info": 1}
    ops = load_history(history(recorder))
    [up] = [o for o in ops if o.f == "aggregate_upsert"]
    assert up.outcome == "info" and "(6)" in (up.completion or {})["error"]
    [ins] = [o for o in ops if o.f == "doc_insert"]  # it may have created the bucket
    assert ins.outcome == "info"


def test_unacknowledged_upsert_is_unknown_not_ok(rs: Replset, recorder: HistoryRecorder) -> None:
    primary, _secondary, client = rs
    worker = AggregationWorker(
        client["eventlog"], recorder, recorder.clock, "v", wc=WriteConcern(w=0), now_ms=lambda: NOW_MS
    )
    future = go(worker.hourly, "tenant_acme", HOUR)
    receive(primary, "aggregate").ok(**cursor("eventlog.events", [hourly_result("api.call", 9)]))
    assert receive(primary, "update").doc["writeConcern"] == {"w": 0}  # no reply comes
    assert future().upsert_outcomes == {"ok": 0, "fail": 0, "info": 1}
    ops = load_history(history(recorder))
    [up] = [o for o in ops if o.f == "aggregate_upsert"]
    assert up.outcome == "info" and "unacknowledged" in (up.completion or {})["error"]
    [ins] = [o for o in ops if o.f == "doc_insert"]  # it may have created the bucket
    assert ins.outcome == "info"


def test_failed_pipeline_is_a_failed_read_and_upserts_nothing(rs: Replset, recorder: HistoryRecorder) -> None:
    primary, _secondary, client = rs
    worker = AggregationWorker(client["eventlog"], recorder, recorder.clock, "v", now_ms=lambda: NOW_MS)
    future = go(worker.hourly, "tenant_acme", HOUR)
    receive(primary, "aggregate").command_err(code=292, errmsg="Exceeded memory limit for $group")
    run = future()
    assert run.outcome == "fail" and run.groups == 0
    [op] = load_history(history(recorder))
    assert op.f == "aggregate" and op.outcome == "fail" and "292" in (op.completion or {})["error"]


def test_daily_rollup_groups_the_days_hourly_buckets(rs: Replset, recorder: HistoryRecorder) -> None:
    primary, _secondary, client = rs
    worker = AggregationWorker(client["eventlog"], recorder, recorder.clock, "v", now_ms=lambda: NOW_MS)
    day = NOW_MS - NOW_MS % DAY_MS
    future = go(worker.daily, "tenant_acme", NOW_MS)
    req = receive(primary, "aggregate")
    pipeline = body(req)["pipeline"]
    assert body(req)["aggregate"] == "event_aggregates"
    assert pipeline[0] == {
        "$match": {
            "tenant_id": "tenant_acme",
            "bucket_type": "hourly",
            "bucket_time": {"$gte": naive(day), "$lt": naive(day + DAY_MS)},
        }
    }
    assert pipeline[1]["$group"]["count"] == {"$sum": "$metrics.count"}
    assert pipeline[2]["$project"]["bucket_type"] == "daily"
    daily = {
        "tenant_id": "tenant_acme",
        "bucket_time": naive(day),
        "bucket_type": "daily",
        "dimensions": {"event_type": "user.login", "environment": "production"},
        "metrics": {"count": 30, "unique_users": 4, "unique_sessions": 5, "hours": 3},
        "last_updated": naive(NOW_MS),
    }
    req.ok(**cursor("eventlog.event_aggregates", [daily]))
    req = receive(primary, "update")
    [update] = body(req)["updates"]
    # bucket_type in the filter: the daily bucket starts when the day's first hourly bucket does.
    assert update["q"] == {
        "tenant_id": "tenant_acme",
        "bucket_time": naive(day),
        "bucket_type": "daily",
        "dimensions.event_type": "user.login",
        "dimensions.environment": "production",
    }
    assert update["upsert"] is True
    req.ok(n=1, nModified=1)
    assert future().groups == 1


def test_scheduled_loop_runs_bounded_passes_and_stops(rs: Replset, recorder: HistoryRecorder) -> None:
    primary, _secondary, client = rs
    empty = primary.autoresponds(
        lambda req: req.command_name == "aggregate" and req.ok(**cursor("eventlog.events", []))
    )
    worker = AggregationWorker(client["eventlog"], recorder, recorder.clock, "v", now_ms=lambda: NOW_MS)
    stop = threading.Event()
    passes = worker.run_scheduled(lambda: ["t1", "t2"], interval_s=0.001, stop=stop, max_runs=2)
    assert passes == 2
    stop.set()
    assert worker.run_scheduled(lambda: ["t1"], interval_s=60, stop=stop) == 0  # stopped: no pass
    empty.cancel()
    runs = [
        (o.get("tenant"), o.get("bucket_type"), o.get("bucket_ms")) for o in load_history(history(recorder))
    ]
    one_pass = [
        (t, kind, ms)
        for t in ("t1", "t2")
        for kind, ms in (("hourly", HOUR - HOUR_MS), ("hourly", HOUR), ("daily", NOW_MS - NOW_MS % DAY_MS))
    ]
    assert runs == one_pass * 2


# -- the five sample queries -------------------------------------------------------------------


def event(tenant: str, eid: str, ms: int) -> dict[str, Any]:
    return {"_id": ObjectId(), "tenant_id": tenant, "event_id": eid, "event_time": naive(ms)}


def service(client: MongoClient[dict[str, Any]], recorder: HistoryRecorder) -> QueryService:
    return QueryService(client["eventlog"], recorder, recorder.clock, "v", now_ms=lambda: NOW_MS)


def test_dashboard_query_on_a_secondary_with_hint_sort_limit(rs: Replset, recorder: HistoryRecorder) -> None:
    _primary, secondary, client = rs
    future = go(service(client, recorder).dashboard, "tenant_acme", read_pref="secondaryPreferred")
    req = receive(secondary, "find")
    assert body(req) == {
        "find": "events",
        "filter": {"tenant_id": "tenant_acme", "event_time": {"$gte": naive(NOW_MS - HOUR_MS)}},
        "sort": {"event_time": -1},
        "limit": 100,
        # By name: the key pattern also matches the partial audit_events_idx, and the server
        # refuses an ambiguous hint (IndexNotFound 27, "must hint by index name").
        "hint": "tenant_id_1_event_time_-1",
        "readConcern": {"level": "local"},
    }
    assert req.doc["$readPreference"] == {"mode": "secondaryPreferred"}
    req.ok(
        **cursor(
            "eventlog.events",
            [event("tenant_acme", "evt_2", NOW_MS - 5), event("tenant_acme", "evt_1", NOW_MS - 9)],
        )
    )
    result = future()
    assert result.outcome == "ok" and len(result.docs) == 2
    [op] = load_history(history(recorder))
    assert (op.f, op.get("read_pref"), op.get("read_concern")) == ("dashboard", "secondaryPreferred", "local")
    assert op.completion is not None
    assert (op.completion["count"], op.completion["tenants"], op.completion["ids"]) == (
        2,
        ["tenant_acme", "tenant_acme"],
        ["evt_2", "evt_1"],
    )


def test_dashboard_hint_is_the_index_name_the_collections_spec_gives(
    rs: Replset, recorder: HistoryRecorder
) -> None:
    primary, _secondary, client = rs
    spec = load_collections("platform")
    events = next(c for c in spec.collections if c.name == "events")
    named = [
        i.model_copy(update={"name": "dash"})
        if i.key == {"tenant_id": 1, "event_time": -1} and i.partial_filter is None
        else i
        for i in events.indexes
    ]
    assert [i.name for i in named].count("dash") == 1  # the partial index on the same key kept its name
    renamed = spec.model_copy(
        update={"collections": [events.model_copy(update={"indexes": named}), *spec.collections[1:]]}
    )
    svc = QueryService(
        client["eventlog"], recorder, recorder.clock, "v", now_ms=lambda: NOW_MS, collections=renamed
    )
    future = go(svc.dashboard, "tenant_acme")
    req = receive(primary, "find")
    assert req.doc["hint"] == "dash"
    req.ok(**cursor("eventlog.events", []))
    assert future().outcome == "ok"


def test_dashboard_without_a_full_index_on_its_key_is_refused_up_front(recorder: HistoryRecorder) -> None:
    spec = load_collections("platform")
    events = next(c for c in spec.collections if c.name == "events")
    only_partial = [i for i in events.indexes if i.name == "audit_events_idx"]
    broken = spec.model_copy(
        update={"collections": [events.model_copy(update={"indexes": only_partial}), *spec.collections[1:]]}
    )
    client: MongoClient[dict[str, Any]] = MongoClient(connect=False)
    with pytest.raises(ValueError, match=r"events has no index on \{'tenant_id': 1, 'event_time': -1\}"):
        QueryService(client["eventlog"], recorder, recorder.clock, "v", collections=broken)
    client.close()


def test_user_timeline_and_a_result_with_another_tenants_event(
    rs: Replset, recorder: HistoryRecorder
) -> None:
    primary, _secondary, client = rs
    svc = service(client, recorder)
    for leaked in (False, True):
        future = go(svc.user_timeline, "tenant_acme", "user_12345")
        req = receive(primary, "find")
        assert body(req) == {
            "find": "events",
            "filter": {
                "tenant_id": "tenant_acme",
                "actor.user_id": "user_12345",
                "event_time": {"$gte": naive(NOW_MS - DAY_MS)},
            },
            "sort": {"event_time": -1},
            "limit": 50,
            "readConcern": {"level": "local"},
        }
        assert "$readPreference" not in req.doc
        docs = [event("tenant_acme", "evt_1", NOW_MS - 1)]
        if leaked:  # a result that carries another tenant's document (a missing filter, say)
            docs.append(event("tenant_other", "evt_x", NOW_MS - 2))
        req.ok(**cursor("eventlog.events", docs))
        future()
        verdict = check_tenant_isolation(stream_ops(history(recorder)))
        if leaked:
            assert verdict.status == "invalid" and verdict.violations == 1
            assert "evt_x" in str(verdict.examples[0])
        else:
            assert verdict.status == "valid", verdict.summary


def test_ip_investigation_iterates_the_cursor_inside_the_op(rs: Replset, recorder: HistoryRecorder) -> None:
    primary, _secondary, client = rs
    since, until = 1_704_067_200_000, 1_705_363_200_000  # 2024-01-01 .. 2024-01-16
    future = go(service(client, recorder).ip_investigation, "tenant_acme", "192.168.1.100", since, until)
    req = receive(primary, "find")
    assert body(req) == {
        "find": "events",
        "filter": {
            "tenant_id": "tenant_acme",
            "actor.ip_address": "192.168.1.100",
            "event_time": {"$gte": naive(since), "$lt": naive(until)},
        },
        "sort": {"event_time": -1},
        "readConcern": {"level": "local"},
    }
    req.ok(**cursor("eventlog.events", [event("tenant_acme", "evt_9", until - 10)], cursor_id=42))
    req = receive(primary, "getMore")
    assert body(req)["getMore"] == 42 and body(req)["collection"] == "events"
    req.ok(**cursor("eventlog.events", [event("tenant_acme", "evt_8", since + 10)], first=False))
    assert len(future().docs) == 2
    [op] = load_history(history(recorder))
    assert op.completion is not None and op.completion["ids"] == ["evt_9", "evt_8"]
    assert op.complete_ns is not None and op.invoke_ns < op.complete_ns


def test_event_counts_aggregate_from_hourly_buckets(rs: Replset, recorder: HistoryRecorder) -> None:
    primary, _secondary, client = rs
    future = go(service(client, recorder).event_counts, "tenant_acme", read_concern="majority")
    req = receive(primary, "aggregate")
    assert body(req) == {
        "aggregate": "event_aggregates",
        "cursor": {},
        "readConcern": {"level": "majority"},
        "pipeline": [
            {
                "$match": {
                    "tenant_id": "tenant_acme",
                    "bucket_type": "hourly",
                    "bucket_time": {"$gte": naive(NOW_MS - DAY_MS)},
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
        ],
    }
    req.ok(
        **cursor("eventlog.event_aggregates", [{"_id": "page.view", "total_count": 90, "unique_users": 7}])
    )
    future()
    [op] = load_history(history(recorder))
    assert op.completion is not None
    assert op.completion["ids"] == ["page.view"] and op.completion["count"] == 1
    assert "tenants" not in op.completion  # groups carry no tenant: no isolation evidence claimed


def test_audit_retrieval_reads_majority_whatever_the_default(rs: Replset, recorder: HistoryRecorder) -> None:
    primary, _secondary, client = rs
    svc = QueryService(
        client["eventlog"], recorder, recorder.clock, "v", read_concern="local", now_ms=lambda: NOW_MS
    )
    since, until = 1_704_067_200_000, 1_706_745_600_000  # January 2024
    future = go(svc.audit_retrieval, "tenant_acme", "security", since, until)
    req = receive(primary, "find")
    assert body(req) == {
        "find": "audit_logs",
        "filter": {
            "tenant_id": "tenant_acme",
            "category": "security",
            "logged_at": {"$gte": naive(since), "$lt": naive(until)},
        },
        "sort": {"logged_at": -1},
        "readConcern": {"level": "majority"},
    }
    req.ok(**cursor("eventlog.audit_logs", [{"_id": 1, "tenant_id": "tenant_acme", "audit_id": "aud_1"}]))
    future()
    [op] = load_history(history(recorder))
    assert op.get("read_concern") == "majority"
    assert op.completion is not None and op.completion["ids"] == ["aud_1"]


def test_a_query_that_does_not_return_is_a_failed_read(rs: Replset, recorder: HistoryRecorder) -> None:
    primary, _secondary, client = rs
    future = go(service(client, recorder).dashboard, "tenant_acme")
    # A primary stepping down closes connections; pymongo retries a read once, then gives up.
    receive(primary, "find").hangup()
    receive(primary, "find").hangup()
    result = future()
    assert result.outcome == "fail" and result.error is not None
    [op] = load_history(history(recorder))
    assert op.outcome == "fail" and "AutoReconnect" in (op.completion or {})["error"]


def test_unknown_read_preference_is_refused_before_any_op(rs: Replset, recorder: HistoryRecorder) -> None:
    _primary, _secondary, client = rs
    with pytest.raises(ValueError):
        service(client, recorder).dashboard("tenant_acme", read_pref="fastest")
    assert load_history(history(recorder)) == []


# -- read-your-writes ------------------------------------------------------------------------------


def profile(version: int, tenant: str = "tenant_acme") -> dict[str, Any]:
    return {"_id": "profile:tenant_acme:u1", "tenant_id": tenant, "version": version}


def find_and_modify_reply(version: int, **extra: Any) -> dict[str, Any]:
    return {"value": profile(version), "lastErrorObject": {"n": 1, "updatedExisting": version > 1}, **extra}


def test_secondary_mode_reads_a_lagging_secondary_and_the_checker_finds_the_stale_read(
    rs: Replset, recorder: HistoryRecorder
) -> None:
    primary, secondary, client = rs
    store = ProfileStore(client, recorder, recorder.clock, "before", "secondary")
    with store.session("s1") as user:
        future = go(user.write, "tenant_acme", "profile:tenant_acme:u1")
        req = receive(primary, "findAndModify")
        assert body(req)["query"] == {"_id": "profile:tenant_acme:u1", "tenant_id": "tenant_acme"}
        assert body(req)["update"]["$inc"] == {"version": 1}
        assert (body(req)["new"], body(req)["upsert"], body(req)["writeConcern"]) == (True, True, {"w": 1})
        req.ok(**find_and_modify_reply(2))
        assert future() == 2

        future = go(user.read, "tenant_acme", "profile:tenant_acme:u1")
        req = receive(secondary, "find")
        assert req.doc["$readPreference"] == {"mode": "secondaryPreferred"}
        assert body(req)["readConcern"] == {"level": "local"}
        assert body(req)["filter"] == {"_id": "profile:tenant_acme:u1", "tenant_id": "tenant_acme"}
        req.ok(**cursor("eventlog.profiles", [profile(1)]))  # replication lag: the old version
        assert future() == 1
    path = history(recorder)
    verdict = check_read_your_writes(stream_ops(path))
    assert verdict.status == "invalid" and verdict.violations == 1
    [ex] = verdict.examples
    assert (ex["observed_version"], ex["expected_min_version"], ex["read_pref"]) == (
        1,
        2,
        "secondaryPreferred",
    )
    assert check_tenant_isolation(stream_ops(path)).status == "valid"


def test_causal_mode_sends_after_cluster_time_and_reads_its_write(
    rs: Replset, recorder: HistoryRecorder
) -> None:
    primary, secondary, client = rs
    store = ProfileStore(client, recorder, recorder.clock, "after", "causal")
    op_time = Timestamp(1_705_314_645, 7)
    cluster_time = {"clusterTime": op_time, "signature": {"hash": b"\0" * 20, "keyId": 0}}
    with store.session("s1") as user:
        future = go(user.write, "tenant_acme", "profile:tenant_acme:u1")
        req = receive(primary, "findAndModify")
        assert body(req)["writeConcern"] == {"w": "majority"}
        assert "lsid" in req.doc
        session_id = req.doc["lsid"]
        req.ok(**find_and_modify_reply(3, operationTime=op_time, **{"$clusterTime": cluster_time}))
        assert future() == 3

        future = go(user.read, "tenant_acme", "profile:tenant_acme:u1")
        req = receive(secondary, "find")
        assert req.doc["lsid"] == session_id  # the same causally consistent session
        assert req.doc["$readPreference"] == {"mode": "secondaryPreferred"}
        assert body(req)["readConcern"] == {"level": "majority", "afterClusterTime": op_time}
        req.ok(**cursor("eventlog.profiles", [profile(3)]))  # the secondary waited for it
        assert future() == 3
        future = go(user.read, "tenant_acme", "profile:tenant_acme:u1")
        receive(secondary, "find").ok(**cursor("eventlog.profiles", [profile(3)]))
        assert future() == 3
    path = history(recorder)
    assert check_read_your_writes(stream_ops(path)).status == "valid"
    assert check_monotonic_reads(stream_ops(path)).status == "valid"
    reads = [o for o in load_history(path) if o.f == "read"]
    assert [(o.get("session"), o.get("read_pref"), o.get("read_concern")) for o in reads] == [
        ("s1", "secondaryPreferred", "majority")
    ] * 2


def test_primary_mode_reads_the_primary(rs: Replset, recorder: HistoryRecorder) -> None:
    primary, _secondary, client = rs
    store = ProfileStore(client, recorder, recorder.clock, "after", "primary")
    with store.session("s1") as user:
        future = go(user.write, "tenant_acme", "profile:tenant_acme:u1")
        req = receive(primary, "findAndModify")
        assert body(req)["writeConcern"] == {"w": "majority"}
        req.ok(**find_and_modify_reply(1))
        future()
        future = go(user.read, "tenant_acme", "profile:tenant_acme:u1")
        req = receive(primary, "find")
        assert "$readPreference" not in req.doc
        assert body(req)["readConcern"] == {"level": "local"}
        req.ok(**cursor("eventlog.profiles", [profile(1)]))
        assert future() == 1
    assert check_read_your_writes(stream_ops(history(recorder))).status == "valid"


def test_profile_write_timeout_is_unknown(rs: Replset, recorder: HistoryRecorder) -> None:
    primary, _secondary, client = rs
    store = ProfileStore(client, recorder, recorder.clock, "v", "primary")
    with store.session("s1") as user:
        future = go(user.write, "tenant_acme", "profile:tenant_acme:u1")
        # A retryable write: pymongo sends it twice before giving up; either may have applied.
        receive(primary, "findAndModify").hangup()
        receive(primary, "findAndModify").hangup()
        assert future() is None
    [op] = load_history(history(recorder))
    assert op.outcome == "info"


def test_profile_write_the_shard_may_have_applied_is_unknown(rs: Replset, recorder: HistoryRecorder) -> None:
    primary, _secondary, client = rs
    store = ProfileStore(client, recorder, recorder.clock, "v", "primary")
    with store.session("s1") as user:
        future = go(user.write, "tenant_acme", "profile:tenant_acme:u1")
        receive(primary, "findAndModify").command_err(code=9001, errmsg="socket exception [SEND_ERROR]")
        assert future() is None
    [op] = load_history(history(recorder))
    assert op.outcome == "info" and "(9001)" in (op.completion or {})["error"]


def test_write_through_mode_needs_a_cache(rs: Replset, recorder: HistoryRecorder) -> None:
    _primary, _secondary, client = rs
    with pytest.raises(ValueError, match="Redis"):
        ProfileStore(client, recorder, recorder.clock, "v", "write_through")
    with pytest.raises(ValueError, match="unknown read-your-writes mode"):
        ProfileStore(client, recorder, recorder.clock, "v", "eventually")


def test_refused_upsert_is_a_failure_and_creates_nothing(rs: Replset, recorder: HistoryRecorder) -> None:
    primary, _secondary, client = rs
    worker = AggregationWorker(client["eventlog"], recorder, recorder.clock, "v", now_ms=lambda: NOW_MS)
    future = go(worker.hourly, "tenant_acme", HOUR)
    staging = {
        **hourly_result("user.login", 3),
        "dimensions": {"event_type": "user.login", "environment": "staging"},
    }
    receive(primary, "aggregate").ok(**cursor("eventlog.events", [staging]))
    # A refused upsert (here a duplicate key, as a unique index that did not cover the whole upsert
    # filter would give) is recorded as a failure and creates no document.
    receive(primary, "update").ok(
        n=0,
        nModified=0,
        writeErrors=[
            {
                "index": 0,
                "code": 11000,
                "errmsg": "E11000 duplicate key error collection: eventlog.event_aggregates"
                " index: bucket_unique",
            }
        ],
    )
    assert future().upsert_outcomes == {"ok": 0, "fail": 1, "info": 0}
    ops = load_history(history(recorder))
    [up] = [o for o in ops if o.f == "aggregate_upsert"]
    assert up.outcome == "fail" and "DuplicateKeyError (11000)" in (up.completion or {})["error"]
    assert not [o for o in ops if o.f == "doc_insert"]


def test_session_copies_expire_by_a_ttl_index(rs: Replset, recorder: HistoryRecorder) -> None:
    primary, _secondary, client = rs
    # The Redis client is never used here (constructing it does not connect).
    store = FallbackSessionStore(redis.Redis(port=1), client["eventlog"], recorder, recorder.clock, "v")
    future = go(store.ensure_indexes)
    req = receive(primary, "createIndexes")
    assert body(req) == {
        "createIndexes": "sessions",
        "indexes": [{"key": {"expires_at": 1}, "name": "ttl_expires_at", "expireAfterSeconds": 0}],
        "writeConcern": {"w": "majority"},
    }
    req.ok()
    assert future() == "ttl_expires_at"


def test_no_read_concern_sends_none_and_records_the_default(rs: Replset, recorder: HistoryRecorder) -> None:
    primary, _secondary, client = rs
    future = go(service(client, recorder).user_timeline, "tenant_acme", "u1", read_concern=None)
    req = receive(primary, "find")
    assert "readConcern" not in req.doc
    req.ok(**cursor("eventlog.events", []))
    assert future().docs == []
    [op] = load_history(history(recorder))
    assert op.get("read_concern") == "default"
    assert op.completion is not None and (op.completion["count"], op.completion["tenants"]) == (0, [])
