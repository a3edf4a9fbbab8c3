"""The mongo section of topologies: shipped files, and what MongoDB would refuse, caught at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import HarnessError, SpecError
from harness.topology import mongo as mongo_nodes
from harness.topology import mongo_spec
from harness.topology.mongo_spec import CollectionSpec, IndexSpec, load_collections
from harness.topology.network import LoopbackNetwork
from harness.topology.spec import load_topology


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "topo.yaml"
    path.write_text(text)
    return path


def test_replica_set_shape() -> None:
    spec = load_topology("mongo-rs").mongo
    assert spec is not None and spec.replset is not None
    assert [(m.name, m.priority) for m in spec.replset.members] == [("m1", 2), ("m2", 1), ("m3", 1)]
    assert spec.settings.ttl_monitor_sleep_secs == 5
    assert spec.settings.enable_test_commands


def test_sharded_and_platform_shapes() -> None:
    for name in ("mongo-sharded", "platform"):
        topo = load_topology(name)
        assert topo.mongo is not None
        sh = topo.mongo.sharding()
        assert (sh.config_servers, sh.shards, sh.members_per_shard, sh.mongos) == (1, 2, 3, 1)
    assert load_topology("platform").redis is not None


def test_platform_collections_follow_the_capstone() -> None:
    colls = {c.name: c for c in load_collections("platform").collections}
    assert colls["events"].shard_key == {"tenant_id": 1, "event_time": 1}
    assert colls["audit_logs"].shard_key == {"tenant_id": 1, "logged_at": 1}
    assert colls["event_aggregates"].shard_key == {"tenant_id": 1, "bucket_time": 1}
    ttl = {c: [i for i in colls[c].indexes if i.expire_after_seconds is not None] for c in colls}
    assert [i.expire_after_seconds for i in ttl["events"]] == [0]
    assert [i.expire_after_seconds for i in ttl["event_aggregates"]] == [180 * 86400]
    assert colls["audit_logs"].validation_level == "strict"
    assert colls["audit_logs"].validation_action == "error"
    for coll in colls.values():
        assert coll.unique_index_problems() == []


def test_sharded_layout_and_command_lines(tmp_path: Path) -> None:
    spec = load_topology("mongo-sharded").mongo
    assert spec is not None
    layout = mongo_nodes._layout(spec)
    assert [(name, kind, [m.name for m in ms]) for name, kind, ms in layout] == [
        ("cfg", "configsvr", ["cfg1"]),
        ("shard1", "shardsvr", ["s1m1", "s1m2", "s1m3"]),
        ("shard2", "shardsvr", ["s2m1", "s2m2", "s2m3"]),
    ]
    assert [m.priority for m in layout[1][2]] == [2, 1, 1]


def test_mongod_command_line() -> None:
    from harness.topology.mongo_plane import MongoNode, _mongod_argv
    from harness.topology.network import Host
    from harness.topology.toxiproxy import ProxyInfo

    spec = load_topology("mongo-sharded").mongo
    assert spec is not None
    node = MongoNode(
        "s1m1", "shardsvr", Host("s1m1", "10.213.0.10", "hx-x"), 27017,
        ProxyInfo("s1m1-client", "10.213.0.1", 40000, "10.213.0.10:27017"),
        Path("/run/data/s1m1"), Path("/run/logs/s1m1.log"), replset="shard1",
    )  # fmt: skip
    argv = _mongod_argv("/bin/mongod", node, spec)
    joined = " ".join(argv)
    for part in (
        "--replSet shard1",
        "--port 27017",
        "--bind_ip 10.213.0.10",
        "--dbpath /run/data/s1m1",
        "--nounixsocket",
        "--wiredTigerCacheSizeGB 0.25",
        "--oplogSize 128",
        "--setParameter ttlMonitorSleepSecs=5",
        "--setParameter enableTestCommands=1",
        "--shardsvr",
    ):
        assert part in joined, part
    assert "--configsvr" not in argv
    assert "--fork" not in argv  # supervised in the foreground, never daemonized


def set_parameters(tmp_path: Path, settings: str = "{}") -> tuple[list[str], list[str]]:
    """The ``--setParameter`` values of a shard member's and a mongos's command lines."""
    from harness.topology.mongo_plane import MongoNode, ReplSet, _mongod_argv, _mongos_argv
    from harness.topology.network import Host
    from harness.topology.toxiproxy import ProxyInfo

    spec = load_topology(write(tmp_path, f"name: x\nmongo: {{mode: sharded, settings: {settings}}}\n")).mongo
    assert spec is not None

    def node(name: str, kind: str) -> MongoNode:
        return MongoNode(
            name, kind, Host(name, "10.213.0.10", None), 27017,  # type: ignore[arg-type]
            ProxyInfo(f"{name}-client", "10.213.0.1", 40000, "10.213.0.10:27017"),
            tmp_path / name, tmp_path / f"{name}.log", replset="shard1" if kind == "shardsvr" else None,
        )  # fmt: skip

    def values(argv: list[str]) -> list[str]:
        return [argv[i + 1] for i, a in enumerate(argv) if a == "--setParameter"]

    config = ReplSet("cfg", "configsvr", [node("cfg1", "configsvr")])
    return (
        values(_mongod_argv("/bin/mongod", node("s1m1", "shardsvr"), spec)),
        values(_mongos_argv("/bin/mongos", node("mongos1", "mongos"), config, spec)),
    )


def test_each_binary_gets_its_own_set_parameters(tmp_path: Path) -> None:
    """A mongod-only parameter given to a mongos stops it at startup ("Unknown --setParameter"),
    so each binary gets only its own map."""
    mongod, mongos = set_parameters(
        tmp_path,
        "{mongod_parameters: {wiredTigerConcurrentReadTransactions: 64, oplogFetcherUsesExhaust: false}, "
        "mongos_parameters: {ShardingTaskExecutorPoolMinSize: 2}}",
    )
    assert "wiredTigerConcurrentReadTransactions=64" in mongod
    assert "oplogFetcherUsesExhaust=false" in mongod
    assert "ShardingTaskExecutorPoolMinSize=2" not in mongod
    assert "ShardingTaskExecutorPoolMinSize=2" in mongos
    assert not [p for p in mongos if p.startswith(("wiredTiger", "oplogFetcher"))]
    assert "enableTestCommands=1" in mongod and "enableTestCommands=1" in mongos


def test_sigterm_quiesce_is_short_on_each_binary(tmp_path: Path) -> None:
    """Since 5.0 a SIGTERMed secondary or mongos waits out a quiesce period (15 s by default)
    before it exits: the restart fault would be a 15 s outage. Each binary has its own parameter."""
    mongod, mongos = set_parameters(tmp_path)
    assert [p for p in mongod if "ShutdownTimeoutMillis" in p or p.startswith("shutdownTimeout")] == [
        "shutdownTimeoutMillisForSignaledShutdown=1000"
    ]
    assert [p for p in mongos if "ShutdownTimeoutMillis" in p or p.startswith("shutdownTimeout")] == [
        "mongosShutdownTimeoutMillisForSignaledShutdown=1000"
    ]
    # A topology may choose its own quiesce: it replaces ours, never doubles it.
    mongod, mongos = set_parameters(
        tmp_path,
        "{mongod_parameters: {shutdownTimeoutMillisForSignaledShutdown: 5000}, "
        "mongos_parameters: {mongosShutdownTimeoutMillisForSignaledShutdown: 0}}",
    )
    assert [p for p in mongod if p.startswith("shutdownTimeout")] == [
        "shutdownTimeoutMillisForSignaledShutdown=5000"
    ]
    assert [p for p in mongos if p.startswith("mongosShutdown")] == [
        "mongosShutdownTimeoutMillisForSignaledShutdown=0"
    ]


def test_loopback_plan_gives_distinct_ports(tmp_path: Path) -> None:
    class FakeToxi:
        def create(self, name: str, listen_host: str, upstream: str):  # type: ignore[no-untyped-def]
            from harness.topology.toxiproxy import ProxyInfo

            self.n = getattr(self, "n", 0) + 1
            return ProxyInfo(name, listen_host, 50000 + self.n, upstream)

    spec = load_topology("mongo-rs").mongo
    assert spec is not None
    plane = mongo_nodes.plan(spec, LoopbackNetwork("test"), FakeToxi(), tmp_path)  # type: ignore[arg-type]
    ports = [n.port for n in plane.nodes]
    assert len(set(ports)) == len(ports)
    assert plane.uri().startswith("mongodb://127.0.0.1:50001,127.0.0.1:50002,127.0.0.1:50003/")
    assert plane.uri().endswith("replicaSet=rs0")


@pytest.mark.parametrize(
    ("text", "field", "problem"),
    [
        (
            "mongo: {mode: replset, replset: {members: [{name: m1}, {name: m2}]}}",
            "mongo.replset",
            "odd number",
        ),
        (
            "mongo: {mode: replset, replset: {members: [{name: m1}, {name: m2}, {name: m3, hidden: true}]}}",
            "mongo.replset.members.2",
            "priority 0",
        ),
        (
            "mongo: {mode: replset, replset: {members: [{name: m1, priority: 0}]}}",
            "mongo.replset",
            "priority > 0",
        ),
        (
            "mongo: {mode: replset, replset: {members: [{name: m1}, {name: m2}, {name: m3}, "
            "{name: arb, priority: 0, arbiter: true, votes: 0}]}}",
            "mongo.replset.members.3",
            "an arbiter always votes",
        ),
        (
            "mongo: {mode: replset, replset: {members: [{name: m1}, {name: m2}, {name: m3}, "
            "{name: m4, votes: 0}]}}",
            "mongo.replset.members.3",
            "a non-voting member (votes: 0) must have priority 0",
        ),
        ("mongo: {mode: sharded, sharded: {shards: 5}}", "mongo.sharded.shards", "less than or equal to 4"),
        ("mongo: {mode: sharded, sharded: {config_servers: 2}}", "mongo.sharded.config_servers", "1 or 3"),
        ("mongo: {mode: replset}", "mongo", "needs a 'replset' section"),
        (
            "mongo: {mode: sharded, settings: {wiredtiger_cache_gb: 0.1}}",
            "mongo.settings.wiredtiger_cache_gb",
            "greater than or equal to 0.25",
        ),
        (
            "mongo: {mode: sharded, settings: {mongod_parameters: {enableTestCommands: 0}}}",
            "mongo.settings.mongod_parameters",
            "enable_test_commands",
        ),
        (
            "mongo: {mode: sharded, settings: {mongos_parameters: {enableTestCommands: 0}}}",
            "mongo.settings.mongos_parameters",
            "enable_test_commands",
        ),
        (
            "mongo: {mode: sharded, settings: {parameters: {wiredTigerConcurrentReadTransactions: 64}}}",
            "mongo.settings",
            "rename it to 'mongod_parameters'",
        ),
    ],
)
def test_bad_mongo_topology_names_file_and_field(tmp_path: Path, text: str, field: str, problem: str) -> None:
    path = write(tmp_path, "name: x\n" + text)
    with pytest.raises(SpecError) as err:
        load_topology(path)
    assert err.value.path == str(path)
    assert err.value.field.startswith(field), err.value.field
    assert problem in str(err.value)


def test_an_arbiter_votes_in_place_of_a_data_member(tmp_path: Path) -> None:
    """The optional members mongo-rs.yaml documents, all at once: an arbiter keeps its vote, so a
    data-bearing member gives its vote (and priority) up to keep the number of voters odd."""
    text = """name: x
mongo:
  mode: replset
  replset:
    members:
      - {name: m1, priority: 2}
      - {name: m2, priority: 1}
      - {name: m3, priority: 0, votes: 0}
      - {name: m4, priority: 0, hidden: true, votes: 0}
      - {name: m5, priority: 0, hidden: true, secondary_delay_secs: 30, votes: 0}
      - {name: arb, priority: 0, arbiter: true}
"""
    spec = load_topology(write(tmp_path, text)).mongo
    assert spec is not None and spec.replset is not None
    assert [(m.name, m.votes) for m in spec.replset.members if m.votes] == [("m1", 1), ("m2", 1), ("arb", 1)]


def test_unique_index_without_shard_key_prefix_is_refused_before_start(tmp_path: Path) -> None:
    text = """name: x
mongo:
  mode: sharded
  collections:
    collections:
      - name: events
        shard_key: {tenant_id: 1, event_time: 1}
        indexes:
          - {key: {tenant_id: 1, event_id: 1}, unique: true}
"""
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as err:
        load_topology(path)
    assert err.value.field == "collections.events.indexes"
    assert "does not start with the shard key fields ['tenant_id', 'event_time']" in str(err.value)
    assert "{'tenant_id': 1, 'event_time': 1, 'event_id': 1}" in str(err.value)  # the fix it proposes


def test_the_bad_shard_keys_of_the_case_studies() -> None:
    # {event_id: hashed}: the platform's idempotency index no longer fits; {event_id: 1} would.
    hashed = CollectionSpec(
        name="events",
        shard_key={"event_id": "hashed"},
        indexes=[IndexSpec(key={"tenant_id": 1, "event_time": 1, "event_id": 1}, unique=True)],
    )
    assert hashed.unique_index_problems()
    fixed = hashed.model_copy(update={"indexes": [IndexSpec(key={"event_id": 1}, unique=True)]})
    assert fixed.unique_index_problems() == []
    tenant_only = CollectionSpec(
        name="events",
        shard_key={"tenant_id": 1},
        indexes=[IndexSpec(key={"tenant_id": 1, "event_time": 1, "event_id": 1}, unique=True)],
    )
    assert tenant_only.unique_index_problems() == []
    with pytest.raises(ValueError, match="hashed index cannot be unique"):
        IndexSpec(key={"event_id": "hashed"}, unique=True)


def test_unknown_collections_file_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nmongo: {mode: sharded, collections: nosuch}")
    with pytest.raises(HarnessError, match=r"unknown collections file 'nosuch'.*known: platform"):
        load_topology(path)


def test_shipped_audit_validator_has_only_well_formed_keywords() -> None:
    (audit,) = [c for c in load_collections("platform").collections if c.name == "audit_logs"]
    assert audit.validator is not None
    props = audit.validator["$jsonSchema"]["properties"]
    # "tenant identifier, required" is the description; an unquoted comma made `required` a key
    # with a null value, which the server's $jsonSchema parser refuses (TypeMismatch 14).
    assert props["tenant_id"] == {"bsonType": "string", "description": "tenant identifier, required"}
    assert props["logged_at"] == {"bsonType": "date", "description": "when it was logged, required"}


BAD_SCHEMAS = [
    (
        "{bsonType: object, properties: {tenant_id: {bsonType: string, description: tenant id, required}}}",
        "$jsonSchema.properties.tenant_id.required",
        "null",
    ),
    ("{bsonType: object, required: tenant_id}", "$jsonSchema.required", "non-empty list of field names"),
    ("{bsonType: object, required: [tenant_id, 3]}", "$jsonSchema.required", "non-empty list of field names"),
    ("{bsonType: object, required: []}", "$jsonSchema.required", "non-empty list of field names"),
    ("{bsonType: object, properties: [tenant_id]}", "$jsonSchema.properties", "mapping"),
    (
        "{properties: {actor: {properties: {user_id: {bsonType: string}}, required: {user_id: 1}}}}",
        "$jsonSchema.properties.actor.required",
        "non-empty list of field names",
    ),
    ("{anyOf: [{required: [a]}, {bsonType: }]}", "$jsonSchema.anyOf.1.bsonType", "null"),
    ("{properties: {a: string}}", "$jsonSchema.properties.a", "must be a schema"),
    ("{items: {properties: 3}}", "$jsonSchema.items.properties", "mapping"),
]


@pytest.mark.parametrize(("schema", "path", "problem"), BAD_SCHEMAS, ids=[p for _, p, _ in BAD_SCHEMAS])
def test_malformed_validator_is_refused_at_load_naming_collection_and_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, schema: str, path: str, problem: str
) -> None:
    monkeypatch.setattr(mongo_spec, "COLLECTIONS_DIR", tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        f"""collections:
  - name: events
  - name: audit_logs
    validator:
      $jsonSchema: {schema}
"""
    )
    with pytest.raises(SpecError) as err:
        load_collections("bad")
    assert err.value.path == str(bad)
    assert err.value.field == "collections.1.validator"
    assert f"collection audit_logs: validator {path} " in str(err.value)
    assert problem in str(err.value)


def test_well_formed_validators_load() -> None:
    for validator in (
        {"$jsonSchema": {"bsonType": "object", "required": ["a"], "properties": {"a": {"enum": [1, None]}}}},
        {
            "$jsonSchema": {
                "additionalProperties": False,
                "items": [{"bsonType": "int"}],
                "not": {"required": ["b"]},
            }
        },
        {"$jsonSchema": {"dependencies": {"a": ["b"], "c": {"required": ["d"]}}}},
        {"tenant_id": {"$exists": True}},  # a query-operator validator: not a schema, not walked
    ):
        assert CollectionSpec(name="c", validator=validator).validator == validator
