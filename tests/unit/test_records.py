"""The run record models (harness.records) over files written by the runner before the models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.records import RunMetrics, RunResults, load_record, salvage, write_record

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "records"
RUNS = sorted(p.name for p in FIXTURES.iterdir())  # hot-partition, platform-steady, redis-failover


@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize(("name", "model"), [("results.json", RunResults), ("metrics.json", RunMetrics)])
def test_a_file_written_before_the_models_loads_and_is_written_back_byte_for_byte(
    tmp_path: Path, run: str, name: str, model: type[RunResults] | type[RunMetrics]
) -> None:
    record = load_record(FIXTURES / run / name, model, "")
    write_record(tmp_path / name, record)
    assert (tmp_path / name).read_text() == (FIXTURES / run / name).read_text()


def test_typed_fields_read_what_the_runner_wrote() -> None:
    results = load_record(FIXTURES / "redis-failover" / "results.json", RunResults, "")
    metrics = load_record(FIXTURES / "redis-failover" / "metrics.json", RunMetrics, "")
    assert results.planes["redis"].status == "ran"
    assert [(f.variant, f.fault, f.status) for f in results.faults][:1] == [("before", "bandwidth", "healed")]
    before = metrics.variants["before"]
    assert before.faults_summary is not None and before.healthy_again is not None
    assert before.healthy_again.healthy is True
    kind = before.faults_summary.model_extra or {}
    assert kind["bandwidth"].apply_delay_ms == before.faults_summary.apply_delay_ms == 6.153
    assert metrics.lookup("before.faults_summary.bandwidth.apply_delay_ms") == 6.153


def test_lookup_reaches_typed_fields_kept_keys_and_open_maps() -> None:
    metrics = load_record(FIXTURES / "platform-steady" / "metrics.json", RunMetrics, "")
    assert metrics.lookup("steady.workload.reads.by_kind.mongo") == 20.0
    assert metrics.lookup("steady.workload.mongo.audit.outcomes.ok") == 283.0  # kept as written
    assert metrics.lookup("steady.invariants.sessions.violations") == 0.0
    assert metrics.lookup("steady.latency_ms.whale.p99") is None  # no whale in this run
    assert metrics.lookup("nosuch.imbalance_ratio") is None
    assert metrics.lookup("steady.per_master") is None  # a list, not a number
    assert metrics.lookup("steady.healthy_again") is None


def test_salvage_drops_what_does_not_fit_and_names_it() -> None:
    raw = {"verdict": "fail", "seed": "x", "planes": [], "invariants": [1, {"name": "i", "examples": "no"}]}
    results, dropped = salvage(RunResults, raw)
    assert results.verdict == "fail" and results.seed is None and results.planes == {}
    assert [i.name for i in results.invariants] == ["i"] and results.invariants[0].examples == []
    assert sorted(dropped) == ["invariants.0", "invariants.1.examples", "planes", "seed"]
    assert raw["seed"] == "x"  # the caller's data is left alone
    assert salvage(RunMetrics, [1, 2]) == (RunMetrics(), ["(the whole file: not a JSON object)"])


def test_load_record_names_the_file_and_field_that_does_not_fit(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"targets": [{"value": "high"}]}))
    with pytest.raises(HarnessError, match=r"results.json: field 'targets.0.value': .*; re-run it"):
        load_record(path, RunResults, "re-run it")
    with pytest.raises(HarnessError, match=r"metrics.json: not found; re-run it"):
        load_record(tmp_path / "metrics.json", RunMetrics, "re-run it")
