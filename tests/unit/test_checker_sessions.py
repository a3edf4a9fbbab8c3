"""sessions: hand-built histories for the sliding TTL, plus properties over the simulated store."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checkers.sessions import NAME, check_sessions
from tests.quality.cases import NotApplicable
from tests.quality.cases._sim import MS, WALL0_MS, History, completion_order
from tests.quality.cases._sim_sessions import SKEW_MS, TTL_MS, simulate, steps_st
from tests.quality.cases.sessions import ANOMALIES

SETTINGS = settings(
    max_examples=100, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
KEY = "session:acme:s1"
SESSION = {"user_id": "u1"}


class Store:
    """Ops at explicit run times (ms); wall clock = WALL0_MS + run time."""

    def __init__(self) -> None:
        self.h = History()

    def op(
        self,
        f: str,
        at: float,
        outcome: str | None = "ok",
        took: float = 1,
        key: str = KEY,
        value: Any = "unset",
        **extra: Any,
    ) -> int:
        fields = {"key": key, "tenant": "acme", "now_ms": WALL0_MS + at, **extra}
        result = None if value == "unset" else {"value": value}
        return self.h.op("c", f, int(at * MS), outcome, int((at + took) * MS), fields, result)

    def final(self, at: float, found: list[str], keys: list[str] | None = None) -> int:
        fields = {"keys": keys or [KEY], "now_ms": WALL0_MS + at}
        return self.h.op(
            "final", "final_sessions", int(at * MS), "ok", int((at + 1) * MS), fields, {"value": found}
        )

    def check(self, **params: Any) -> Any:
        params.setdefault("ttl_ms", 100)
        params.setdefault("clock_skew_ms", 1)
        return check_sessions(completion_order(self.h.records), **params)


def test_touched_session_lives_and_idle_one_goes() -> None:
    s = Store()
    s.op("session_create", 0)
    for at in (50, 120, 200):  # each within 100 ms of the previous touch
        s.op("session_touch", at, value=SESSION)
    s.op("session_read", 250, value=SESSION)  # 250 < 200 + 100
    s.final(400, [])  # idle for 200 ms: gone
    v = s.check()
    assert v.status == "valid" and v.name == NAME and v.details["observations_judged"] == 5


def test_lost_session_names_the_op_that_kept_it_alive() -> None:
    s = Store()
    s.op("session_create", 0)
    touch = s.op("session_touch", 50, value=SESSION)
    read = s.op("session_read", 100, value=None)  # deadline >= 150: lost (a failover dropped it)
    v = s.check()
    assert v.status == "invalid" and v.violations == 1
    [ex] = v.examples
    assert ex["kind"] == "session-lost" and ex["op"] == read and ex["deadline_op"] == touch
    assert ex["deadline_at_least_ms"] == WALL0_MS + 150 and ex["observed"] == "absent"
    assert ex["invoke_ms"] == 100.0 and ex["tenant"] == "acme"


def test_session_alive_past_ttl() -> None:
    s = Store()
    create = s.op("session_create", 0)
    s.op("session_read", 90, value=SESSION)  # a read does not extend
    late = s.op("session_touch", 150, value=SESSION)  # deadline <= 101
    v = s.check()
    assert v.status == "invalid" and v.violations == 1
    [ex] = v.examples
    assert ex["kind"] == "session-outlived-ttl" and ex["op"] == late and ex["deadline_op"] == create
    assert ex["deadline_at_most_ms"] == WALL0_MS + 101


def test_final_read_past_ttl() -> None:
    s = Store()
    s.op("session_create", 0)
    s.final(300, [KEY, "session:acme:never"], keys=[KEY, "session:acme:never"])
    v = s.check()
    # a session found that no op created is a violation of its own (it was only counted before)
    assert sorted(ex["kind"] for ex in v.examples) == ["phantom-session", "session-outlived-ttl"]
    assert v.details["phantom"] == 1


def test_touch_that_found_nothing_does_not_extend() -> None:
    s = Store()
    s.op("session_create", 0)
    s.op("session_touch", 150, value=None)  # expired already: nothing to extend
    s.op("session_read", 220, value=None)
    assert s.check().status == "valid"
    s.op("session_read", 230, value=SESSION)
    assert s.check().status == "invalid"


@pytest.mark.parametrize("outcome", ["info", None])
def test_unknown_extension_may_keep_it_alive(outcome: str | None) -> None:
    s = Store()
    s.op("session_create", 0)
    s.op("session_touch", 80, outcome=outcome)  # may have extended to 181
    s.op("session_read", 170, value=SESSION)
    assert s.check().status == "valid"


def test_unknown_extension_does_not_guarantee_it() -> None:
    s = Store()
    s.op("session_create", 0, outcome="info")
    s.op("session_read", 10, value=None)
    assert s.check().status == "unknown"  # nothing certain, nothing judged


def test_in_flight_extension_arriving_later_explains_presence() -> None:
    s = Store()
    s.op("session_create", 0)
    s.op("session_touch", 90, took=100, value=SESSION)  # slow touch: completes at 190, arrives after the read
    s.op("session_read", 150, value=SESSION)
    assert s.check().status == "valid"


def test_destroy_excuses_absence_even_when_it_arrives_later() -> None:
    s = Store()
    s.op("session_create", 0)
    s.op("session_destroy", 40, outcome=None)  # never completed: may have run
    s.op("session_read", 50, value=None)
    assert s.check().status == "valid"
    t = Store()
    t.op("session_create", 0)
    t.op("session_destroy", 40, outcome="fail")
    t.op("session_read", 50, value=None)
    assert t.check().status == "invalid"


def test_clock_skew_allowance() -> None:
    s = Store()
    s.op("session_create", 0)  # deadline in [100, 101]
    s.op("session_read", 101.5, value=SESSION)
    assert s.check(clock_skew_ms=1).status == "valid"
    assert s.check(clock_skew_ms=0).status == "invalid"


def test_per_op_ttl() -> None:
    s = Store()
    s.op("session_create", 0, ttl_ms=1000)
    s.op("session_read", 500, value=SESSION)
    assert s.check().status == "valid"


def test_empty_and_unjudgeable_histories_are_unknown() -> None:
    assert check_sessions([]).status == "unknown"
    s = Store()
    s.op("session_read", 10, value=None)  # never created, not found: nothing to judge
    assert s.check().status == "unknown"


@SETTINGS
@given(steps=steps_st)
def test_property_clean_store_is_valid(steps: list[Any]) -> None:
    v = check_sessions(completion_order(simulate(steps)), ttl_ms=TTL_MS, clock_skew_ms=SKEW_MS)
    assert v.status == "valid", v


@pytest.mark.parametrize("kind", ["session-lost", "session-outlived-ttl"])
def test_property_flipped_observation_is_caught(kind: str) -> None:
    @SETTINGS
    @given(steps=steps_st, seed=st.integers(0, 2**16))
    def run(steps: list[Any], seed: int) -> None:
        try:
            mutated = ANOMALIES[kind](copy.deepcopy(simulate(steps)), random.Random(seed))
        except NotApplicable:  # pragma: no cover - the prelude always offers both
            raise AssertionError("the prelude session offers both anomalies") from None
        v = check_sessions(completion_order(mutated), ttl_ms=TTL_MS, clock_skew_ms=SKEW_MS)
        assert v.status == "invalid"
        assert kind in {e["kind"] for e in v.examples}

    run()
