"""The hot-partition scenario end to end at a small scale: real servers, saved files, a report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.scenario.judge import recheck_record
from harness.scenario.runner import run_scenario_record
from harness.scenario.spec import load_scenario
from tests.conftest import needs_servers
from tests.live.backend import run_options

pytestmark = [pytest.mark.live, needs_servers]


def test_small_run_reproduces_the_imbalance_and_its_fix(tmp_path: Path) -> None:
    spec = load_scenario("hot-partition")
    run_dir, results = run_scenario_record(
        spec, run_options(reports_dir=tmp_path, duration_s=3, rate=1500, log=lambda _m: None)
    )
    assert results.error is None
    assert results.planes["redis"].status == "ran"
    assert results.planes["mongodb"].status == "not_run"
    metrics = json.loads((run_dir / "metrics.json").read_text())["variants"]
    # Load per master comes from the servers' commandstats, and the seed fixes which tenant each
    # event belongs to, so the imbalance is a property of the key design, not of timing.
    assert metrics["before"]["imbalance_ratio"] >= 1.6
    assert metrics["after"]["imbalance_ratio"] <= 1.2
    assert {m["node"] for m in metrics["before"]["per_master"]} == {"r1", "r2", "r3"}
    for inv in results.invariants:
        assert inv.status == "valid", inv
    assert [(i.variant, i.name) for i in results.invariants] == [
        (v.name, c) for v in spec.variants for c in spec.checkers
    ]
    limiter = [i for i in results.invariants if i.name == "rate-limit-holds"]
    # every admission carried the driver's event link and was followed by its INCR
    assert all(i.details["admitted_with_link"] == i.details["admitted"] > 0 for i in limiter)
    # the run recorded what it wrote to its history: 'harness check' verifies it before judging
    assert results.history is not None and results.history.ops and results.history.records
    lines = (run_dir / "history.jsonl").read_bytes().count(b"\n")
    assert results.history.records == lines and results.history.sha256
    # 'harness check' re-judges the saved run from its files alone, to the same verdicts
    rechecked = recheck_record(run_dir)
    assert rechecked.check_notes == []  # verified, nothing torn
    assert [(i.variant, i.name, i.status, i.violations) for i in rechecked.invariants] == [
        (i.variant, i.name, i.status, i.violations) for i in results.invariants
    ]
    # the targets as written (model equality would not tell a key left out from one set to None)
    assert rechecked.verdict == results.verdict
    assert [t.dump() for t in rechecked.targets] == [t.dump() for t in results.targets]
    assert {t.status for t in results.targets} <= {"pass", "fail"}
    for name in ("index.html", "junit.xml", "history.jsonl", "results.json", "metrics.json"):
        assert (run_dir / name).stat().st_size > 0
    assert (run_dir.parent / "latest").resolve() == run_dir.resolve()
    assert (tmp_path / "index.html").exists()
