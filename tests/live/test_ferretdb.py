"""The MongoDB plane live on FerretDB (standalone, SQLite), where no mongod exists: bring-up
behind its own proxy with its features probed, and the mongo-link-faults case end to end.
FerretDB is asked for by name here (``server: ferretdb``), so these run the same on a machine
that also has mongod. Ingestion, the audit chain and the final reads on FerretDB are in
test_mongo_ingest.py, the platform's MongoDB paths in test_platform_mongo_paths.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.topology.deployment import Deployment
from harness.topology.lifecycle import RunResources
from harness.topology.local import run_id_now
from harness.topology.mongo_spec import MongoSpec
from harness.topology.spec import TopologySpec, load_topology
from tests.conftest import needs_ferretdb, needs_servers
from tests.live.backend import deploy
from tests.live.leftovers import assert_nothing_left

pytestmark = [pytest.mark.live, needs_servers, needs_ferretdb]


def ferret_topology() -> TopologySpec:
    base = load_topology("platform-standalone")
    assert base.mongo is not None
    return base.model_copy(update={"mongo": base.mongo.model_copy(update={"server": "ferretdb"})})


@pytest.fixture(scope="module")
def ferret(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    run_id = run_id_now("test-")
    run_dir = tmp_path_factory.mktemp("ferret") / run_id
    with deploy(ferret_topology(), run_dir, run_id) as dep:
        yield dep
    assert_nothing_left(RunResources.load(run_dir / "resources.json"))


def test_ferretdb_comes_up_behind_its_proxy_named_for_what_it_is(ferret: Deployment) -> None:
    plane = ferret.mongo
    assert plane is not None and plane.standalone is not None and plane.features is not None
    f = plane.features
    assert (f.server, f.mode) == ("ferretdb", "standalone") and f.version == ferret.versions["ferretdb"]
    assert f.describe().startswith(f"ferretdb {f.version} (sqlite): MongoDB wire protocol, standalone")
    # What this FerretDB refuses or ignores, found out by asking it, each in its own words.
    assert {"ttl_index", "validator", "replication", "write_concern"} <= set(f.lacks)
    assert "expireAfterSeconds" in f.lacks["ttl_index"]
    assert any(e.startswith("audit_logs: validator (refused:") for e in plane.left_out)
    assert "mongod" not in ferret.versions
    node = plane.standalone
    assert plane.uri() == f"mongodb://{node.proxied}/?directConnection=true"
    assert node.host.netns or getattr(node.host, "container", None)  # a host of its own
    with ferret.mongo_client(serverSelectionTimeoutMS=5000) as client:  # through the proxy
        db = client["eventlog"]
        indexes = {ix["name"] for ix in db["events"].list_indexes()}
        assert "idempotency" in indexes and "ttl_expires_at" not in indexes
        db["probe_through_proxy"].insert_one({"x": 1})
    # ... and the write is on the server, seen over the observer's direct path.
    assert node.admin()["eventlog"]["probe_through_proxy"].count_documents({}) == 1


def test_a_server_that_is_asked_for_by_name_must_be_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.errors import MissingBinaryError
    from harness.topology import mongo as mongo_nodes

    monkeypatch.setattr(mongo_nodes, "find_binary", lambda name: None)
    spec = TopologySpec(name="x", mongo=MongoSpec(mode="standalone", server="ferretdb"))
    with (
        pytest.raises(MissingBinaryError, match="ferretdb") as err,
        deploy(
            spec,
            tmp_path / "run",
            "x",
            backend="local",  # a binary: the docker backend asks for images
        ),
    ):
        pass
    assert "make setup" in str(err.value)
    assert not (tmp_path / "run").exists()  # refused before anything was created


def test_mongo_link_faults_reproduces_duplicates_and_the_index_prevents_them(tmp_path: Path) -> None:
    """mongo-link-faults at a small scale: a reply lost mid-insert, the resend a second later."""
    from harness.scenario.runner import run_scenario_record
    from harness.scenario.spec import load_scenario
    from tests.live.backend import run_options

    spec = load_scenario("mongo-link-faults")
    assert spec.schedule is not None
    steps = [
        {"at_s": 1.5, "duration_s": 0.5, "fault": "reset-peer", "target": "m1"},
        # latency queues audit records behind their writer, so the next reset finds one in flight
        {"at_s": 3, "duration_s": 2.5, "fault": "latency", "target": "m1", "params": {"ms": 300}},
        {"at_s": 4.5, "duration_s": 0.5, "fault": "reset-peer", "target": "m1"},
    ]
    schedule = spec.schedule.model_validate({"steps": steps, "heal_timeout_s": 20, "allow_overlap": True})
    spec = spec.model_copy(update={"schedule": schedule})
    run_dir, results = run_scenario_record(
        spec, run_options(reports_dir=tmp_path, duration_s=7, rate=200, log=lambda _m: None)
    )
    assert results.error is None
    assert results.planes["mongodb"].status == "ran"
    assert [f.status for f in results.faults] == ["healed"] * 6
    by = {(i.variant, i.name): i for i in results.invariants}
    assert by[("before", "no-duplicates")].status == "invalid"  # the case is reproduced
    assert by[("before", "no-duplicates")].details["duplicate_keys_retried"] >= 1  # by resends
    assert by[("after", "no-duplicates")].status == "valid"
    assert by[("after", "no-duplicates")].details["retried_keys"] >= 1  # the fix met the fault too
    for v in ("before", "after"):
        assert by[(v, "acknowledged-writes-survive")].status == "valid"
        assert by[(v, "audit-trail-integrity")].status == "valid"
    assert results.verdict == "pass", results.verdict_reason
    assert "ferretdb" in (run_dir / "index.html").read_text() or "mongod" in (results.substrate.mongodb or "")
