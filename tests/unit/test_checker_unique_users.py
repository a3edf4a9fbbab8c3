"""unique-user-estimates: hand-built PFADD/PFCOUNT histories, plus properties over a simulated HLL."""

from __future__ import annotations

import copy
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checkers.unique_users import NAME, check_unique_users
from tests.quality.cases._sim import MS, History, completion_order
from tests.quality.cases._sim_hll import simulate, steps_st
from tests.quality.cases.unique_users import ANOMALIES

SETTINGS = settings(
    max_examples=100, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
KEY = "unique:acme:users:2024011510"


def users(a: int, b: int) -> list[str]:
    return [f"u{i}" for i in range(a, b)]


class Hll:
    def __init__(self) -> None:
        self.h = History()

    def add(self, at: int, elements: list[str], outcome: str | None = "ok", took: int = 1) -> int:
        return self.h.op(
            "w",
            "pfadd",
            at * MS,
            outcome,
            (at + took) * MS,
            {"key": KEY, "value": elements},
            {"value": 1} if outcome == "ok" else None,
        )

    def count(self, at: int, estimate: int, took: int = 1, key: str = KEY) -> int:
        return self.h.op("r", "pfcount", at * MS, "ok", (at + took) * MS, {"key": key}, {"value": estimate})

    def check(self) -> Any:
        return check_unique_users(completion_order(self.h.records))


def test_estimates_within_three_standard_errors_are_valid() -> None:
    s = Hll()
    s.add(0, users(0, 10_000))
    s.add(2, users(5_000, 10_000))  # duplicates do not count
    s.count(4, 10_243)  # +2.43%
    s.count(6, 9_757)  # -2.43%
    v = s.check()
    assert v.status == "valid" and v.name == NAME and v.details["pfcounts_judged"] == 2
    assert v.details["relative_error_when_exact"]["max"] == 0.0243


def test_estimate_out_of_bound() -> None:
    s = Hll()
    s.add(0, users(0, 10_000))
    bad = s.count(4, 10_244)
    v = s.check()
    assert v.status == "invalid" and v.violations == 1
    [ex] = v.examples
    assert ex["kind"] == "hll-out-of-bound" and ex["op"] == bad
    assert (ex["exact_min"], ex["exact_max"], ex["allowed"]) == (10_000, 10_000, [9_757, 10_243])
    assert ex["error_pct"] == 2.44


def test_small_counts_are_exact_within_one() -> None:
    s = Hll()
    s.add(0, users(0, 3))
    s.count(2, 4)
    assert s.check().status == "valid"
    s.count(3, 5)
    assert s.check().status == "invalid"


def test_concurrent_and_unknown_adds_widen_the_range() -> None:
    s = Hll()
    s.add(0, users(0, 100))
    s.add(3, users(100, 200), took=10)  # overlaps the count
    s.add(4, users(200, 300), outcome="info")
    s.add(4, users(300, 400), outcome=None)
    s.add(4, users(400, 500), outcome="fail")  # certainly not added
    s.count(5, 100)
    s.count(6, 400)
    assert s.check().status == "valid"
    s.count(7, 420)
    v = s.check()
    assert v.status == "invalid" and v.examples[0]["exact_max"] == 400


def test_adds_after_the_count_do_not_count() -> None:
    s = Hll()
    s.add(0, users(0, 100))
    s.count(2, 100)
    s.add(10, users(100, 200))
    assert s.check().status == "valid"


def test_keys_are_separate_and_empty_is_unknown() -> None:
    s = Hll()
    s.add(0, users(0, 100))
    s.count(2, 0, key="unique:other:users:1")
    assert s.check().status == "valid"
    assert check_unique_users([]).status == "unknown"
    t = Hll()
    t.add(0, users(0, 1))
    assert t.check().status == "unknown"


@SETTINGS
@given(steps=steps_st)
def test_property_clean_hll_is_valid(steps: list[Any]) -> None:
    assert check_unique_users(completion_order(simulate(steps))).status == "valid"


@SETTINGS
@given(steps=steps_st, seed=st.integers(0, 2**16))
def test_property_one_bad_estimate_is_one_violation(steps: list[Any], seed: int) -> None:
    mutated = ANOMALIES["hll-out-of-bound"](copy.deepcopy(simulate(steps)), random.Random(seed))
    v = check_unique_users(completion_order(mutated))
    assert v.status == "invalid" and v.violations == 1
