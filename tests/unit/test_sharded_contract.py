"""Contract tests of the sharded case studies' MongoDB paths: the exact commands they send, received
by ``mockupdb`` (answering the handshake as MongoDB 7.0 and 8.0) and answered as mongos or a shard
primary would.

Pinned here: the events collection dropped and created again on each variant's shard key (zones,
``createIndexes`` with the idempotency index moved behind the key, the zone ranges that deal the
whale's suffixes, ``shardCollection`` with the key), the chunks read back, ``explain`` of the
dashboard query, the insert counters of each shard primary (``hello`` to find it, then
``serverStatus``), the dashboard ``find`` itself, and inserts carrying the suffix with a duplicate
recognised on the moved idempotency index."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bson.max_key import MaxKey
from bson.min_key import MinKey
from mockupdb import MockupDB, go
from pymongo import MongoClient

from harness.clock import RunClock, seeded_random
from harness.history.loader import load_history
from harness.history.recorder import HistoryRecorder
from harness.topology import mongo as mongo_nodes
from harness.topology.mongo_spec import load_collections
from harness.workload.engine.profile import constant
from harness.workload.model.generator import EventGenerator
from harness.workload.model.tenants import TenantMix, TenantPicker
from harness.workload.mongo_plane.ingest import MongoIngestConfig, MongoIngestor
from harness.workload.mongo_plane.shard_load import ShardCounters
from harness.workload.mongo_plane.shard_reads import DashboardReads, ReadConfig
from harness.workload.mongo_plane.sharded_events import (
    ShardedConfig,
    ShardedEvents,
    idempotency_key,
    shard_suffix,
    suffix_fields,
)
from tests.mockrs import body, cursor, receive
from tests.sharded import mock_sharded_plane

MAX_TIME = {"maxTimeMS": 60_000}
HINT = "tenant_id_1_event_time_-1"
SUFFIXED = {"tenant_id": 1, "shard_suffix": 1, "event_time": 1}
Client = MongoClient[dict[str, Any]]


@pytest.fixture
def rec(tmp_path: Path) -> Iterator[HistoryRecorder]:
    with HistoryRecorder(tmp_path / "history.jsonl", RunClock()) as r:
        yield r


def events_load(server: MockupDB, client: Client, rec: HistoryRecorder, key: dict[str, Any]) -> ShardedEvents:
    """The kind's load for 8 tenants and a whale (its suffixes over 4 values when the key has them)."""
    spec = load_collections("platform").collection("events").sharded_on(key)
    mix = TenantMix(8, 0.5, "whale", 0.4)
    cfg = ShardedConfig(
        profile=constant(10),
        duration_s=1,
        spec=spec,
        tenants=8,
        chunks_per_shard=2,
        hot={"whale": 4} if "shard_suffix" in key else {},
        whale="whale",
        explain_tenants=("t00003", "whale"),
    )
    gen = EventGenerator(TenantPicker(mix, random.Random(1)), random.Random(2))
    plane = mock_sharded_plane(server)
    return ShardedEvents(plane, (client, client), rec, rec.clock, cfg, "v", gen, lambda: "t00001")


def explain_reply(stage: str, shards: list[str]) -> dict[str, Any]:
    entries = [
        {
            "explainVersion": "2",
            "shardName": s,
            "connectionString": f"{s}/10.213.9.1:31010",
            "serverInfo": {"host": s},
            "namespace": "eventlog.events",
            "winningPlan": {"queryPlan": {"stage": "LIMIT"}, "slotBasedPlan": {}},
            "rejectedPlans": [],
        }
        for s in shards
    ]
    return {"queryPlanner": {"winningPlan": {"stage": stage, "shards": entries}}}


def answer_chunks(server: MockupDB, chunks: dict[str, int]) -> None:
    req = receive(server, "find", db="config")
    assert (body(req)["find"], body(req)["filter"]) == ("collections", {"_id": "eventlog.events"})
    req.ok(cursor("config.collections", [{"_id": "eventlog.events", "uuid": "u1"}]))
    req = receive(server, "aggregate", db="config")
    assert body(req)["pipeline"][0] == {"$match": {"uuid": "u1"}}
    req.ok(cursor("config.chunks", [{"_id": s, "chunks": n} for s, n in chunks.items()]))


def expect_recreate(server: MockupDB, key: dict[str, Any]) -> list[tuple[Any, Any, str]]:
    """Receives and checks the reset of ``events`` on ``key``; returns the zone ranges sent."""
    req = receive(server, "drop")
    assert body(req) == {"drop": "events", "writeConcern": {"w": "majority"}, **MAX_TIME}
    req.ok()
    hashed = "hashed" in key.values()
    if not hashed:  # ranged on tenant_id: one zone per shard, for the initial chunks
        for shard in ("shard1", "shard2"):
            req = receive(server, "addShardToZone", db="admin")
            assert body(req) == {"addShardToZone": shard, "zone": shard, **MAX_TIME}
            req.ok()
    receive(server, "create").ok()
    req = receive(server, "createIndexes")
    unique = [i for i in body(req)["indexes"] if i.get("unique")]
    moved = dict.fromkeys(key, 1) | {f: 1 for f in ("tenant_id", "event_time", "event_id") if f not in key}
    assert unique == [{"key": moved, "name": "idempotency", "unique": True}]
    assert list(unique[0]["key"]) == list(moved)  # the shard key's fields first, in its order
    req.ok()
    zones = []
    req = server.receives(timeout=10)
    while req.command_name == "updateZoneKeyRange":
        b = body(req)
        assert (b["updateZoneKeyRange"], b["maxTimeMS"]) == ("eventlog.events", 60_000)
        zones.append((b["min"], b["max"], b["zone"]))
        req.ok()
        req = server.receives(timeout=10)
    assert req.command_name == "shardCollection"
    assert body(req) == {"shardCollection": "eventlog.events", "key": key, **MAX_TIME}
    assert list(body(req)["key"]) == list(key)
    req.ok(collectionsharded="eventlog.events")
    return zones


def expect_explains(server: MockupDB, tenants: list[str], reply: dict[str, Any]) -> None:
    for tenant in tenants:
        req = receive(server, "explain")
        b = body(req)
        assert b["verbosity"] == "queryPlanner"
        find = b["explain"]
        assert list(find) == ["find", "filter", "sort", "limit", "hint"]
        assert (find["find"], find["sort"], find["limit"], find["hint"]) == (
            "events",
            {"event_time": -1},
            100,
            HINT,
        )
        assert find["filter"]["tenant_id"] == tenant and list(find["filter"]["event_time"]) == ["$gte"]
        req.ok(reply)


@pytest.mark.parametrize(
    "key",
    [{"tenant_id": 1}, {"tenant_id": 1, "event_time": 1}, {"event_id": "hashed"}],
    ids=["tenant-only", "capstone", "hashed-event-id"],
)
def test_each_variant_key_recreates_events_and_explains_the_dashboard(
    server: MockupDB, client: Client, rec: HistoryRecorder, key: dict[str, Any]
) -> None:
    load = events_load(server, client, rec, key)
    plane = load.plane
    with mongo_nodes.ddl_client(plane, 5.0) as ddl:
        future = go(load.prepare, ddl)
        zones = expect_recreate(server, key)
        answer_chunks(server, {"shard1": 2, "shard2": 2})
        scatter = "hashed" in key.values()
        reply = (
            explain_reply("SHARD_MERGE_SORT", ["shard1", "shard2"])
            if scatter
            else explain_reply("SINGLE_SHARD", ["shard2"])
        )
        expect_explains(server, ["t00003", "whale"], reply)
        future()
    plane.close()
    if scatter:
        assert zones == []  # shardCollection spreads a hashed key itself
    else:
        rest = {f: MinKey() for f in list(key)[1:]}
        assert [z[0]["tenant_id"] for z in zones] == [MinKey(), "t00003", "t00005", "t00007"]
        assert [z[2] for z in zones] == ["shard1", "shard2", "shard1", "shard2"]
        assert zones[1][0] == {"tenant_id": "t00003", **rest}
    assert load.chunks == {"shard1": 2, "shard2": 2}
    figures = load.summary()["explain"]
    assert figures["shards_per_query_mean"] == (2 if scatter else 1)
    assert figures["targeted_share"] == (0 if scatter else 1)


def test_the_suffix_key_deals_the_whale_over_the_shards(
    server: MockupDB, client: Client, rec: HistoryRecorder
) -> None:
    load = events_load(server, client, rec, SUFFIXED)
    with mongo_nodes.ddl_client(load.plane, 5.0) as ddl:
        future = go(load.prepare, ddl)
        zones = expect_recreate(server, SUFFIXED)
        answer_chunks(server, {"shard1": 5, "shard2": 5})
        expect_explains(server, ["t00003"], explain_reply("SINGLE_SHARD", ["shard1"]))
        expect_explains(server, ["whale"], explain_reply("SHARD_MERGE_SORT", ["shard1", "shard2"]))
        future()
    load.plane.close()
    whale = [
        (z[0]["shard_suffix"], z[1]["shard_suffix"], z[2]) for z in zones if z[0]["tenant_id"] == "whale"
    ]
    assert whale == [
        (MinKey(), 1, "shard1"),
        (1, 2, "shard2"),
        (2, 3, "shard1"),
        (3, MaxKey(), "shard2"),
        (
            MaxKey(),
            {"tenant_id": MaxKey(), "shard_suffix": MaxKey(), "event_time": MaxKey()}["shard_suffix"],
            "shard2",
        ),
    ]
    assert zones[-1][1] == {"tenant_id": MaxKey(), "shard_suffix": MaxKey(), "event_time": MaxKey()}
    assert load.summary()["explain"]["whale_shards"] == 2


def test_each_shard_primary_is_found_then_its_insert_counter_read(server: MockupDB) -> None:
    plane = mock_sharded_plane(server)
    counters = ShardCounters(plane)
    future = go(counters.sample)
    for n in (1200, 800):  # each shard's members asked hello first (the mock: a writable primary)
        req = receive(server, "serverStatus", db="admin")
        assert body(req) == {"serverStatus": 1, "repl": 0, "metrics": 0, "locks": 0, "wiredTiger": 0}
        req.ok(opcounters={"insert": n, "query": 3, "update": 0, "delete": 0, "getmore": 0, "command": 9})
    future()
    plane.close()
    assert [(s.shard, s.node, s.inserts) for s in counters.samples] == [
        ("shard1", "s1m1", 1200),
        ("shard2", "s2m1", 800),
    ]


def test_the_dashboard_find_and_its_op(server: MockupDB, client: Client, rec: HistoryRecorder) -> None:
    cfg = ReadConfig(reads_per_s=1, duration_s=1, workers=1, slow_ms=50, hint=HINT)
    reads = DashboardReads(client["eventlog"]["events"], rec, rec.clock, cfg, "v", lambda: "t00007")
    future = go(reads.read, "t00007", rec.clock.now_ns())
    req = receive(server, "find")
    b = body(req)
    assert {k: b[k] for k in ("find", "sort", "limit", "hint")} == {
        "find": "events",
        "sort": {"event_time": -1},
        "limit": 100,
        "hint": HINT,
    }
    assert b["filter"]["tenant_id"] == "t00007"
    since = b["filter"]["event_time"]["$gte"]
    docs = [{"event_id": f"e{i}", "tenant_id": "t00007"} for i in range(2)]
    req.ok(cursor("eventlog.events", docs))
    future()
    future = go(reads.read, "t00008", rec.clock.now_ns())
    receive(server, "find").hangup()  # the connection dropped: whether the shards ran it is unknown
    receive(server, "find").hangup()  # pymongo's one retryable-read attempt, dropped too
    future()
    future = go(reads.read, "t00009", rec.clock.now_ns())
    receive(server, "find").command_err(
        code=2, errmsg="hint provided does not correspond to an existing index"
    )
    future()
    rec.close()
    ops = [o for o in load_history(rec.path) if o.f == "dashboard"]
    assert [(o.process, o.outcome, o.get("tenant")) for o in ops] == [
        ("dashboard-reads", "ok", "t00007"),
        ("dashboard-reads", "info", "t00008"),
        ("dashboard-reads", "fail", "t00009"),
    ]
    ok = ops[0]
    assert ok.completion is not None and ok.completion["tenants"] == ["t00007", "t00007"]
    assert ok.completion["ids"] == ["e0", "e1"] and ok.get("read_pref") == "primary"
    assert since == dt.datetime.fromtimestamp(ok.get("since_ms") / 1000, tz=dt.UTC).replace(tzinfo=None)
    summary = reads.stats.summary(50)
    assert (summary["reads"], summary["not_ok"]) == (3, 2)


def test_inserts_carry_the_suffix_and_a_resend_is_recognised_on_the_moved_index(
    server: MockupDB, client: Client, rec: HistoryRecorder
) -> None:
    spec = load_collections("platform").collection("events").sharded_on(SUFFIXED)
    cfg = MongoIngestConfig(retry_backoff_s=0.0, record_docs=False, idempotency_key=idempotency_key(spec))
    writer = MongoIngestor(client, rec, rec.clock, cfg, "v", extra_fields=suffix_fields({"whale": 4}))
    gen = EventGenerator(
        TenantPicker(TenantMix(2, 0.0, "whale", 0.5), seeded_random(1, "t")), random.Random(3)
    )
    events = gen.batch(0, [1_700_000_000_000 + i for i in range(6)])
    future = go(writer.write, events)
    req = receive(server, "insert")
    docs = body(req)["documents"]
    assert [d["shard_suffix"] for d in docs] == [
        shard_suffix(e.event_id, 4) if e.tenant == "whale" else 0 for e in events
    ]
    dup = {"code": 11000, "errmsg": "E11000 duplicate key error"}
    moved = {"tenant_id": 1, "shard_suffix": 1, "event_time": 1, "event_id": 1}
    req.ok(
        n=4,
        writeErrors=[
            {"index": 0, **dup, "keyPattern": moved},  # an earlier send stored it: already stored
            {"index": 1, **dup, "keyPattern": {"_id": 1}},  # another unique index: not ours to excuse
        ],
    )
    outcomes = future()
    assert [(o.outcome.value, o.detail) for o in outcomes[:2]] == [
        ("ok", "already-stored"),
        ("fail", "write-error"),
    ]
    assert all(o.detail == "inserted" for o in outcomes[2:])


def test_a_short_run_inserts_every_event_once_and_a_writer_behind_catches_up_in_batches(
    server: MockupDB, client: Client, rec: HistoryRecorder
) -> None:
    """200 events/s for half a second while the first inserts take 0.2 s to answer: every event is
    sent once and acknowledged, the writers behind take what waits in batches (not one round trip
    per event), and the counters are sampled at the start and at the end."""
    import dataclasses
    import time

    load = events_load(server, client, rec, {"tenant_id": 1})
    load.cfg = dataclasses.replace(load.cfg, profile=constant(200), duration_s=0.5, max_batch=50)
    sizes: list[int] = []

    def on_insert(req: Any) -> bool:
        if req.command_name != "insert":
            return False
        sizes.append(len(req["documents"]))
        if len(sizes) <= 2:
            time.sleep(0.2)  # a slow shard: the schedule goes on, the writers fall behind
        req.ok(n=sizes[-1])
        return True

    status = {"insert": 0, "query": 0, "update": 0, "delete": 0, "getmore": 0, "command": 0}
    responders = [
        server.autoresponds(on_insert),
        server.autoresponds(lambda req: req.command_name == "serverStatus" and req.ok(opcounters=status)),
    ]
    try:
        stats = load.run()
    finally:
        for r in responders:
            r.cancel()
        load.plane.close()
    assert stats.offered == 100 and stats.admitted == 100 and stats.unsent == 0
    assert sum(sizes) == 100 and max(sizes) > 1 and len(sizes) < 100
    assert len(load.counters.samples) >= 4  # both shards, at the start and at the end
    got = load.summary()
    assert got["insert_outcomes"] == {"ok": 100, "fail": 0, "info": 0}
    assert got["insert_latency_ms"]["max"] >= 200  # from the schedule, the slow replies included
    assert got["busiest_share"] is None and "counted 0 inserts for 100" in got["unjudged"]
