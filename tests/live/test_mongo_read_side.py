"""The read side against a real replica set (``mongo-rs``; skipped with 'no mongod' where none is
installed): the stale-reads case study's modes compared under replication lag made on demand
(``stopReplProducer`` on secondaries), and the aggregation worker feeding the event-count query.

What runs here without MongoDB: tests/unit/test_mongo_query_contract.py (every command, against a
mocked replica set) and tests/live/test_read_side_redis.py (Redis real, MongoDB mocked).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from harness.checkers.read_your_writes import check_read_your_writes
from harness.checkers.tenant_isolation import check_tenant_isolation
from harness.checkers.verdict import Verdict
from harness.clock import RunClock, seeded_random
from harness.history.loader import stream_ops
from harness.history.recorder import HistoryRecorder
from harness.topology import mongo_commands as cmds
from harness.topology.deployment import Deployment
from harness.topology.local import run_id_now
from harness.topology.mongo import MongoNode
from harness.topology.spec import load_topology
from harness.workload.model.generator import EventGenerator
from harness.workload.model.tenants import TenantMix, TenantPicker
from harness.workload.mongo_plane.aggregation import AggregationWorker
from harness.workload.mongo_plane.queries import QueryService
from harness.workload.platform.ryw import ProfileStore
from tests.conftest import needs_mongod, needs_servers
from tests.live.backend import deploy

pytestmark = [pytest.mark.live, needs_servers, needs_mongod]

CYCLES = 20


@pytest.fixture(scope="module")
def replset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    run_id = run_id_now("test-")
    with deploy(
        load_topology("mongo-rs"), tmp_path_factory.mktemp("mongo") / run_id, run_id, timeout_s=60
    ) as dep:
        yield dep


def secondaries(dep: Deployment) -> list[MongoNode]:
    assert dep.mongo is not None
    primary = dep.mongo.primary("rs0")
    assert primary is not None
    return [n for n in dep.mongo.nodes if n is not primary]


def client_of(dep: Deployment) -> MongoClient[dict[str, Any]]:
    # A bounded socket timeout: a read that waits on a stopped secondary fails instead of hanging.
    return dep.mongo_client(serverSelectionTimeoutMS=10_000, socketTimeoutMS=10_000)


def stop_replication(node: MongoNode) -> None:
    """``stopReplProducer`` on a secondary, then wait until its oplog fetcher has entered the fail
    point: configureFailPoint only arms it, and a batch already on its way would still be applied.
    The fetcher checks it after each batch (an idle awaitData getMore returns within seconds);
    maxTimeMS stays under the admin client's 10 s socket timeout."""
    admin = node.admin()
    entered = cmds.fail_point(admin, "stopReplProducer")
    cmds.wait_for_fail_point(admin, "stopReplProducer", entered + 1, max_time_ms=8000)


def write_then_read(dep: Deployment, path: Path, mode: str) -> Verdict:
    with client_of(dep) as client, HistoryRecorder(path, RunClock()) as rec:
        store = ProfileStore(client, rec, rec.clock, mode, mode)
        with store.session("s1") as user:
            for _ in range(CYCLES):
                user.write("t1", f"profile:t1:{mode}")
                user.read("t1", f"profile:t1:{mode}")
    return check_read_your_writes(stream_ops(path))


def test_secondary_reads_are_stale_under_lag_and_the_fixes_are_not(
    replset: Deployment, tmp_path: Path
) -> None:
    lagging = secondaries(replset)
    for n in lagging:  # both secondaries stop fetching the oplog: w:1 writes stay on the primary
        stop_replication(n)
    try:
        stale = write_then_read(replset, tmp_path / "secondary.jsonl", "secondary")
    finally:
        for n in lagging:
            cmds.fail_point(n.admin(), "stopReplProducer", "off")
    assert stale.status == "invalid" and stale.violations == CYCLES, stale.summary
    assert stale.details["by_read_pref"]["secondaryPreferred"]["stale"] == CYCLES

    # One secondary still lags; majority writes go through the other, reads go to the primary.
    stop_replication(lagging[0])
    try:
        primary = write_then_read(replset, tmp_path / "primary.jsonl", "primary")
    finally:
        cmds.fail_point(lagging[0].admin(), "stopReplProducer", "off")
    assert primary.status == "valid", primary.summary

    causal = write_then_read(replset, tmp_path / "causal.jsonl", "causal")
    assert causal.status == "valid", causal.summary
    assert causal.details["reads_after_own_write"] == CYCLES


def test_rollups_feed_the_event_count_query(replset: Deployment, tmp_path: Path) -> None:
    clock = RunClock()
    now_ms = clock.wall_ms_at(clock.now_ns())
    mix = TenantMix(tenants=3, zipf_s=1.0, whale=None, whale_share=0.0)
    gen = EventGenerator(TenantPicker(mix, seeded_random(7, "tenants")), seeded_random(7, "events"))
    rng = seeded_random(7, "times")
    events = gen.batch(0, [now_ms - rng.randrange(1, 600_000) for _ in range(300)])  # last 10 minutes
    path = tmp_path / "history.jsonl"
    with client_of(replset) as client, HistoryRecorder(path, clock) as rec:
        db = client["eventlog"]
        db["events"].delete_many({})
        db["event_aggregates"].delete_many({})
        db["events"].insert_many([e.document() for e in events])
        worker = AggregationWorker(db, rec, clock, "v")
        tenants = sorted({e.tenant for e in events})
        worker.run_once(tenants)
        svc = QueryService(db, rec, clock, "v", read_concern="majority")
        for tenant in tenants:
            mine = [e for e in events if e.tenant == tenant]
            counts = svc.event_counts(tenant)
            by_type = {d["_id"]: d["total_count"] for d in counts.docs}
            expected: dict[str, int] = {}
            for e in mine:
                expected[e.event_type] = expected.get(e.event_type, 0) + 1
            top = dict(sorted(expected.items(), key=lambda kv: -kv[1])[:20])
            assert by_type == top
            dash = svc.dashboard(tenant)
            assert len(dash.docs) == min(100, len(mine))
        # A second pass updates the same buckets: no new documents.
        again = worker.run_once(tenants)
        assert sum(r.upserted for r in again if r.bucket_type == "hourly") == 0
    assert check_tenant_isolation(stream_ops(path)).status == "valid"
