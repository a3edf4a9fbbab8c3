"""MongoDB topologies against real mongod/mongos (skipped with 'no mongod' where none is installed).

What runs here without MongoDB: tests/unit/test_mongo_contract.py (every command, against mockupdb)
and the missing-binary test at the end of this file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo.errors import DuplicateKeyError, WriteError

from harness.clients import mongo_stats
from harness.topology import mongo_commands as cmds
from harness.topology.deployment import Deployment
from harness.topology.lifecycle import RunResources, registered_runs
from harness.topology.local import run_id_now
from harness.topology.spec import load_topology
from tests.conftest import needs_mongod, needs_netns, needs_servers
from tests.live.backend import deploy
from tests.live.leftovers import assert_nothing_left

ROOT = Path(__file__).resolve().parents[2]


def _primary(facts: list[mongo_stats.MemberFact]) -> str | None:
    """The one member the set reports PRIMARY (None when none, or more than one, does)."""
    primaries = [f.name for f in facts if f.state == "PRIMARY"]
    return primaries[0] if len(primaries) == 1 else None


@pytest.fixture(scope="module")
def replset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    run_id = run_id_now("test-")
    run_dir = tmp_path_factory.mktemp("mongo") / run_id
    with deploy(load_topology("mongo-rs"), run_dir, run_id, timeout_s=60) as dep:
        yield dep
    assert_nothing_left(RunResources.load(run_dir / "resources.json"))


@pytest.mark.live
@needs_servers
@needs_mongod
def test_replica_set_is_reached_only_through_proxies(replset: Deployment) -> None:
    assert replset.mongo is not None
    proxies = {n.proxied for n in replset.mongo.nodes}
    with replset.mongo_client(serverSelectionTimeoutMS=10_000) as client:
        hello = client.admin.command("hello")
        # Discovery hands out the hosts of the config: proxy addresses only.
        assert set(hello["hosts"]) <= proxies
        assert hello["primary"] in proxies
        facts = mongo_stats.members(client)
    assert _primary(facts) == replset.mongo_node("m1").proxied  # priority 2 wins
    assert all(f.lag_s is not None and f.lag_s < 5 for f in facts)


@pytest.mark.live
@needs_servers
@needs_mongod
def test_platform_collections_enforce_idempotency_and_the_audit_schema(replset: Deployment) -> None:
    from datetime import UTC, datetime

    with replset.mongo_client(serverSelectionTimeoutMS=10_000) as client:
        db = client["eventlog"]
        names = {ix["name"] for ix in db["events"].list_indexes()}
        assert {"idempotency", "ttl_expires_at", "audit_events_idx"} <= names
        now = datetime.now(UTC)
        event = {"tenant_id": "t1", "event_time": now, "event_id": "e1", "event_type": "user.login"}
        db["events"].insert_one(dict(event))
        with pytest.raises(DuplicateKeyError):
            db["events"].insert_one(dict(event))
        with pytest.raises(WriteError):  # validationAction error: a bad category is refused
            db["audit_logs"].insert_one(
                {
                    "tenant_id": "t1",
                    "logged_at": now,
                    "audit_id": "a1",
                    "category": "gossip",
                    "action": "x",
                    "actor": {"user_id": "u1"},
                }
            )
        assert db["events"].count_documents({}) == 1


@pytest.mark.live
@needs_servers
@needs_mongod
@needs_netns
def test_isolated_primary_is_replaced(replset: Deployment) -> None:
    import time

    assert replset.mongo is not None
    old = replset.mongo_node("m1")
    replset.isolate("m1")
    try:
        deadline = time.monotonic() + 60
        new_primary = None
        while time.monotonic() < deadline and new_primary in (None, old.proxied):
            facts = mongo_stats.members(replset.mongo_node("m2").admin())
            new_primary = _primary(facts)
            time.sleep(0.5)
        assert new_primary not in (None, old.proxied), "no new primary within 60 s of isolating m1"
    finally:
        replset.heal()
    # The next tests want any member electable again. replSetFreeze is refused (NotSecondary, 95)
    # on the primary, which is never frozen: only the others are unfrozen; unfreeze() still
    # tolerates code 95 for a member that wins an election between this check and the command.
    primary = replset.mongo.primary("rs0")
    for n in replset.mongo.nodes:
        if n is not primary and n.member is not None and not n.member.arbiter:
            cmds.unfreeze(n.admin())


@pytest.mark.live
@needs_servers
@needs_mongod
def test_sharded_cluster_comes_up_with_sharded_collections(tmp_path: Path) -> None:
    run_id = run_id_now("test-")
    with deploy(load_topology("mongo-sharded"), tmp_path / run_id, run_id, timeout_s=120) as dep:
        assert dep.mongo is not None
        with dep.mongo_client(serverSelectionTimeoutMS=10_000) as client:
            shards = {s["_id"] for s in cmds.list_shards(client)}
            assert shards == {"shard1", "shard2"}
            coll = client["config"]["collections"].find_one({"_id": "eventlog.events"})
            assert coll is not None and coll["key"] == {"tenant_id": 1, "event_time": 1}
            chunks = mongo_stats.chunk_distribution(client, "eventlog.events")
            # Presplit before any write: 2000 tenants in 4 ranges per shard (collections/platform.yaml).
            assert chunks == {"shard1": 4, "shard2": 4}
            assert dep.mongo.chunks["eventlog.events"] == chunks  # recorded with the deployment
        for shard in dep.mongo.shards():
            primary = next(
                n for n in shard.nodes if n.admin().admin.command("hello").get("isWritablePrimary")
            )
            assert set(mongo_stats.opcounters(primary.admin())) >= {"insert", "query", "update"}
    assert_nothing_left(RunResources.load(tmp_path / run_id / "resources.json"))


def test_up_without_mongod_fails_at_once_and_leaves_nothing(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "MONGODB_BIN_DIR"}
    env["PATH"] = f"{empty}:{os.path.dirname(sys.executable)}"
    env["HARNESS_TOOLS_DIR"] = str(empty)
    env["HARNESS_STATE_DIR"] = str(tmp_path / "state")
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "up", "mongo-rs"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr
    assert err.count("error:") == 1 and "Traceback" not in err
    assert "'mongod' not found" in err
    for way in ("PATH", "MONGODB_BIN_DIR", "Docker backend"):
        assert way in err, way
    state = Path(env["HARNESS_STATE_DIR"])
    leftovers = [p for p in state.rglob("*") if p.is_file()] if state.exists() else []
    assert leftovers == [], leftovers


def harness(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.live
@needs_servers
@needs_mongod
def test_cli_up_status_down_mongo_rs() -> None:
    if any(r.detached for r in registered_runs()):
        pytest.skip("a topology is already up on this machine ('harness down' it to run this test)")
    up = harness("up", "mongo-rs", "--timeout", "60")
    assert up.returncode == 0, up.stderr
    try:
        assert "mongodb://" in up.stdout and "replicaSet=rs0" in up.stdout
        status = harness("status", "--json")
        assert status.returncode == 0, status.stderr
        info = json.loads(status.stdout)
        assert info["health"]["m1"] == "PRIMARY"
        assert info["health"]["m2"].startswith("SECONDARY, lag ")
    finally:
        down = harness("down")
    assert down.returncode == 0, down.stderr
