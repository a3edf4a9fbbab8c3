"""unbounded-growth-mongo live on this machine's MongoDB-wire server (mongod where found, else
FerretDB), at a small scale: nothing deleted before, the cleanup job keeps the collection level, and
a TTL index variant either runs (mongod) or is not run with the server's own refusal (FerretDB)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import needs_ferretdb, needs_servers

pytestmark = [pytest.mark.live, needs_servers, needs_ferretdb]


def test_unbounded_growth_mongo_end_to_end(tmp_path: Path) -> None:
    from harness.records import RunMetrics
    from harness.records.io import load_record
    from harness.scenario.runner import run_scenario_record
    from harness.scenario.spec import load_scenario
    from tests.live.backend import run_options

    spec = load_scenario("unbounded-growth-mongo")
    # 2 s retention, 3 s allowed past it; figures are judged here, the timing targets are the scenario's
    params = {"retention": {"retention_ms": {"standard": 2000}, "ttl_lag_ms": 3000}}
    workload = spec.workload.model_copy(update={"retention_ms": 2000})
    spec = spec.model_copy(update={"workload": workload, "checker_params": params, "targets": []})
    run_dir, results = run_scenario_record(
        spec, run_options(reports_dir=tmp_path, duration_s=8, rate=200, log=lambda _m: None)
    )
    assert results.error is None
    assert results.planes["redis"].status == "not_run"  # a MongoDB-only topology has none
    by = {(i.variant, i.name): i for i in results.invariants}
    before, cleanup = by[("before", "retention")], by[("batched-cleanup", "retention")]
    assert before.status == "invalid" and before.kinds_occurred() == ["expired-too-late"]
    assert cleanup.status == "valid"
    metrics = load_record(run_dir / "metrics.json", RunMetrics, "the run writes it")
    storage = {name: v.workload.storage for name, v in metrics.variants.items() if v.workload}
    kept, cleaned = storage["before"], storage["batched-cleanup"]
    assert kept is not None and cleaned is not None
    assert kept.documents_end == kept.stored and (kept.cleanup_deleted or 0) == 0
    assert (cleaned.cleanup_deleted or 0) > 0 and (cleaned.documents_end or 0) < (cleaned.stored or 0)
    ttl = by[("ttl-index", "retention")]
    mongo = results.planes["mongodb"]
    if "ttl_index" in mongo.lacks:  # FerretDB: not run, in the server's words
        assert ttl.status == "not_run" and mongo.lacks["ttl_index"] in ttl.summary
        assert results.verdict == "pass", results.verdict_reason
    else:
        assert ttl.status in ("valid", "invalid")
