"""read-your-writes: hand-built histories for each case, plus properties over the simulated store."""

from __future__ import annotations

import copy
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checkers.read_your_writes import NAME, ReadYourWrites, check_read_your_writes
from harness.history.loader import pair_ops
from tests.quality.cases import NotApplicable
from tests.quality.cases._sim import MS, History, completion_order
from tests.quality.cases._sim_versions import simulate, steps_st
from tests.quality.cases.read_your_writes import ANOMALIES

SETTINGS = settings(
    max_examples=100, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def write(
    h: History, session: str, key: str, t_ms: int, done_ms: int, outcome: str | None, version: int
) -> int:
    result = {"value": version} if outcome == "ok" else None
    return h.op(session, "write", t_ms * MS, outcome, done_ms * MS, {"key": key, "session": session}, result)


def read(h: History, session: str, key: str, t_ms: int, done_ms: int, value: int | None, **extra: Any) -> int:
    fields = {"key": key, "session": session, **extra}
    return h.op(session, "read", t_ms * MS, "ok", done_ms * MS, fields, {"value": value})


def check(h: History) -> Any:
    return check_read_your_writes(completion_order(h.records))


def test_read_after_own_write_that_sees_it_is_valid() -> None:
    h = History()
    write(h, "s1", "k", 0, 2, "ok", 1)
    read(h, "s1", "k", 3, 4, 1)
    write(h, "s2", "k", 3, 7, "ok", 2)  # another session's, in flight during the next read
    read(h, "s1", "k", 5, 6, 2)  # newer than own write: fine (version 2 was being written)
    v = check(h)
    assert v.status == "valid" and v.name == NAME
    assert v.details["reads_after_own_write"] == 2 and v.details["stale_reads"] == 0


def test_stale_read_is_reported_with_staleness() -> None:
    h = History()
    write(h, "s1", "k", 0, 2, "ok", 1)
    w2 = write(h, "s1", "k", 3, 5, "ok", 2)
    w3 = write(h, "s1", "k", 6, 8, "ok", 3)
    r = read(h, "s1", "k", 20, 21, 1, read_pref="secondaryPreferred")
    v = check(h)
    assert v.status == "invalid" and v.violations == 1
    [ex] = v.examples
    assert ex["kind"] == "stale-read" and ex["read_op"] == r
    assert ex["observed_version"] == 1 and ex["expected_min_version"] == 3 and ex["write_op"] == w3
    assert ex["first_missed_write_op"] == w2 and ex["ms_behind"] == 15.0 and ex["versions_behind"] == 2
    assert ex["read_invoke_ms"] == 20.0 and ex["read_pref"] == "secondaryPreferred"
    assert v.details["staleness_ms"]["max"] == 15.0 and v.details["staleness_versions"]["p50"] == 2
    assert v.details["by_read_pref"]["secondaryPreferred"] == {"reads": 1, "stale": 1}


def test_absent_record_is_version_zero() -> None:
    h = History()
    write(h, "s1", "k", 0, 1, "ok", 1)
    read(h, "s1", "k", 2, 3, None)
    v = check(h)
    assert v.status == "invalid" and v.examples[0]["observed_version"] == 0


def test_concurrent_read_may_miss_the_write() -> None:
    h = History()
    write(h, "s1", "k", 0, 10, "ok", 1)
    read(h, "s1", "k", 5, 12, None)  # invoked before the write was acknowledged
    assert check(h).status == "unknown"  # no read followed an acknowledged own write


def test_other_sessions_may_read_stale() -> None:
    h = History()
    write(h, "s1", "k", 0, 1, "ok", 1)
    read(h, "s1", "k", 2, 3, 1)
    read(h, "s2", "k", 4, 5, None)  # another session: not read-your-writes
    read(h, "s1", "other", 4, 5, None)  # another key
    assert check(h).status == "valid"


def test_unknown_and_failed_writes_promise_nothing() -> None:
    for outcome in ("info", "fail", None):
        h = History()
        write(h, "s1", "k", 0, 1, "ok", 1)
        write(h, "s1", "k", 2, 3, outcome, 2)
        read(h, "s1", "k", 4, 5, 1)
        v = check(h)
        assert v.status == "valid", (outcome, v)
        assert sum(v.details["writes"].values()) == 2


def test_reads_without_ok_observe_nothing() -> None:
    h = History()
    write(h, "s1", "k", 0, 1, "ok", 1)
    h.op("s1", "read", 2 * MS, "info", 3 * MS, {"key": "k", "session": "s1"})
    h.op("s1", "read", 4 * MS, None, 0, {"key": "k", "session": "s1"})
    v = check(h)
    assert v.status == "unknown" and v.details["reads_not_ok"] == 2


def test_session_defaults_to_process() -> None:
    h = History()
    h.op("w1", "write", 0, "ok", MS, {"key": "k"}, {"value": 1})
    h.op("w1", "read", 2 * MS, "ok", 3 * MS, {"key": "k"}, {"value": None})
    assert check(h).status == "invalid"


def test_empty_history_is_unknown() -> None:
    v = check_read_your_writes([])
    assert v.status == "unknown" and v.violations == 0


def test_arrival_order_does_not_matter_for_a_verdict() -> None:
    h = History()
    write(h, "s1", "k", 0, 2, "ok", 1)
    write(h, "s1", "k", 3, 4, "ok", 2)
    read(h, "s1", "k", 5, 30, 1)  # long read: arrives after the next ops complete
    read(h, "s1", "k", 6, 7, 2)
    ops = pair_ops(h.file_order())  # invoke order
    assert check_read_your_writes(ops).violations == 1
    assert check_read_your_writes(completion_order(h.records)).violations == 1


def test_malformed_ops_are_counted_not_judged() -> None:
    h = History()
    h.op("s", "write", 0, "ok", MS, {"session": "s"}, {"value": 1})  # no key
    h.op("s", "write", 2 * MS, "ok", 3 * MS, {"key": "k", "session": "s"}, {"value": "x"})
    v = check(h)
    assert v.status == "unknown" and v.details["malformed_ops"] == 2


def test_custom_f_names() -> None:
    h = History()
    h.op("s", "profile_update", 0, "ok", MS, {"key": "k"}, {"value": 3})
    h.op("s", "profile_get", 2 * MS, "ok", 3 * MS, {"key": "k"}, {"value": 2})
    checker = ReadYourWrites(writes=["profile_update"], reads=["profile_get"])
    for op in completion_order(h.records):
        checker.observe(op)
    assert checker.finish().status == "invalid"


@SETTINGS
@given(steps=steps_st)
def test_property_clean_store_is_valid(steps: list[Any]) -> None:
    v = check_read_your_writes(completion_order(simulate(steps)))
    assert v.status == "valid", v


@SETTINGS
@given(steps=steps_st, seed=st.integers(0, 2**16))
def test_property_one_stale_read_is_one_violation(steps: list[Any], seed: int) -> None:
    records = simulate(steps)
    try:
        mutated = ANOMALIES["stale-read"](copy.deepcopy(records), random.Random(seed))
    except NotApplicable:  # pragma: no cover - the prelude always offers a place
        raise AssertionError("the simulated history always has a read after an own write") from None
    v = check_read_your_writes(completion_order(mutated))
    assert v.status == "invalid" and v.violations == 1
    assert v.examples[0]["kind"] == "stale-read" and v.examples[0]["versions_behind"] >= 1
