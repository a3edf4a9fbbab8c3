"""Ingestion, the audit chain and the final reads against real servers: a ``mongo-rs`` replica set
(skips without mongod) and one FerretDB server (skips without ferretdb; asked for by name).

Where neither exists, tests/unit/test_mongo_ingest_contract.py checks the same code's wire commands
against mockupdb.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.checkers import build_checkers, run_checkers
from harness.clock import RunClock, seeded_random
from harness.doctor import find_binary
from harness.history.loader import stream_ops
from harness.history.recorder import HistoryRecorder
from harness.topology.deployment import Deployment
from harness.topology.lifecycle import RunResources
from harness.topology.local import run_id_now
from harness.topology.mongo_spec import MongoSpec
from harness.topology.spec import TopologySpec, load_topology
from harness.workload.model.generator import DAY_MS, EventGenerator
from harness.workload.model.tenants import TenantMix, TenantPicker
from harness.workload.mongo_plane.audit_writer import AuditWriter
from harness.workload.mongo_plane.final_reads import FinalReader
from harness.workload.mongo_plane.ingest import MongoIngestConfig, MongoIngestor, WriteConcernSpec
from tests.conftest import missing_servers
from tests.live.backend import deploy
from tests.live.leftovers import assert_nothing_left

SERVERS = {
    "mongod": (
        load_topology("mongo-rs"),
        "no mongod (put mongod/mongos 7.0+ on PATH or set MONGODB_BIN_DIR)",
    ),
    "ferretdb": (
        TopologySpec(name="ferretdb", mongo=MongoSpec(mode="standalone", server="ferretdb")),
        "no ferretdb (run 'make setup': it builds tools/bin/ferretdb with Go >= 1.24)",
    ),
}


@pytest.fixture(scope="module", params=sorted(SERVERS))
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    topology, absent = SERVERS[request.param]
    if missing_servers() is not None:
        pytest.skip(missing_servers() or "")
    if find_binary(request.param) is None:
        pytest.skip(absent)
    run_id = run_id_now("test-")
    run_dir = tmp_path_factory.mktemp("mongo-ingest") / run_id
    with deploy(topology, run_dir, run_id, timeout_s=60) as dep:
        yield dep
    assert_nothing_left(RunResources.load(run_dir / "resources.json"))


@pytest.mark.live
def test_events_and_audit_chain_survive_and_a_resend_stores_nothing_twice(
    server: Deployment, tmp_path: Path
) -> None:
    clock = RunClock()
    now = int(time.time() * 1000)
    picker = TenantPicker(TenantMix(5, 1.0, None, 0.0), seeded_random(11, "tenants"))
    events = EventGenerator(picker, seeded_random(11, "events")).batch(0, [now + i for i in range(3000)])
    audit = [e for e in events if e.is_audit]
    assert audit, "the mix has audit events"
    with (
        HistoryRecorder(tmp_path / "history.jsonl", clock) as rec,
        server.mongo_client(serverSelectionTimeoutMS=10_000) as client,
    ):
        cfg = MongoIngestConfig(batch_size=500, wc=WriteConcernSpec(w="majority", j=True, wtimeout_ms=10_000))
        ing = MongoIngestor(client, rec, clock, cfg, "live")
        first = ing.write(events)
        assert {r.detail for r in first} == {"inserted"}
        again = ing.write(events[:700])  # a client resending: the idempotency index absorbs it
        assert {r.detail for r in again} == {"already-stored"}
        writer = AuditWriter(client, rec, clock, "live", audit_ms=365 * DAY_MS)
        assert {writer.append(e) for e in audit} == {"ok"}
        final = FinalReader(client, rec, clock, "live")
        written = {t: list(ids) for t, ids in ing.written.items()}
        assert final.final_events_and_docs(ing.written, written) == ([], 0)
        assert final.final_audit(writer.tenants) == []
        rec.flush()
        names = ["acknowledged-writes-survive", "no-duplicates", "retention", "audit-trail-integrity"]
        verdicts: dict[str, Any] = {
            v.name: v for v in run_checkers(build_checkers(names), stream_ops(rec.path))
        }
    for name in names:
        assert verdicts[name].status == "valid", f"{name}: {verdicts[name].summary}"
    assert verdicts["acknowledged-writes-survive"].details["acked"] == len(events)
    assert verdicts["no-duplicates"].details["stored"] == len(events)
    assert verdicts["audit-trail-integrity"].details["records_stored"] == len(audit)


@pytest.mark.live
def test_rollups_count_what_was_stored(server: Deployment, tmp_path: Path) -> None:
    """The hourly and daily rollups against the stored events, counted independently here. On a
    server that refuses the pipelines' accumulators (FerretDB) they are grouped from scans; where
    both ways run (mongod) they must give the same documents."""
    from collections import Counter, defaultdict

    from harness.topology.mongo import ddl_client
    from harness.workload.mongo_plane.aggregation import HOUR_MS, AggregationWorker
    from harness.workload.platform.mongo_side import reset_collections

    assert server.mongo is not None and server.mongo.features is not None
    with ddl_client(server.mongo, 30.0) as ddl:
        reset_collections(ddl, server.mongo)
    clock = RunClock()
    now = int(time.time() * 1000)
    hour = now - now % HOUR_MS
    picker = TenantPicker(TenantMix(8, 1.0, None, 0.0), seeded_random(5, "tenants"))
    events = EventGenerator(picker, seeded_random(5, "events")).batch(0, [hour + 3 * i for i in range(1500)])
    counts: Counter[tuple[str, str, str]] = Counter()
    users: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    sessions: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for e in events:
        doc = e.document("ing", now)
        key = (e.tenant, doc["event_type"], doc["context"]["environment"])
        counts[key] += 1
        users[key].add(doc["actor"]["user_id"])
        sessions[key].add(doc["actor"]["session_id"])
    portable_modes = [True] if not server.mongo.features.has("group_accumulators") else [False, True]
    seen: dict[bool, list[dict[str, Any]]] = {}
    with (
        HistoryRecorder(tmp_path / "history.jsonl", clock) as rec,
        server.mongo_client(serverSelectionTimeoutMS=10_000) as client,
    ):
        MongoIngestor(client, rec, clock, MongoIngestConfig(batch_size=500), "live").write(events)
        tenants = sorted({e.tenant for e in events})
        for portable in portable_modes:
            worker = AggregationWorker(
                client["eventlog"], rec, clock, "live", now_ms=lambda: now, portable=portable
            )
            runs = worker.run_once(tenants)
            assert {r.outcome.value for r in runs} == {"ok"}
            docs = list(client["eventlog"]["event_aggregates"].find({}, {"_id": 0, "last_updated": 0}))
            seen[portable] = sorted(docs, key=lambda d: repr(sorted(d.items())))
            client["eventlog"]["event_aggregates"].delete_many({})
        rec.flush()
        ops = [op for op in stream_ops(rec.path) if op.f == "aggregate"]
    hourly = [d for d in seen[True] if d["bucket_type"] == "hourly" and d["metrics"]["count"]]
    got = {
        (d["tenant_id"], d["dimensions"]["event_type"], d["dimensions"]["environment"]): (
            d["metrics"]["count"],
            d["metrics"]["unique_users"],
            d["metrics"]["unique_sessions"],
        )
        for d in hourly
    }
    assert got == {k: (n, len(users[k]), len(sessions[k])) for k, n in counts.items()}
    daily = [d for d in seen[True] if d["bucket_type"] == "daily"]
    assert sum(d["metrics"]["count"] for d in daily) == len(events)
    if len(seen) == 2:
        assert seen[False] == seen[True]
    portable_ops = [op for op in ops if op.get("pipeline") == "portable"]
    assert len(portable_ops) == 3 * len(tenants) and all(op.outcome == "ok" for op in portable_ops)
