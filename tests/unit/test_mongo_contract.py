"""Contract tests: the exact wire commands the MongoDB plane sends, received by ``mockupdb``.

pymongo talks to a scripted server that answers the handshake as MongoDB 7.0 (wire version 21) or
8.0 (wire version 25) would; every other command is received here, asserted field by field, and
answered. This is how bring-up is tested on machines without ``mongod`` (tests/live/test_mongo.py
runs the same code against real servers where they exist).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bson import Timestamp
from bson.max_key import MaxKey
from bson.min_key import MinKey
from mockupdb import MockupDB, go
from pymongo import MongoClient
from pymongo.errors import AutoReconnect, OperationFailure

from harness.clients import mongo_stats
from harness.errors import NotHealthyError
from harness.topology import mongo as mongo_nodes
from harness.topology import mongo_commands as cmds
from harness.topology.mongo import MongoNode, MongoPlane, ReplSet
from harness.topology.mongo_spec import CollectionSpec, MemberSpec
from harness.topology.network import Host
from harness.topology.spec import load_topology
from harness.topology.toxiproxy import ProxyInfo
from tests.mockprobe import answer_probe


def receive(server: MockupDB, name: str, db: str = "admin") -> Any:
    """The next command; asserts its name and database. The caller answers it."""
    req = server.receives(timeout=10)
    assert req.command_name == name, f"expected {name}, got {req.command_name}: {req.doc}"
    assert req.namespace == db, f"{name} sent to {req.namespace}, expected {db}"
    return req


def body(req: Any) -> dict[str, Any]:
    """The command document without driver-added fields."""
    return {k: v for k, v in req.doc.items() if not k.startswith("$") and k != "lsid"}


def node(
    name: str, server: MockupDB, i: int, kind: str = "replset", member: MemberSpec | None = None
) -> MongoNode:
    """A node whose admin path is the mock server and whose proxy address is a made-up one."""
    return MongoNode(
        name=name,
        kind=kind,  # type: ignore[arg-type]
        host=Host(name, "127.0.0.1", None),
        port=server.port,
        proxy=ProxyInfo(f"{name}-client", "10.213.9.1", 31000 + i, f"10.213.9.{10 + i}:27017"),
        data_dir=Path("/nonexistent"),
        log=Path("/nonexistent.log"),
        replset="rs0",
        member=member or MemberSpec(name=name, priority=2 if i == 0 else 1),
    )


def rs_close(rs: ReplSet) -> None:
    for n in rs.nodes:
        n.close()


def status(*members: tuple[str, str, int]) -> dict[str, Any]:
    """A replSetGetStatus reply: (name, stateStr, optime seconds) per member."""
    return {
        "set": "rs0",
        "ok": 1,
        "members": [
            {
                "_id": i,
                "name": name,
                "health": 1,
                "stateStr": state,
                "optime": {"ts": Timestamp(secs, 1), "t": 1},
                "optimeDate": datetime.fromtimestamp(secs, UTC),
            }
            for i, (name, state, secs) in enumerate(members)
        ],
    }


# -- replica set --------------------------------------------------------------------------------


def test_replset_initiate_config_document(server: MockupDB, client: MongoClient[dict[str, Any]]) -> None:
    members = [
        cmds.Member(MemberSpec(name="m1", priority=2), "10.213.9.1:31000"),
        cmds.Member(MemberSpec(name="m2"), "10.213.9.1:31001"),
        cmds.Member(MemberSpec(name="m3"), "10.213.9.1:31002"),
        cmds.Member(MemberSpec(name="m4", priority=0, hidden=True, votes=0), "10.213.9.1:31003"),
        cmds.Member(
            MemberSpec(name="m5", priority=0, hidden=True, secondary_delay_secs=30, votes=0),
            "10.213.9.1:31004",
        ),
        cmds.Member(MemberSpec(name="arb", priority=0, arbiter=True), "10.213.9.1:31005"),
    ]
    config = cmds.replset_config("rs0", members, settings={"electionTimeoutMillis": 5000})
    future = go(cmds.initiate, client, config)
    req = receive(server, "replSetInitiate")
    assert body(req) == {
        "replSetInitiate": {
            "_id": "rs0",
            "version": 1,
            "members": [
                {"_id": 0, "host": "10.213.9.1:31000", "priority": 2, "votes": 1},
                {"_id": 1, "host": "10.213.9.1:31001", "priority": 1, "votes": 1},
                {"_id": 2, "host": "10.213.9.1:31002", "priority": 1, "votes": 1},
                {"_id": 3, "host": "10.213.9.1:31003", "priority": 0, "votes": 0, "hidden": True},
                {
                    "_id": 4,
                    "host": "10.213.9.1:31004",
                    "priority": 0,
                    "votes": 0,
                    "hidden": True,
                    "secondaryDelaySecs": 30,
                },
                {"_id": 5, "host": "10.213.9.1:31005", "priority": 0, "votes": 1, "arbiterOnly": True},
            ],
            "settings": {"electionTimeoutMillis": 5000},
        }
    }
    req.ok()
    future()


def test_config_server_set_is_marked_configsvr() -> None:
    config = cmds.replset_config("cfg", [cmds.Member(MemberSpec(name="cfg1"), "h:1")], configsvr=True)
    assert config["configsvr"] is True
    assert "settings" not in config


def test_initiate_tolerates_already_initialized_only(
    server: MockupDB, client: MongoClient[dict[str, Any]]
) -> None:
    future = go(cmds.initiate, client, {"_id": "rs0", "members": []})
    receive(server, "replSetInitiate").command_err(code=23, errmsg="already initialized")
    future()  # no exception: a set that is already up is left as it is

    future = go(cmds.initiate, client, {"_id": "rs0", "members": []})
    receive(server, "replSetInitiate").command_err(code=93, errmsg="InvalidReplicaSetConfig: bad host")
    with pytest.raises(OperationFailure, match="bad host"):
        future()


def test_readiness_waits_for_primary_and_catch_up_then_majority_write(server: MockupDB) -> None:
    nodes = [node(f"m{i + 1}", server, i) for i in range(3)]
    rs = ReplSet("rs0", "replset", nodes)
    a, b, c = (n.proxied for n in nodes)
    future = go(mongo_nodes.wait_replset_ready, rs, 10.0)
    # Polls until one PRIMARY and the others SECONDARY at the primary's optime.
    receive(server, "replSetGetStatus").ok(
        status((a, "SECONDARY", 100), (b, "SECONDARY", 100), (c, "STARTUP2", 0))
    )
    receive(server, "replSetGetStatus").ok(
        status((a, "PRIMARY", 101), (b, "SECONDARY", 101), (c, "SECONDARY", 99))
    )
    receive(server, "replSetGetStatus").ok(
        status((a, "PRIMARY", 101), (b, "SECONDARY", 101), (c, "SECONDARY", 101))
    )
    req = receive(server, "appendOplogNote")
    assert body(req) == {
        "appendOplogNote": 1,
        "data": {"harness": "readiness probe"},
        "writeConcern": {"w": "majority", "j": True, "wtimeout": 10_000},
    }
    req.ok()
    future()


def test_readiness_waits_for_the_highest_priority_member_to_take_over(server: MockupDB) -> None:
    nodes = [node(f"m{i + 1}", server, i) for i in range(3)]  # priorities 2/1/1
    rs = ReplSet("rs0", "replset", nodes)
    a, b, c = (n.proxied for n in nodes)
    future = go(mongo_nodes.wait_replset_ready, rs, 10.0)
    # m2 won the first election; m1 (priority 2) is a healthy secondary and will take over.
    receive(server, "replSetGetStatus").ok(
        status((a, "SECONDARY", 50), (b, "PRIMARY", 50), (c, "SECONDARY", 50))
    )
    receive(server, "replSetGetStatus").ok(
        status((a, "PRIMARY", 52), (b, "SECONDARY", 52), (c, "SECONDARY", 52))
    )
    receive(server, "appendOplogNote").ok()
    future()
    rs_close(rs)


def test_delayed_member_needs_only_to_be_secondary(server: MockupDB) -> None:
    delayed = MemberSpec(name="m4", priority=0, hidden=True, secondary_delay_secs=60, votes=0)
    nodes = [node(f"m{i + 1}", server, i) for i in range(3)] + [node("m4", server, 3, member=delayed)]
    rs = ReplSet("rs0", "replset", nodes)
    a, b, c, d = (n.proxied for n in nodes)
    future = go(mongo_nodes.wait_replset_ready, rs, 10.0)
    receive(server, "replSetGetStatus").ok(
        status((a, "PRIMARY", 200), (b, "SECONDARY", 200), (c, "SECONDARY", 200), (d, "SECONDARY", 140))
    )
    receive(server, "appendOplogNote").ok()
    future()


def test_election_that_never_happens_names_the_problem_with_a_log_tail(
    server: MockupDB, tmp_path: Path
) -> None:
    nodes = [node(f"m{i + 1}", server, i) for i in range(3)]
    for n in nodes:
        n.log = tmp_path / f"{n.name}.log"
        n.log.write_text(f"{n.name}: starting\n{n.name}: election timeout, no quorum\n")
    rs = ReplSet("rs0", "replset", nodes)
    a, b, c = (n.proxied for n in nodes)
    responder = server.autoresponds(
        "replSetGetStatus", **status((a, "SECONDARY", 5), (b, "SECONDARY", 5), (c, "SECONDARY", 5))
    )
    with pytest.raises(NotHealthyError) as err:
        mongo_nodes.wait_replset_ready(rs, 0.5)
    responder.cancel()
    rs_close(rs)
    text = str(err.value)
    assert "replica set rs0 ready not reached within 0.5s" in text
    assert "0 PRIMARY members" in text
    # The member that should have won (priority 2) is the one whose log is shown.
    assert "m1: election timeout, no quorum" in text
    assert "m2: election" not in text


def test_member_that_never_catches_up_is_named_with_its_log_tail(server: MockupDB, tmp_path: Path) -> None:
    nodes = [node(f"m{i + 1}", server, i) for i in range(3)]
    for n in nodes:
        n.log = tmp_path / f"{n.name}.log"
        n.log.write_text(f"{n.name}: oplog fetcher stopped\n")
    rs = ReplSet("rs0", "replset", nodes)
    a, b, c = (n.proxied for n in nodes)
    responder = server.autoresponds(
        "replSetGetStatus", **status((a, "PRIMARY", 300), (b, "SECONDARY", 300), (c, "SECONDARY", 250))
    )
    with pytest.raises(NotHealthyError) as err:
        mongo_nodes.wait_replset_ready(rs, 0.5)
    responder.cancel()
    rs_close(rs)
    text = str(err.value)
    assert f"member {c} has not caught up" in text
    assert "m3: oplog fetcher stopped" in text


# -- sharded cluster ------------------------------------------------------------------------------


def sharded_plane(server: MockupDB) -> MongoPlane:
    spec = load_topology("mongo-sharded").mongo
    assert spec is not None
    cfg = ReplSet("cfg", "configsvr", [node("cfg1", server, 0, "configsvr")])
    shards = [
        ReplSet(
            f"shard{s}", "shardsvr", [node(f"s{s}m{i + 1}", server, 10 * s + i, "shardsvr") for i in range(3)]
        )
        for s in (1, 2)
    ]
    mongos = [node("mongos1", server, 99, "mongos")]
    mongos[0].member = None
    return MongoPlane(spec, [cfg, *shards], mongos)


# Every DDL command carries a server-side time limit: it runs on a client without the admin
# path's short socket timeout (see mongo_commands.run_ddl).
MAX_TIME = {"maxTimeMS": 60_000}


def test_sharded_bring_up_sends_every_command_in_order(server: MockupDB) -> None:
    plane = sharded_plane(server)
    future = go(mongo_nodes.bring_up_sharding, plane, 10.0)

    for shard in plane.shards():
        req = receive(server, "addShard")
        hosts = ",".join(n.proxied for n in shard.nodes)
        assert body(req) == {"addShard": f"{shard.name}/{hosts}", "name": shard.name, **MAX_TIME}
        assert all(h.startswith("10.213.9.1:") for h in hosts.split(","))  # proxies, never direct addresses
        req.ok(shardAdded=shard.name)
    receive(server, "listShards").ok(shards=[{"_id": "shard1"}, {"_id": "shard2"}])
    req = receive(server, "enableSharding")
    assert body(req) == {"enableSharding": "eventlog", **MAX_TIME}
    req.ok()
    answer_probe(server, "sharded")  # what the server supports, asked before the collections
    for shard in ("shard1", "shard2"):  # one zone per shard, for the initial chunks
        req = receive(server, "addShardToZone")
        assert body(req) == {"addShardToZone": shard, "zone": shard, **MAX_TIME}
        req.ok()

    seen: dict[str, dict[str, Any]] = {}
    zones: dict[str, list[tuple[dict[str, Any], dict[str, Any], str]]] = {}
    for coll in ("events", "audit_logs", "event_aggregates"):
        req = receive(server, "create", db="eventlog")
        seen[f"create {coll}"] = body(req)
        req.ok()
        req = receive(server, "createIndexes", db="eventlog")
        seen[f"indexes {coll}"] = body(req)
        req.ok()
        # The zone ranges come before shardCollection: that is what spreads an empty collection.
        req = server.receives(timeout=10)
        while req.command_name == "updateZoneKeyRange":
            b = body(req)
            assert (b["updateZoneKeyRange"], b["maxTimeMS"]) == (f"eventlog.{coll}", 60_000)
            zones.setdefault(coll, []).append((b["min"], b["max"], b["zone"]))
            req.ok()
            req = server.receives(timeout=10)
        assert req.command_name == "shardCollection", req.doc
        seen[f"shard {coll}"] = body(req)
        req.ok(collectionsharded=f"eventlog.{coll}")
    req = receive(server, "insert", db="harness")
    assert body(req)["writeConcern"] == {"w": "majority", "j": True, "wtimeout": 10_000}
    req.ok(n=1)
    # Then the chunks per shard, recorded with the deployment.
    req = receive(server, "find", db="config")
    assert (body(req)["find"], body(req)["filter"]) == ("collections", {"_id": {"$regex": "^eventlog\\."}})
    namespaces = [f"eventlog.{c}" for c in ("audit_logs", "event_aggregates", "events")]
    req.ok(cursor={"id": 0, "ns": "config.collections", "firstBatch": [{"_id": ns} for ns in namespaces]})
    for ns in namespaces:
        req = receive(server, "find", db="config")
        assert body(req)["filter"] == {"_id": ns}
        req.ok(cursor={"id": 0, "ns": "config.collections", "firstBatch": [{"_id": ns, "uuid": ns}]})
        req = receive(server, "aggregate", db="config")
        assert body(req)["pipeline"][0] == {"$match": {"uuid": ns}}
        req.ok(
            cursor={
                "id": 0,
                "ns": "config.chunks",
                "firstBatch": [{"_id": "shard1", "chunks": 4}, {"_id": "shard2", "chunks": 4}],
            }
        )
    future()
    assert plane.chunks == {ns: {"shard1": 4, "shard2": 4} for ns in namespaces}

    # 2000 tenants (the collections file's presplit) in 4 ranges per shard, dealt in turn.
    starts = ["t00251", "t00501", "t00751", "t01001", "t01251", "t01501", "t01751"]
    lows = [{"tenant_id": MinKey(), "event_time": MinKey()}] + [
        {"tenant_id": t, "event_time": MinKey()} for t in starts
    ]
    highs = [*lows[1:], {"tenant_id": MaxKey(), "event_time": MaxKey()}]
    expected = [(lo, hi, f"shard{i % 2 + 1}") for i, (lo, hi) in enumerate(zip(lows, highs, strict=True))]
    assert zones["events"] == expected
    assert [z[2] for z in zones["audit_logs"]] == ["shard1", "shard2"] * 4
    assert zones["audit_logs"][1][0] == {"tenant_id": "t00251", "logged_at": MinKey()}

    assert seen["shard events"] == {
        "shardCollection": "eventlog.events",
        "key": {"tenant_id": 1, "event_time": 1},
        **MAX_TIME,
    }
    assert seen["shard audit_logs"] == {
        "shardCollection": "eventlog.audit_logs",
        "key": {"tenant_id": 1, "logged_at": 1},
        **MAX_TIME,
    }
    assert seen["shard event_aggregates"] == {
        "shardCollection": "eventlog.event_aggregates",
        "key": {"tenant_id": 1, "bucket_time": 1},
        **MAX_TIME,
    }
    assert seen["create events"] == {"create": "events", **MAX_TIME}  # no validator on events
    assert all(
        seen[f"indexes {c}"]["maxTimeMS"] == 60_000 for c in ("events", "audit_logs", "event_aggregates")
    )

    audit = seen["create audit_logs"]
    assert audit["validationLevel"] == "strict"
    assert audit["validationAction"] == "error"
    schema = audit["validator"]["$jsonSchema"]
    assert schema["required"] == ["tenant_id", "logged_at", "audit_id", "category", "action", "actor"]
    assert schema["properties"]["category"] == {"enum": ["security", "access", "data_change", "admin"]}
    assert schema["properties"]["actor"]["required"] == ["user_id"]
    # No keyword without a value: the server's $jsonSchema parser refuses `required: null` (14).
    assert schema["properties"]["tenant_id"] == {
        "bsonType": "string",
        "description": "tenant identifier, required",
    }

    events = {ix["name"]: ix for ix in seen["indexes events"]["indexes"]}
    assert events["tenant_id_1_event_time_-1"]["key"] == {"tenant_id": 1, "event_time": -1}
    assert events["tenant_id_1_actor.user_id_1_event_time_-1"]["key"] == {
        "tenant_id": 1,
        "actor.user_id": 1,
        "event_time": -1,
    }
    assert "tenant_id_1_event_type_1_event_time_-1" in events
    assert "tenant_id_1_actor.ip_address_1_event_time_-1" in events
    assert events["idempotency"] == {
        "key": {"tenant_id": 1, "event_time": 1, "event_id": 1},
        "name": "idempotency",
        "unique": True,
    }
    assert events["ttl_expires_at"] == {
        "key": {"expires_at": 1},
        "name": "ttl_expires_at",
        "expireAfterSeconds": 0,
    }
    assert events["audit_events_idx"]["partialFilterExpression"] == {"retention_class": "audit"}
    aggregates = {ix["name"]: ix for ix in seen["indexes event_aggregates"]["indexes"]}
    assert aggregates["ttl_bucket_time"]["expireAfterSeconds"] == 180 * 24 * 3600
    audit_ix = {ix["name"]: ix for ix in seen["indexes audit_logs"]["indexes"]}
    assert audit_ix["ttl_expires_at"]["expireAfterSeconds"] == 0


def test_sharding_waits_until_mongos_lists_every_shard(server: MockupDB, tmp_path: Path) -> None:
    plane = sharded_plane(server)
    plane.mongos[0].log = tmp_path / "mongos1.log"
    plane.mongos[0].log.write_text("mongos: cannot reach shard2\n")
    responders = [
        server.autoresponds(lambda req: req.command_name == "addShard" and req.ok(shardAdded="x")),
        server.autoresponds("listShards", shards=[{"_id": "shard1"}]),
    ]
    with pytest.raises(NotHealthyError) as err:
        mongo_nodes.bring_up_sharding(plane, 0.5)
    for r in responders:
        r.cancel()
    plane.close()
    assert "['shard2']" in str(err.value)
    assert "mongos: cannot reach shard2" in str(err.value)


@pytest.mark.parametrize(
    "key",
    [{"tenant_id": 1}, {"event_id": "hashed"}, {"tenant_id": 1, "event_time": 1}],
    ids=["tenant-only", "hashed-event-id", "capstone"],
)
def test_shard_collection_sends_the_chosen_key(
    server: MockupDB, client: MongoClient[dict[str, Any]], key: dict[str, Any]
) -> None:
    coll = CollectionSpec(name="events", shard_key=key)
    future = go(cmds.shard_collection, client, "eventlog", coll)
    req = receive(server, "shardCollection")
    assert body(req) == {"shardCollection": "eventlog.events", "key": key, **MAX_TIME}
    assert list(body(req)["key"]) == list(key)  # field order is part of a shard key
    req.ok()
    future()


def test_existing_collection_is_kept(server: MockupDB, client: MongoClient[dict[str, Any]]) -> None:
    future = go(cmds.create_collection, client, "eventlog", CollectionSpec(name="events"))
    receive(server, "create", db="eventlog").command_err(code=48, errmsg="Collection already exists")
    future()


@pytest.mark.parametrize(
    "transient",
    ["InterruptedDueToReplStateChange", "MaxTimeMSExpired", "hangup"],
)
def test_ddl_is_sent_again_after_a_transient_error(
    server: MockupDB, client: MongoClient[dict[str, Any]], transient: str
) -> None:
    """DDL is idempotent (a repeated shardCollection with the same key is ok, and one still running
    on the config server is joined), so a transient failure sends the same command again."""
    coll = CollectionSpec(name="events", shard_key={"tenant_id": 1, "event_time": 1})
    future = go(cmds.shard_collection, client, "eventlog", coll)
    first = receive(server, "shardCollection")
    if transient == "hangup":
        first.hangup()
    else:
        code = {"InterruptedDueToReplStateChange": 11602, "MaxTimeMSExpired": 50}[transient]
        first.command_err(code=code, errmsg=transient)
    again = receive(server, "shardCollection")
    assert body(again) == body(first)
    again.ok(collectionsharded="eventlog.events")
    future()


def test_ddl_is_not_repeated_after_a_real_error(
    server: MockupDB, client: MongoClient[dict[str, Any]]
) -> None:
    coll = CollectionSpec(name="events", shard_key={"tenant_id": 1})
    future = go(cmds.shard_collection, client, "eventlog", coll)
    receive(server, "shardCollection").command_err(code=61, errmsg="ShardKeyNotFound: no such index")
    with pytest.raises(OperationFailure, match="ShardKeyNotFound"):
        future()
    future = go(client.admin.command, "ping")
    receive(server, "ping").ok()  # the next command on the wire: the failed one was not sent again
    future()


def test_ddl_client_has_no_short_socket_timeout(server: MockupDB) -> None:
    plane = sharded_plane(server)
    with mongo_nodes.ddl_client(plane, 5.0) as ddl:
        timeout = ddl.options.pool_options.socket_timeout
        # Longer than any DDL command may run on the server: the server's maxTimeMS answers first.
        assert timeout is None or timeout > 60
        assert ddl.options.pool_options.connect_timeout <= 5


# -- fault primitives ------------------------------------------------------------------------------


def test_step_down_expects_a_reply(server: MockupDB, client: MongoClient[dict[str, Any]]) -> None:
    future = go(cmds.step_down, client, 30, 5)
    req = receive(server, "replSetStepDown")
    assert body(req) == {"replSetStepDown": 30, "secondaryCatchUpPeriodSecs": 5}
    req.ok()
    future()

    # Since 4.2 a stepping-down primary keeps its connections and answers: a dropped connection
    # is a failure (the step-down may or may not have happened), not a sign of success.
    future = go(cmds.step_down, client, 30, 5)
    receive(server, "replSetStepDown").hangup()
    with pytest.raises(AutoReconnect):
        future()


def test_freeze_and_fail_points(server: MockupDB, client: MongoClient[dict[str, Any]]) -> None:
    future = go(cmds.freeze, client, 20)
    req = receive(server, "replSetFreeze")
    assert body(req) == {"replSetFreeze": 20}
    req.ok()
    future()

    future = go(cmds.fail_point, client, "stopReplProducer")
    req = receive(server, "configureFailPoint")
    assert body(req) == {"configureFailPoint": "stopReplProducer", "mode": "alwaysOn"}
    req.ok(count=7)  # times the fail point was entered before this command
    assert future() == 7

    future = go(cmds.fail_point, client, "stopReplProducer", "off")
    req = receive(server, "configureFailPoint")
    assert body(req) == {"configureFailPoint": "stopReplProducer", "mode": "off"}
    req.ok()
    future()

    future = go(
        cmds.fail_point, client, "failCommand", {"times": 3}, {"failCommands": ["insert"], "errorCode": 91}
    )
    req = receive(server, "configureFailPoint")
    assert body(req) == {
        "configureFailPoint": "failCommand",
        "mode": {"times": 3},
        "data": {"failCommands": ["insert"], "errorCode": 91},
    }
    req.ok()
    future()


def test_unfreeze_tolerates_only_a_member_that_is_primary(
    server: MockupDB, client: MongoClient[dict[str, Any]]
) -> None:
    future = go(cmds.unfreeze, client)
    req = receive(server, "replSetFreeze")
    assert body(req) == {"replSetFreeze": 0}
    req.ok(info="unfreezing")
    future()

    # A primary (or a candidate) cannot be frozen, so there is nothing to unfreeze: NotSecondary.
    future = go(cmds.unfreeze, client)
    receive(server, "replSetFreeze").command_err(
        code=95, errmsg="Cannot freeze node when primary or running for election, state: Primary"
    )
    future()

    future = go(cmds.unfreeze, client)
    receive(server, "replSetFreeze").command_err(code=94, errmsg="NotYetInitialized")
    with pytest.raises(OperationFailure, match="NotYetInitialized"):
        future()


def test_wait_for_fail_point_waits_for_the_next_entry_with_a_time_limit(
    server: MockupDB, client: MongoClient[dict[str, Any]]
) -> None:
    future = go(cmds.wait_for_fail_point, client, "stopReplProducer", 8, 8000)
    req = receive(server, "waitForFailPoint")
    assert body(req) == {"waitForFailPoint": "stopReplProducer", "timesEntered": 8, "maxTimeMS": 8000}
    req.ok()
    future()

    future = go(cmds.wait_for_fail_point, client, "stopReplProducer", 8, 8000)
    receive(server, "waitForFailPoint").command_err(code=50, errmsg="operation exceeded time limit")
    with pytest.raises(OperationFailure, match="exceeded time limit"):
        future()  # never entered in time: the caller must not go on as if it had been


# -- server-side facts -----------------------------------------------------------------------------


def test_members_primary_optimes_and_lag(server: MockupDB, client: MongoClient[dict[str, Any]]) -> None:
    future = go(mongo_stats.members, client)
    receive(server, "replSetGetStatus").ok(
        status(("h:1", "PRIMARY", 1000), ("h:2", "SECONDARY", 997), ("h:3", "SECONDARY", 1000))
    )
    facts = future()
    assert [(f.name, f.state, f.optime, f.lag_s) for f in facts] == [
        ("h:1", "PRIMARY", (1000, 1), 0.0),
        ("h:2", "SECONDARY", (997, 1), 3.0),
        ("h:3", "SECONDARY", (1000, 1), 0.0),
    ]


def test_opcounters_from_server_status(server: MockupDB, client: MongoClient[dict[str, Any]]) -> None:
    future = go(mongo_stats.opcounters, client)
    req = receive(server, "serverStatus")
    assert body(req) == {"serverStatus": 1, "repl": 0, "metrics": 0, "locks": 0, "wiredTiger": 0}
    req.ok(opcounters={"insert": 120, "query": 7, "update": 3, "delete": 0, "getmore": 1, "command": 40})
    assert future() == {"insert": 120, "query": 7, "update": 3, "delete": 0, "getmore": 1, "command": 40}


def test_chunk_distribution_joins_collections_by_uuid(
    server: MockupDB, client: MongoClient[dict[str, Any]]
) -> None:
    import uuid

    from bson.binary import Binary, UuidRepresentation

    coll_uuid = Binary.from_uuid(uuid.UUID(int=7), UuidRepresentation.STANDARD)
    future = go(mongo_stats.chunk_distribution, client, "eventlog.events")
    req = receive(server, "find", db="config")
    assert body(req)["find"] == "collections"
    assert body(req)["filter"] == {"_id": "eventlog.events"}
    req.ok(
        cursor={
            "id": 0,
            "ns": "config.collections",
            "firstBatch": [{"_id": "eventlog.events", "uuid": coll_uuid}],
        }
    )
    req = receive(server, "aggregate", db="config")
    assert body(req)["aggregate"] == "chunks"
    assert body(req)["pipeline"] == [
        {"$match": {"uuid": coll_uuid}},
        {"$group": {"_id": "$shard", "chunks": {"$sum": 1}}},
    ]
    req.ok(
        cursor={
            "id": 0,
            "ns": "config.chunks",
            "firstBatch": [{"_id": "shard1", "chunks": 5}, {"_id": "shard2", "chunks": 3}],
        }
    )
    assert future() == {"shard1": 5, "shard2": 3}


def test_status_health_names_states_and_lag(server: MockupDB) -> None:
    endpoints = {
        "mode": "replset",
        "database": "eventlog",
        "replsets": [
            {
                "name": "rs0",
                "members": [
                    {"name": "m1", "proxy": "10.213.9.1:31000", "address": f"127.0.0.1:{server.port}"},
                    {"name": "m2", "proxy": "10.213.9.1:31001", "address": f"127.0.0.1:{server.port}"},
                ],
            }
        ],
        "mongos": [],
    }
    future = go(mongo_stats.mongo_health, endpoints)
    receive(server, "replSetGetStatus").ok(
        status(("10.213.9.1:31000", "PRIMARY", 500), ("10.213.9.1:31001", "SECONDARY", 498))
    )
    assert future() == {"m1": "PRIMARY", "m2": "SECONDARY, lag 2.0s"}


def test_a_down_member_is_reported_down_without_lag(server: MockupDB) -> None:
    # A member the set cannot reach reports health 0 and the null optime (epoch 1970): its "lag"
    # would read as ~1.7e9 s.
    reply = status(
        ("10.213.9.1:31000", "PRIMARY", 1_700_000_000),
        ("10.213.9.1:31001", "SECONDARY", 1_699_999_998),
        ("10.213.9.1:31002", "(not reachable/healthy)", 0),
    )
    reply["members"][2]["health"] = 0
    facts = mongo_stats.parse_members(reply)
    assert [(f.state, f.healthy, f.lag_s) for f in facts] == [
        ("PRIMARY", True, 0.0),
        ("SECONDARY", True, 2.0),
        ("(not reachable/healthy)", False, None),
    ]

    endpoints = {
        "mode": "replset",
        "database": "eventlog",
        "replsets": [
            {
                "name": "rs0",
                "members": [
                    {
                        "name": f"m{i + 1}",
                        "proxy": f"10.213.9.1:{31000 + i}",
                        "address": f"127.0.0.1:{server.port}",
                    }
                    for i in range(3)
                ],
            }
        ],
        "mongos": [],
    }
    future = go(mongo_stats.mongo_health, endpoints)
    receive(server, "replSetGetStatus").ok(reply)
    assert future() == {"m1": "PRIMARY", "m2": "SECONDARY, lag 2.0s", "m3": "down (not reachable/healthy)"}


# -- the reset between variants ---------------------------------------------------------------------


def test_reset_drops_and_recreates_instead_of_deleting(
    server: MockupDB, client: MongoClient[dict[str, Any]]
) -> None:
    """deleteMany({}) with w: majority writes (and replicates) one delete per document, under a
    short socket timeout; dropping is one command per collection, and the collections, indexes
    and validators are then created again as at bring-up."""
    from harness.workload.platform.mongo_side import VARIANT_COLLECTIONS, reset_collections

    plane = MongoPlane(load_topology("mongo-rs").mongo)  # type: ignore[arg-type]
    future = go(reset_collections, client, plane)
    for name in VARIANT_COLLECTIONS:
        req = receive(server, "drop", db="eventlog")
        assert body(req) == {"drop": name, "writeConcern": {"w": "majority"}, **MAX_TIME}
        if name == "sessions":
            req.command_err(code=26, errmsg="ns not found")  # never created: nothing to drop
        else:
            req.ok()
    created = []
    for _ in ("events", "audit_logs", "event_aggregates"):
        req = receive(server, "create", db="eventlog")
        created.append(body(req)["create"])
        req.ok()
        receive(server, "createIndexes", db="eventlog").ok()
    future()
    assert created == ["events", "audit_logs", "event_aggregates"]  # a replica set: no sharding


def test_a_scenario_presplits_for_its_own_tenant_count(server: MockupDB) -> None:
    """The reset before a variant spreads the chunks for the tenants that variant writes."""
    plane = sharded_plane(server)
    with mongo_nodes.ddl_client(plane, 5.0) as client:
        future = go(mongo_nodes.create_collections, client, plane, sharded=True, tenants=4)
        for shard in ("shard1", "shard2"):
            req = receive(server, "addShardToZone")
            assert body(req)["addShardToZone"] == shard
            req.ok()
        for coll in ("events", "audit_logs", "event_aggregates"):
            req = receive(server, "create", db="eventlog")
            assert body(req)["create"] == coll
            req.ok()
            receive(server, "createIndexes", db="eventlog").ok()
            firsts = []
            for _ in range(4):  # 4 tenants: 4 ranges of one tenant, not 8 (4 per shard)
                req = receive(server, "updateZoneKeyRange")
                firsts.append((body(req)["min"]["tenant_id"], body(req)["zone"]))
                req.ok()
            assert firsts == [
                (MinKey(), "shard1"),
                ("t00002", "shard2"),
                ("t00003", "shard1"),
                ("t00004", "shard2"),
            ]
            receive(server, "shardCollection").ok()
        future()


def test_hashed_and_unsharded_collections_get_no_zones(server: MockupDB) -> None:
    """A hashed key is spread by shardCollection itself (an empty collection gets chunks on every
    shard); a replica set shards nothing."""
    from harness.topology.mongo_spec import CollectionsFile

    plane = sharded_plane(server)
    hashed = CollectionsFile(collections=[CollectionSpec(name="events", shard_key={"event_id": "hashed"})])
    plane.spec = plane.spec.model_copy(update={"collections": hashed})
    with mongo_nodes.ddl_client(plane, 5.0) as client:
        future = go(mongo_nodes.create_collections, client, plane, sharded=True)
        receive(server, "create", db="eventlog").ok()
        req = receive(server, "shardCollection")
        assert body(req) == {"shardCollection": "eventlog.events", "key": {"event_id": "hashed"}, **MAX_TIME}
        req.ok()
        future()
