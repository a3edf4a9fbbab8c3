"""Shrinking: delta debugging finds a minimal failing fault subset within its run budget, and
``harness shrink`` refuses runs with nothing to shrink, with a clear reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import HarnessError
from harness.scenario.shrink import ddmin, shrink


@settings(max_examples=60, derandomize=True, deadline=None)
@given(n=st.integers(2, 24), data=st.data())
def test_ddmin_finds_exactly_the_culprits(n: int, data: st.DataObject) -> None:
    items = list(range(n))
    culprits = set(data.draw(st.sets(st.sampled_from(items), min_size=1, max_size=2)))
    calls: list[list[int]] = []

    def fails(subset: list[int]) -> bool:
        calls.append(subset)
        return culprits <= set(subset)

    found, runs = ddmin(items, fails, max_tests=200)
    assert set(found) == culprits  # 1-minimal: exactly the faults that matter
    assert runs == len(calls) <= 200


def test_ddmin_stops_at_its_budget_with_the_best_so_far() -> None:
    found, runs = ddmin(list(range(64)), lambda s: 7 in s and 50 in s, max_tests=3)
    assert runs == 3
    assert 7 in found and 50 in found and len(found) <= 64


def write_run(tmp_path: Path, invariants: list[dict[str, Any]], faults: list[dict[str, Any]]) -> Path:
    run = tmp_path / "run"
    run.mkdir(parents=True)
    results = {"scenario": "redis-partition", "seed": 1, "invariants": invariants, "faults": faults}
    (run / "results.json").write_text(json.dumps(results))
    return run


def test_a_run_that_did_not_fail_has_nothing_to_shrink(tmp_path: Path) -> None:
    run = write_run(
        tmp_path,
        [{"variant": "before", "name": "sessions", "status": "invalid", "expected": "invalid"}],
        [{"variant": "before", "index": 0, "at_s": 1, "fault": "kill", "status": "healed"}],
    )
    with pytest.raises(HarnessError, match="no invariant failed against expectation"):
        shrink(run)


def test_a_failure_without_faults_is_not_shrinkable(tmp_path: Path) -> None:
    run = write_run(tmp_path, [{"variant": "after", "name": "sessions", "status": "invalid"}], [])
    with pytest.raises(HarnessError, match="applied no faults"):
        shrink(run)


def _expected_sessions_lost(found: str) -> dict[str, Any]:
    return {
        "variant": "before",
        "name": "sessions",
        "status": "invalid",
        "expected": "invalid",
        "expected_kinds": ["session-lost"],
        "details": {"violations_by_kind": {found: 3}},
    }


def test_an_anomaly_of_another_kind_than_expected_is_a_failure_to_shrink(tmp_path: Path) -> None:
    run = write_run(tmp_path / "wrong", [_expected_sessions_lost("session-outlived-ttl")], [])
    with pytest.raises(HarnessError, match="before/sessions failed, but that variant applied no faults"):
        shrink(run)
    right = write_run(tmp_path / "right", [_expected_sessions_lost("session-lost")], [])
    with pytest.raises(HarnessError, match="no invariant failed against expectation"):
        shrink(right)


def test_not_a_run_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=r"results\.json: cannot read it"):
        shrink(tmp_path)
