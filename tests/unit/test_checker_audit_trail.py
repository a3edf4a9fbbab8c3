"""audit-trail-integrity: hand-built chains for each finding, plus properties over the simulated log."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.audit_chain import GENESIS, audit_hash, canonical
from harness.checkers.audit_trail import NAME, check_audit_trail
from tests.quality.cases import NotApplicable
from tests.quality.cases._sim import MS, History, completion_order
from tests.quality.cases._sim_audit import RETENTION_MS, simulate, steps_st
from tests.quality.cases.audit_trail import ANOMALIES

SETTINGS = settings(
    max_examples=100, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
NOW = 1_000_000.0


def record(n: int, prev: str, tenant: str = "a", logged: float = NOW - 10, **extra: Any) -> dict[str, Any]:
    rec = {
        "audit_id": f"aud-{n}",
        "tenant_id": tenant,
        "logged_at_ms": logged,
        "action": "login",
        "prev_hash": prev,
        **extra,
    }
    rec["hash"] = audit_hash(rec, prev)
    return rec


def chain(n: int, tenant: str = "a", **extra: Any) -> list[dict[str, Any]]:
    recs: list[dict[str, Any]] = []
    for i in range(n):
        recs.append(record(i, recs[-1]["hash"] if recs else GENESIS, tenant, **extra))
    return recs


class Log:
    def __init__(self) -> None:
        self.h = History()
        self.t = 0

    def insert(self, rec: dict[str, Any], outcome: str | None = "ok") -> int:
        self.t += MS
        return self.h.op(
            "w",
            "audit_insert",
            self.t,
            outcome,
            self.t + MS,
            {"tenant": rec["tenant_id"], "value": copy.deepcopy(rec)},
        )

    def final(self, tenant: str, stored: list[dict[str, Any]], now: float = NOW, outcome: str = "ok") -> int:
        self.t += 10 * MS
        result = {"value": copy.deepcopy(stored)} if outcome == "ok" else None
        return self.h.op(
            "final", "final_audit", self.t, outcome, self.t + MS, {"tenant": tenant, "now_ms": now}, result
        )

    def tamper(self, f: str, audit_id: str, outcome: str, now: float = NOW) -> int:
        self.t += MS
        fields = {"tenant": "a", "key": audit_id, "now_ms": now}
        return self.h.op("x", f, self.t, outcome, self.t + MS, fields)

    def check(self, **params: Any) -> Any:
        params.setdefault("retention_ms", 10_000.0)
        return check_audit_trail(completion_order(self.h.records), **params)


def logged(recs: list[dict[str, Any]]) -> Log:
    log = Log()
    for rec in recs:
        log.insert(rec)
    return log


def kinds(v: Any) -> list[str]:
    return sorted(ex["kind"] for ex in v.examples)


def test_hash_is_over_canonical_content_and_previous_hash() -> None:
    rec = {"b": 1, "a": {"y": "é", "x": [1, 2]}, "hash": "h", "prev_hash": "p", "_id": "oid"}
    assert canonical({"b": 1, "a": {"y": "é", "x": [1, 2]}}) == '{"a":{"x":[1,2],"y":"é"},"b":1}'.encode()
    assert audit_hash(rec, "p") == audit_hash({"a": {"x": [1, 2], "y": "é"}, "b": 1}, "p")
    assert audit_hash(rec, "p") != audit_hash(rec, "q")
    assert audit_hash(rec, GENESIS).startswith("sha256:") and len(audit_hash(rec, GENESIS)) == 71


def test_intact_chain_is_valid() -> None:
    recs = chain(5)
    log = logged(recs)
    log.final("a", recs)
    v = log.check()
    assert v.status == "valid" and v.name == NAME and v.details["records_stored"] == 5


def test_content_edit_without_rehash_is_mismatch_and_edit() -> None:
    recs = chain(3)
    log = logged(recs)
    stored = copy.deepcopy(recs)
    stored[1]["action"] = "nothing_happened"
    log.final("a", stored)
    v = log.check()
    assert v.status == "invalid" and kinds(v) == ["audit-hash-mismatch", "audit-record-edited"]
    edit = next(ex for ex in v.examples if ex["kind"] == "audit-record-edited")
    assert edit["audit_id"] == "aud-1" and edit["changed"] == ["content"] and edit["insert_op"] == 2


def test_rewritten_tail_is_caught_by_the_history_alone() -> None:
    recs = chain(3)
    log = logged(recs)
    stored = copy.deepcopy(recs)
    stored[1]["action"] = "nothing_happened"
    stored[1]["hash"] = audit_hash(stored[1], stored[1]["prev_hash"])
    stored[2]["prev_hash"] = stored[1]["hash"]
    stored[2]["hash"] = audit_hash(stored[2], stored[2]["prev_hash"])
    log.final("a", stored)
    v = log.check()
    assert kinds(v) == ["audit-record-edited", "audit-record-edited"]  # every hash verifies


def test_deleted_before_retention() -> None:
    recs = chain(3)
    log = logged(recs)
    log.final("a", [recs[0], recs[2]])
    v = log.check()
    assert v.status == "invalid" and v.violations == 1  # the gap it leaves is not counted again
    [ex] = v.examples
    assert ex["kind"] == "audit-record-deleted" and ex["audit_id"] == "aud-1" and ex["insert_op"] == 2


def test_expired_records_may_be_gone_in_any_order() -> None:
    old = chain(4, logged=NOW - 50_000)  # retention 10 s: all expired
    log = logged(old)
    log.final("a", [old[0], old[2]])  # the TTL monitor removed 1 and 3
    assert log.check().status == "valid"


def test_clock_skew_allowance() -> None:
    recs = chain(1, logged=NOW - 10_000 + 1.5)  # expires 0.5 ms after the read ends (NOW + 1)
    log = logged(recs)
    log.final("a", [])
    assert log.check(clock_skew_ms=1).status == "valid"
    assert log.check(clock_skew_ms=0).status == "invalid"


def test_fork_is_a_broken_chain() -> None:
    a, b = chain(2)
    c = record(9, a["hash"])  # a second record after a: two writers appended to the same head
    log = logged([a, b, c])
    log.final("a", [a, b, c])
    v = log.check()
    assert kinds(v) == ["audit-chain-broken"] and "fork" in v.examples[0]["reason"]
    assert v.examples[0]["audit_ids"] == ["aud-1", "aud-9"]


def test_dangling_link_and_duplicate_id_are_broken_chains() -> None:
    a = record(0, GENESIS)
    b = record(1, "sha256:" + "f" * 64)
    log = logged([a, b])
    log.final("a", [a, b, a])
    v = log.check()
    assert v.violations == 2 and kinds(v) == ["audit-chain-broken", "audit-chain-broken"]
    reasons = sorted(ex["reason"] for ex in v.examples)
    assert reasons[0].startswith("predecessor hash matches no record")
    assert reasons[1] == "the same audit_id is stored twice"


def test_forged_record() -> None:
    recs = chain(2)
    log = logged(recs[:1])
    log.final("a", recs)
    assert kinds(log.check()) == ["audit-record-forged"]


@pytest.mark.parametrize("landed", [True, False])
def test_unknown_outcome_insert_may_or_may_not_be_stored(landed: bool) -> None:
    a, b = chain(2)
    log = Log()
    log.insert(a)
    log.insert(b, "info")
    log.final("a", [a, b] if landed else [a])
    assert log.check().status == "valid"


def test_link_to_an_unknown_insert_that_never_landed_is_broken() -> None:
    a, b, c = chain(3)
    log = Log()
    log.insert(a)
    log.insert(b, None)  # never completed, not stored
    log.insert(c)
    log.final("a", [a, c])
    assert kinds(log.check()) == ["audit-chain-broken"]


def test_failed_insert_is_not_expected() -> None:
    a, b = chain(2)
    log = Log()
    log.insert(a)
    log.insert(b, "fail")
    log.final("a", [a])
    assert log.check().status == "valid"


def test_tampering_that_succeeds() -> None:
    recs = chain(2)
    log = logged(recs)
    log.tamper("audit_update", "aud-0", "ok")
    log.tamper("audit_delete", "aud-1", "fail")
    log.final("a", recs)
    v = log.check()
    assert kinds(v) == ["audit-record-edited"] and v.examples[0]["reason"] == "audit_update was acknowledged"
    assert v.details["tamper_attempts_refused"] == 1


def test_delete_after_expiry_is_retention() -> None:
    recs = chain(1, logged=NOW - 50_000)
    log = logged(recs)
    log.tamper("audit_delete", "aud-0", "ok")
    log.final("a", [])
    assert log.check().status == "valid"


def test_unreadable_tenant_is_unknown() -> None:
    log = logged(chain(2))
    log.final("a", [], outcome="info")
    v = log.check()
    assert v.status == "unknown" and v.details["tenants_unjudged"] == 1
    assert check_audit_trail([]).status == "unknown"


def test_tenants_are_separate_chains() -> None:
    a, b = chain(2, "a"), chain(2, "b")
    log = logged(a + b)
    log.final("a", a)
    log.final("b", [b[1]])
    v = log.check()
    assert kinds(v) == ["audit-record-deleted"] and v.examples[0]["tenant"] == "b"


def test_pages_are_united() -> None:
    recs = chain(4)
    log = logged(recs)
    log.final("a", recs[:2])
    log.final("a", recs[2:])
    assert log.check().status == "valid"


@SETTINGS
@given(steps=steps_st)
def test_property_clean_log_is_valid(steps: list[Any]) -> None:
    v = check_audit_trail(completion_order(simulate(steps)), retention_ms=RETENTION_MS, clock_skew_ms=1)
    assert v.status == "valid", v


@pytest.mark.parametrize("kind", ["audit-record-deleted", "audit-chain-broken", "audit-hash-mismatch"])
def test_property_one_anomaly(kind: str) -> None:
    expected = {
        "audit-record-deleted": ({kind}, 1),
        "audit-chain-broken": ({kind}, 1),
        "audit-hash-mismatch": ({kind, "audit-record-edited"}, 2),
    }[kind]

    @SETTINGS
    @given(steps=steps_st, seed=st.integers(0, 2**16))
    def run(steps: list[Any], seed: int) -> None:
        try:
            mutated = ANOMALIES[kind](copy.deepcopy(simulate(steps)), random.Random(seed))
        except NotApplicable:
            return
        v = check_audit_trail(completion_order(mutated), retention_ms=RETENTION_MS, clock_skew_ms=1)
        assert v.status == "invalid"
        assert {ex["kind"] for ex in v.examples} == expected[0] and v.violations == expected[1], v

    run()
