"""monotonic-reads: hand-built histories for each case, plus properties over the simulated store."""

from __future__ import annotations

import copy
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checkers.monotonic_reads import NAME, check_monotonic_reads
from harness.history.loader import pair_ops
from tests.quality.cases._sim import MS, History, completion_order
from tests.quality.cases._sim_versions import simulate, steps_st
from tests.quality.cases.monotonic_reads import ANOMALIES

SETTINGS = settings(
    max_examples=100, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def read(
    h: History,
    session: str,
    t_ms: int,
    done_ms: int,
    value: int | None,
    key: str = "k",
    outcome: str | None = "ok",
) -> int:
    result = {"value": value} if outcome == "ok" else None
    return h.op(session, "read", t_ms * MS, outcome, done_ms * MS, {"key": key, "session": session}, result)


def check(h: History) -> Any:
    return check_monotonic_reads(completion_order(h.records))


def test_nondecreasing_reads_are_valid() -> None:
    h = History()
    for i, value in enumerate([None, 1, 1, 3, 7]):
        read(h, "s1", 2 * i, 2 * i + 1, value)
    v = check(h)
    assert v.status == "valid" and v.name == NAME and v.details["reads_compared"] == 4


def test_regressing_read_names_both_reads() -> None:
    h = History()
    read(h, "s1", 0, 1, 2)
    a = read(h, "s1", 2, 3, 5)
    read(h, "s1", 4, 5, 5)
    b = read(h, "s1", 6, 7, 3)
    v = check(h)
    assert v.status == "invalid" and v.violations == 1
    [ex] = v.examples
    assert ex["kind"] == "regressing-read" and ex["read_op"] == b and ex["earlier_read_op"] == a
    assert ex["observed_version"] == 3 and ex["earlier_version"] == 5 and ex["versions_back"] == 2
    assert ex["read_invoke_ms"] == 6.0
    assert v.details["versions_back"]["max"] == 2


def test_back_to_absent_is_a_regression() -> None:
    h = History()
    read(h, "s1", 0, 1, 1)
    read(h, "s1", 2, 3, None)
    assert check(h).status == "invalid"


def test_overlapping_reads_are_not_compared() -> None:
    h = History()
    read(h, "s1", 0, 10, 5)
    read(h, "s1", 5, 6, 3)  # invoked before the first completed (pipelined)
    assert check(h).status == "unknown"


def test_sessions_and_keys_are_separate() -> None:
    h = History()
    read(h, "s1", 0, 1, 5)
    read(h, "s2", 2, 3, 1)
    read(h, "s1", 2, 3, 1, key="other")
    read(h, "s1", 4, 5, 5)
    assert check(h).status == "valid"


def test_unknown_reads_observe_nothing() -> None:
    h = History()
    read(h, "s1", 0, 1, 5)
    read(h, "s1", 2, 3, None, outcome="info")
    read(h, "s1", 4, 5, None, outcome=None)
    v = check(h)
    assert v.status == "unknown" and v.details["reads_not_ok"] == 2


def test_empty_history_is_unknown() -> None:
    assert check_monotonic_reads([]).status == "unknown"


def test_out_of_order_arrival() -> None:
    h = History()
    read(h, "s1", 0, 1, 4)
    read(h, "s1", 2, 50, 2)  # slow regressing read arrives last
    read(h, "s1", 3, 4, 4)  # pipelined with it: not compared
    for ops in (pair_ops(h.file_order()), completion_order(h.records)):
        assert check_monotonic_reads(ops).violations == 1


@SETTINGS
@given(steps=steps_st)
def test_property_clean_store_is_valid(steps: list[Any]) -> None:
    assert check_monotonic_reads(completion_order(simulate(steps))).status == "valid"


@SETTINGS
@given(steps=steps_st, seed=st.integers(0, 2**16))
def test_property_one_regression_is_one_violation(steps: list[Any], seed: int) -> None:
    mutated = ANOMALIES["regressing-read"](copy.deepcopy(simulate(steps)), random.Random(seed))
    v = check_monotonic_reads(completion_order(mutated))
    assert v.status == "invalid" and v.violations == 1
