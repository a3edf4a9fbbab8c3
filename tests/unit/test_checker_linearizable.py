"""linearizable-registers: the Wing–Gong–Lowe search on hand-built registers, its bounds, and
properties over a simulated linearizable register."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.bench.linearizability import bench, random_history
from harness.checkers.linearizable import NAME, check_linearizable, search
from tests.quality.cases._sim import MS, History, completion_order
from tests.quality.cases._sim_register import simulate, steps_st
from tests.quality.cases.linearizable import ANOMALIES

SETTINGS = settings(
    max_examples=100, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


class Reg:
    def __init__(self) -> None:
        self.h = History()

    def write(
        self, p: str, a: float, b: float, value: Any, outcome: str | None = "ok", key: str = "r"
    ) -> int:
        fields = {"key": key, "value": value}
        return self.h.op(p, "reg_write", int(a * MS), outcome, int(b * MS), fields)

    def read(self, p: str, a: float, b: float, value: Any, outcome: str = "ok", key: str = "r") -> int:
        return self.h.op(
            p,
            "reg_read",
            int(a * MS),
            outcome,
            int(b * MS),
            {"key": key},
            {"value": value} if outcome == "ok" else None,
        )

    def cas(self, p: str, a: float, b: float, expected: Any, new: Any, outcome: str | None = "ok") -> int:
        fields = {"key": "r", "value": [expected, new]}
        return self.h.op(p, "reg_cas", int(a * MS), outcome, int(b * MS), fields)

    def check(self, **params: Any) -> Any:
        return check_linearizable(completion_order(self.h.records), **params)


def test_sequential_register_is_valid() -> None:
    r = Reg()
    r.read("a", 0, 1, None)
    r.write("a", 2, 3, 1)
    r.read("b", 4, 5, 1)
    r.cas("b", 6, 7, 1, 2)
    r.read("a", 8, 9, 2)
    v = r.check()
    assert v.status == "valid" and v.name == NAME and v.details["keys_searched"] == 1


def test_concurrent_read_may_see_either_value() -> None:
    for seen in (1, 2):
        r = Reg()
        r.write("a", 0, 1, 1)
        r.write("a", 2, 10, 2)
        r.read("b", 3, 4, seen)
        assert r.check().status == "valid"


def test_stale_read_is_not_linearizable() -> None:
    r = Reg()
    r.write("a", 0, 1, 1)
    w2 = r.write("a", 2, 3, 2)
    bad = r.read("b", 4, 5, 1)
    v = r.check()
    assert v.status == "invalid" and v.violations == 1
    [ex] = v.examples
    assert ex["kind"] == "nonlinearizable" and ex["key"] == "r" and ex["op"] == bad
    assert ex["value"] == 1 and ex["linearized_before"][-1] == w2 and ex["invoke_ms"] == 4.0


def test_reads_must_agree_on_an_order() -> None:
    r = Reg()
    r.write("a", 0, 10, 1)
    r.write("b", 0, 10, 2)
    r.read("c", 1, 11, 1)
    r.read("c", 12, 13, 2)
    r.read("d", 12, 13, 1)  # 2 then 1 after both writes completed: impossible
    assert r.check().status == "invalid"


@pytest.mark.parametrize("outcome", ["info", None])
def test_unknown_write_may_apply_late_or_never(outcome: str | None) -> None:
    r = Reg()
    r.write("a", 0, 1, 1)
    r.write("b", 2, 3, 2, outcome=outcome)
    r.read("c", 50, 51, 1)  # not applied (yet)
    r.read("c", 60, 61, 2)  # applied now
    assert r.check().status == "valid"
    r.read("c", 70, 71, 1)  # but it cannot un-apply
    assert r.check().status == "invalid"


def test_failed_ops_and_unknown_reads_are_left_out() -> None:
    r = Reg()
    r.write("a", 0, 1, 1)
    r.write("a", 2, 3, 9, outcome="fail")
    r.read("b", 4, 5, None, outcome="info")
    r.read("b", 6, 7, 1)
    r.cas("b", 8, 9, 5, 6, outcome="fail")
    assert r.check().status == "valid"


def test_cas_needs_the_expected_value() -> None:
    r = Reg()
    r.write("a", 0, 1, 1)
    r.cas("b", 2, 3, 7, 8)  # acknowledged although the register held 1
    assert r.check().status == "invalid"


def test_json_values_and_keys_are_separate() -> None:
    r = Reg()
    r.write("a", 0, 1, {"leader": "n1", "term": 3})
    r.read("b", 2, 3, {"term": 3, "leader": "n1"})
    r.read("b", 2, 3, None, key="other")
    assert r.check().status == "valid"


def test_bounds_give_unknown_never_a_guess() -> None:
    r = Reg()
    for i in range(10):
        r.write("a", 2 * i, 2 * i + 1, i)
    v = r.check(max_ops=5)
    assert v.status == "unknown" and v.details["unknown_reasons"] == {"r": "10 ops > max_ops 5"}
    r.read("b", 100, 101, 3)  # a violation past the bound is not claimed either
    assert r.check(max_ops=5).status == "unknown"
    entries = random_history(60, processes=10, seed=1, info_rate=0.3)
    result = search(entries, None, max_steps=10)
    assert result.status == "unknown" and "10 steps" in result.reason


def test_total_budget_leaves_the_remaining_keys_unknown() -> None:
    r = Reg()
    for key in ("k1", "k2", "k3"):
        for i in range(4):
            r.write("a", 2 * i, 2 * i + 1, i, key=key)
    assert r.check().status == "valid"
    v = r.check(max_total_steps=5)  # spent on the first key: the others are not searched
    assert v.status == "unknown"
    reasons = v.details["unknown_reasons"]
    assert any("total budget of 5 steps" in why for why in reasons.values())
    assert v.details["bounds"]["max_total_steps"] == 5
    with pytest.raises(ValueError, match="positive"):
        r.check(max_total_steps=0)


def test_empty_history_is_unknown() -> None:
    assert check_linearizable([]).status == "unknown"


def test_generated_histories_are_linearizable_and_bench_reports_every_size() -> None:
    for seed in range(20):
        assert search(random_history(40, processes=4, seed=seed)).status == "valid"
    out = bench(sizes=(10, 20), seeds=2)
    assert set(out["sizes"]) == {"10", "20"}
    assert out["sizes"]["10"]["valid"]["statuses"] == ["valid"]


def test_bench_stale_read_variant_is_never_linearizable() -> None:
    # the stale value was overwritten by an acknowledged write before the read began: no
    # linearization exists, so the search answers invalid (or unknown at the budget), never valid
    out = bench(sizes=(10, 25, 50), processes=5, info_rate=0.3, seeds=8)
    for row in out["sizes"].values():
        assert "valid" not in row["stale-read"].get("status_counts", {}), row
        assert row["stale-read"]["histories"] > 0


@SETTINGS
@given(steps=steps_st)
def test_property_clean_register_is_valid(steps: list[Any]) -> None:
    v = check_linearizable(completion_order(simulate(steps)))
    assert v.status == "valid", v


@SETTINGS
@given(steps=steps_st, seed=st.integers(0, 2**16))
def test_property_one_impossible_read_is_caught(steps: list[Any], seed: int) -> None:
    mutated = ANOMALIES["nonlinearizable"](copy.deepcopy(simulate(steps)), random.Random(seed))
    v = check_linearizable(completion_order(mutated))
    assert v.status == "invalid" and v.examples[0]["kind"] == "nonlinearizable"
