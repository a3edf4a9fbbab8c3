"""Ingestion, the audit chain and the final reads against a real replica set (skips without mongod).

Where no ``mongod`` exists, tests/unit/test_mongo_ingest_contract.py checks the same code's wire
commands against mockupdb.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.checkers import build_checkers, run_checkers
from harness.clock import RunClock, seeded_random
from harness.history.loader import stream_ops
from harness.history.recorder import HistoryRecorder
from harness.topology.lifecycle import RunResources
from harness.topology.local import Deployment, deploy, run_id_now
from harness.topology.spec import load_topology
from harness.workload.audit_writer import AuditWriter
from harness.workload.final_reads_mongo import FinalReader
from harness.workload.generator import DAY_MS, EventGenerator
from harness.workload.mongo_ingest import IngestConfig, MongoIngestor, WriteConcernSpec
from harness.workload.tenants import TenantMix, TenantPicker
from tests.conftest import needs_mongod, needs_servers
from tests.live.leftovers import assert_nothing_left


@pytest.fixture(scope="module")
def replset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    run_id = run_id_now("test-")
    run_dir = tmp_path_factory.mktemp("mongo-ingest") / run_id
    with deploy(load_topology("mongo-rs"), run_dir, run_id, timeout_s=60) as dep:
        yield dep
    assert_nothing_left(RunResources.load(run_dir / "resources.json"))


@pytest.mark.live
@needs_servers
@needs_mongod
def test_events_and_audit_chain_survive_and_a_resend_stores_nothing_twice(
    replset: Deployment, tmp_path: Path
) -> None:
    clock = RunClock()
    now = int(time.time() * 1000)
    picker = TenantPicker(TenantMix(5, 1.0, None, 0.0), seeded_random(11, "tenants"))
    events = EventGenerator(picker, seeded_random(11, "events")).batch(0, [now + i for i in range(3000)])
    audit = [e for e in events if e.is_audit]
    assert audit, "the mix has audit events"
    with (
        HistoryRecorder(tmp_path / "history.jsonl", clock) as rec,
        replset.mongo_client(serverSelectionTimeoutMS=10_000) as client,
    ):
        cfg = IngestConfig(batch_size=500, wc=WriteConcernSpec(w="majority", j=True, wtimeout_ms=10_000))
        ing = MongoIngestor(client, rec, clock, cfg, "live")
        first = ing.write(events)
        assert {r.detail for r in first} == {"inserted"}
        again = ing.write(events[:700])  # a client resending: the idempotency index absorbs it
        assert {r.detail for r in again} == {"already-stored"}
        writer = AuditWriter(client, rec, clock, "live", audit_ms=365 * DAY_MS)
        assert {writer.append(e) for e in audit} == {"ok"}
        final = FinalReader(client, rec, clock, "live")
        assert final.final_events(ing.written) == []
        assert final.final_audit(writer.tenants) == []
        assert final.final_docs({t: list(ids) for t, ids in ing.written.items()}) == 0
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
