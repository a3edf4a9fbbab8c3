"""retention: hand-built MongoDB TTL and Redis TTL histories, plus properties over the simulation."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checkers.retention import DAY_MS, NAME, RETENTION_MS, check_retention
from tests.quality.cases import NotApplicable
from tests.quality.cases._sim import MS, WALL0_MS, History, completion_order
from tests.quality.cases._sim_retention import RETENTION_MS as SIM_RETENTION
from tests.quality.cases._sim_retention import SKEW_MS, TTL_LAG_MS, simulate, steps_st
from tests.quality.cases.retention import ANOMALIES

SETTINGS = settings(
    max_examples=100, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
CLASSES = {"standard": 100.0, "audit": 1000.0}


class Db:
    def __init__(self) -> None:
        self.h = History()

    def insert(
        self,
        at: float,
        key: str = "e1",
        cls: str = "standard",
        outcome: str | None = "ok",
        took: float = 1,
        **extra: Any,
    ) -> int:
        fields = {"key": key, "tenant": "acme", "retention_class": cls, "created_ms": WALL0_MS + at, **extra}
        return self.h.op("w", "doc_insert", int(at * MS), outcome, int((at + took) * MS), fields)

    def read(
        self, at: float, keys: list[str], found: list[str], f: str = "doc_read", took: float = 1, **extra: Any
    ) -> int:
        fields = {"keys": keys, "now_ms": WALL0_MS + at, **extra}
        return self.h.op("r", f, int(at * MS), "ok", int((at + took) * MS), fields, {"value": found})

    def ttl_write(
        self, at: float, key: str = "k", ttl: float = 50, outcome: str | None = "ok", took: float = 1
    ) -> int:
        fields = {"key": key, "ttl_ms": ttl, "now_ms": WALL0_MS + at}
        return self.h.op("w", "ttl_write", int(at * MS), outcome, int((at + took) * MS), fields)

    def check(self, **params: Any) -> Any:
        params.setdefault("retention_ms", CLASSES)
        params.setdefault("ttl_lag_ms", 20)
        params.setdefault("clock_skew_ms", 1)
        return check_retention(completion_order(self.h.records), **params)


def test_defaults_are_the_platform_classes() -> None:
    assert RETENTION_MS == {"standard": 90 * DAY_MS, "audit": 365 * DAY_MS, "aggregates": 180 * DAY_MS}


def test_documents_live_their_class_and_go_within_the_lag() -> None:
    db = Db()
    db.insert(0, "e1")
    db.insert(0, "a1", cls="audit")
    db.read(50, ["e1", "a1"], ["e1", "a1"])
    db.read(110, ["e1", "a1"], ["e1", "a1"])  # e1 expired at 100, the monitor has 20 ms
    db.read(130, ["e1", "a1"], ["a1"])
    v = db.check()
    assert v.status == "valid" and v.name == NAME and v.details["observations_judged"]["docs"] == 6


def test_document_found_after_expiry_and_lag() -> None:
    db = Db()
    ins = db.insert(0, "e1")
    late = db.read(125, ["e1"], ["e1"], f="final_docs")
    v = db.check()
    assert v.status == "invalid" and v.violations == 1
    [ex] = v.examples
    assert ex["kind"] == "expired-too-late" and ex["op"] == late and ex["insert_op"] == ins
    assert ex["expires_at_ms"] == WALL0_MS + 100 and ex["past_expiry_ms"] == 25.0
    assert db.check(ttl_lag_ms=60).status == "valid"  # the lag is a parameter


def test_document_removed_before_expiry() -> None:
    db = Db()
    db.insert(0, "e1")
    early = db.read(50, ["e1"], [])
    v = db.check()
    assert [ex["kind"] for ex in v.examples] == ["removed-too-early"] and v.examples[0]["op"] == early


def test_explicit_expires_at_wins() -> None:
    db = Db()
    db.insert(0, "e1", expires_at_ms=WALL0_MS + 10)
    db.read(50, ["e1"], [])
    assert db.check().status == "valid"


def test_absence_before_the_ack_or_from_a_secondary_or_unknown_insert_is_fine() -> None:
    db = Db()
    db.insert(0, "e1", took=10)
    db.read(5, ["e1"], [])  # invoked before the insert was acknowledged
    db.read(20, ["e1"], [], read_pref="secondaryPreferred")
    db.insert(0, "e2", outcome="info")
    db.read(20, ["e2"], [])
    db.insert(0, "e3", outcome="fail")
    db.read(20, ["e3"], [])
    db.read(30, ["e1"], ["e1"])
    db.read(300, ["e1"], ["e1"], read_pref="secondary")  # a lagging secondary: not judged
    assert db.check().status == "valid"


def test_unknown_insert_found_late_is_judged_when_it_arrives() -> None:
    db = Db()
    db.insert(0, "e1", outcome=None)  # never completed: arrives after the read
    db.read(200, ["e1"], ["e1"])
    v = db.check()
    assert [ex["kind"] for ex in v.examples] == ["expired-too-late"]


def test_redis_key_found_past_its_ttl() -> None:
    db = Db()
    w = db.ttl_write(0)  # deadline <= 51
    db.read(40, ["k"], ["k"], f="key_read")
    late = db.read(60, ["k", "other"], ["k"], f="final_keys")
    v = db.check()
    assert v.status == "invalid" and v.violations == 1
    [ex] = v.examples
    assert ex["kind"] == "ttl-expired-too-late" and ex["op"] == late and ex["deadline_op"] == w
    assert ex["deadline_at_most_ms"] == WALL0_MS + 51


def test_redis_ttl_refreshed_by_later_or_in_flight_writes() -> None:
    db = Db()
    db.ttl_write(0)
    db.ttl_write(40, took=30)  # in flight when the read ran; arrives after it
    db.read(60, ["k"], ["k"], f="key_read")
    db.ttl_write(100, outcome="fail")
    db.read(125, ["k"], ["k"], f="key_read")  # deadline <= 120 + 1 skew: found at 125 is late
    v = db.check()
    assert [ex["op"] for ex in v.examples] == [5]


@pytest.mark.parametrize("outcome", ["info", None])
def test_redis_write_of_unknown_outcome_may_extend(outcome: str | None) -> None:
    db = Db()
    db.ttl_write(0)
    db.ttl_write(30, outcome=outcome)
    db.read(70, ["k"], ["k"], f="key_read")
    assert db.check().status == "valid"


def test_nothing_to_judge_is_unknown() -> None:
    assert check_retention([]).status == "unknown"
    db = Db()
    db.read(10, ["nope"], [])
    v = db.check()
    assert v.status == "unknown"


def test_a_key_gone_after_its_ttl_is_judged_and_before_it_is_not() -> None:
    """Reads that do not find a TTL'd key are evidence only once the key's latest possible deadline
    has passed (the same bound a read finding it is a violation past)."""
    db = Db()
    db.ttl_write(0)  # deadline <= 51
    db.read(30, ["k"], [], f="key_read")  # not due yet: removed early is not judged here
    db.read(120, ["never-written"], [], f="key_read")  # no write: nothing to judge
    early = db.check()
    assert early.status == "unknown" and early.details["observations_judged"]["keys"] == 0
    db.read(60, ["k"], [], f="final_keys")  # past 51 + 1 skew and gone: retention held
    v = db.check()
    assert v.status == "valid" and v.details["observations_judged"]["keys"] == 1


def test_a_ttl_write_invoked_after_the_read_does_not_make_its_absence_evidence() -> None:
    db = Db()
    db.read(60, ["k"], [], f="key_read")
    db.ttl_write(70)
    assert db.check().status == "unknown"


def test_malformed_inserts_are_counted() -> None:
    db = Db()
    db.insert(0, "e1", cls="mystery")
    assert db.check().details["malformed_ops"] == 1


@SETTINGS
@given(steps=steps_st)
def test_property_clean_histories_are_valid(steps: list[Any]) -> None:
    v = check_retention(
        completion_order(simulate(steps)),
        retention_ms=SIM_RETENTION,
        ttl_lag_ms=TTL_LAG_MS,
        clock_skew_ms=SKEW_MS,
    )
    assert v.status == "valid", v


@pytest.mark.parametrize("kind", list(ANOMALIES))
def test_property_one_flip_is_one_violation(kind: str) -> None:
    @SETTINGS
    @given(steps=steps_st, seed=st.integers(0, 2**16))
    def run(steps: list[Any], seed: int) -> None:
        try:
            mutated = ANOMALIES[kind](copy.deepcopy(simulate(steps)), random.Random(seed))
        except NotApplicable:
            return
        v = check_retention(
            completion_order(mutated),
            retention_ms=SIM_RETENTION,
            ttl_lag_ms=TTL_LAG_MS,
            clock_skew_ms=SKEW_MS,
        )
        assert v.status == "invalid" and v.violations == 1 and v.examples[0]["kind"] == kind, v

    run()
