"""The feature probe against scripted servers: what mongod and FerretDB answer, and what the plane
then records as lacking (in the server's words), leaving out what the server refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mockupdb import MockupDB, go
from pymongo import MongoClient

from harness.topology import mongo as mongo_nodes
from harness.topology.mongo import MongoPlane
from harness.topology.mongo_features import FEATURES, ServerFeatures, probe
from harness.topology.mongo_spec import MongoSpec
from tests.mockprobe import answer_probe
from tests.mockrs import WIRE, mock_standalone

Client = MongoClient[dict[str, Any]]


@pytest.fixture(params=sorted(WIRE), ids=lambda v: f"mongodb-{v}")
def server(request: pytest.FixtureRequest) -> Iterator[MockupDB]:
    """A mock standalone that offers sessions (mongod and FerretDB both do), so the probe's
    transaction reaches it."""
    with mock_standalone(WIRE[request.param], sessions=True) as s:
        yield s


@pytest.fixture
def client(server: MockupDB) -> Iterator[Client]:
    """A direct client whose reads time out: a probe step the test did not answer fails the test."""
    c: Client = MongoClient(
        server.uri, directConnection=True, serverSelectionTimeoutMS=5000, socketTimeoutMS=5000
    )
    yield c
    closing = go(c.close)  # the driver ends its sessions on close: answer, or it waits 5 s
    req = server.receives(timeout=5)
    assert req.command_name == "endSessions", req.doc
    req.ok()
    closing()


def test_ferretdb_is_named_and_all_it_refuses_or_ignores_listed(server: MockupDB, client: Client) -> None:
    future = go(probe, client, "standalone")
    answer_probe(server, "standalone", "ferretdb")
    f: ServerFeatures = future()
    assert (f.server, f.version, f.name) == ("ferretdb", "1.24.2", "ferretdb 1.24.2")
    assert set(f.lacks) == set(FEATURES)  # every probed feature: refused, or accepted and ignored
    assert f.lacks["ttl_index"].startswith('refused: Index option "expireAfterSeconds" is not implemented')
    assert f.lacks["replication"] == "refused: no such command: 'replSetGetStatus' (code 59)"
    assert (
        f.lacks["validator"]
        == 'refused: create: support for field "validator" is not implemented yet (code 238)'
    )
    assert f.lacks["mongodb_server"].startswith("FerretDB 1.24.2 on SQLite stands in for MongoDB")
    assert f.lacks["write_concern"].startswith("ignored") and f.lacks["read_concern"].startswith("ignored")
    assert f.describe() == (
        "ferretdb 1.24.2 (sqlite): MongoDB wire protocol, standalone; no replication, "
        "write and read concerns ignored"
    )
    assert "mongodb" not in f.describe().lower().replace("mongodb wire protocol", "")


def test_a_standalone_mongod_honours_concerns_without_replication(server: MockupDB, client: Client) -> None:
    future = go(probe, client, "standalone")
    answer_probe(server, "standalone", "mongod")
    f: ServerFeatures = future()
    assert (f.server, f.version) == ("mongod", "7.0.14")
    assert set(f.lacks) == {"replication", "sharding", "transactions", "causal_consistency"}
    assert f.lacks["replication"] == "refused: not running with --replSet (code 76)"
    assert f.describe() == "mongod 7.0.14, standalone"


def test_a_sharded_mongod_lacks_nothing(server: MockupDB, client: Client) -> None:
    future = go(probe, client, "sharded")
    answer_probe(server, "sharded", "mongod")
    f: ServerFeatures = future()
    assert f.lacks == {} and f.has("replication") and f.has("ttl_index")


def test_what_the_server_refuses_is_left_out_of_the_collections_and_listed_once() -> None:
    spec = MongoSpec(mode="standalone", server="ferretdb")
    lacks = {"validator": "refused: v", "ttl_index": "refused: ttl", "partial_index": "refused: p"}
    plane = MongoPlane(spec, features=ServerFeatures("ferretdb", "1.24.2", "standalone", lacks))
    colls = spec.load_collections()
    kept = [mongo_nodes._supported(c, plane) for c in colls.collections]
    for c in colls.collections:  # the reset between variants creates them again
        mongo_nodes._supported(c, plane)
    by_name = {c.name: c for c in kept}
    assert by_name["audit_logs"].validator is None
    assert all(i.expire_after_seconds is None and i.partial_filter is None for c in kept for i in c.indexes)
    assert any(i.unique for i in by_name["events"].indexes)  # the idempotency index stays
    assert len(plane.left_out) == len(set(plane.left_out))
    assert "audit_logs: validator (refused: v)" in plane.left_out
    assert "events: index audit_events_idx (refused: p)" in plane.left_out
    original = {c.name: c for c in colls.collections}
    dropped = sum(len(original[n].indexes) - len(by_name[n].indexes) for n in by_name)
    assert dropped == sum(" index " in e for e in plane.left_out)  # nothing left out silently


def test_ferretdb_cannot_serve_a_replica_set_or_sharded_topology() -> None:
    with pytest.raises(ValueError, match="ferretdb runs standalone only"):
        MongoSpec(mode="sharded", server="ferretdb")
    with pytest.raises(ValueError, match="standalone is one server"):
        MongoSpec.model_validate({"mode": "standalone", "replset": {"members": [{"name": "m1"}]}})
