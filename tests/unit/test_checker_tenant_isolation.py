"""tenant-isolation: hand-built histories, plus properties over the simulated store."""

from __future__ import annotations

import copy
import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checkers.tenant_isolation import NAME, check_tenant_isolation
from tests.quality.cases._sim import MS, History, completion_order
from tests.quality.cases._sim_tenants import simulate, steps_st
from tests.quality.cases.tenant_isolation import ANOMALIES

SETTINGS = settings(
    max_examples=100, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def read(
    h: History,
    tenant: str,
    found: list[str],
    f: str = "query_events",
    outcome: str | None = "ok",
    ids: list[str] | None = None,
) -> int:
    t = (h.next_id + 1) * MS
    result = {"tenants": found, "ids": ids if ids is not None else [f"{x}:i" for x in found]}
    return h.op("r", f, t, outcome, t + MS, {"tenant": tenant}, result if outcome == "ok" else None)


def check(h: History, **params: Any) -> Any:
    return check_tenant_isolation(completion_order(h.records), **params)


def test_own_items_only_is_valid() -> None:
    h = History()
    read(h, "a", ["a", "a"])
    read(h, "b", [])
    read(h, "b", ["b"], f="timeline_read")
    v = check(h)
    assert v.status == "valid" and v.name == NAME
    assert v.details["reads_with_evidence"] == 3 and v.details["items"] == 3 and v.details["tenants"] == 2


def test_foreign_item_is_reported() -> None:
    h = History()
    read(h, "a", ["a"])
    bad = read(h, "a", ["a", "b", "c", "b"], ids=["e1", "e2", "e3", "e4"], f="audit_read")
    v = check(h)
    assert v.status == "invalid" and v.violations == 1
    [ex] = v.examples
    assert ex["kind"] == "cross-tenant-read" and ex["op"] == bad and ex["f"] == "audit_read"
    assert ex["foreign_tenants"] == ["b", "c"] and ex["foreign_ids"] == ["e2", "e3", "e4"]
    assert ex["items"] == 4 and ex["foreign_items"] == 3 and ex["invoke_ms"] is not None
    assert v.details["cross_tenant_pairs"] == {"a->b": 1, "a->c": 1}
    assert v.details["foreign_items"] == 3


def test_ops_that_did_not_complete_ok_carry_no_evidence() -> None:
    h = History()
    read(h, "a", ["a"])
    for outcome in ("info", "fail", None):
        read(h, "a", ["b"], outcome=outcome)
    assert check(h).status == "valid"


def test_reads_without_evidence_are_unknown() -> None:
    h = History()
    h.op("r", "query_events", 0, "ok", MS, {"tenant": "a"}, {"value": 3})
    v = check(h, reads=["query_events"])
    assert v.status == "unknown" and v.details["reads_without_evidence"] == 1
    assert check_tenant_isolation([]).status == "unknown"


def test_restricting_reads_ignores_other_fs() -> None:
    h = History()
    read(h, "a", ["a"])
    read(h, "a", ["b"], f="debug_dump")
    assert check(h, reads=["query_events"]).status == "valid"
    assert check(h).status == "invalid"


def test_malformed_evidence_is_counted() -> None:
    h = History()
    h.op("r", "q", 0, "ok", MS, {}, {"tenants": ["a"]})  # no tenant asked for
    h.op("r", "q", 2 * MS, "ok", 3 * MS, {"tenant": "a"}, {"tenants": "a"})  # not a list
    v = check(h)
    assert v.status == "unknown" and v.details["malformed_ops"] == 2


@SETTINGS
@given(steps=steps_st)
def test_property_clean_store_is_valid(steps: list[Any]) -> None:
    assert check_tenant_isolation(completion_order(simulate(steps))).status == "valid"


@SETTINGS
@given(steps=steps_st, seed=st.integers(0, 2**16))
def test_property_one_leak_is_one_violation(steps: list[Any], seed: int) -> None:
    mutated = ANOMALIES["cross-tenant-read"](copy.deepcopy(simulate(steps)), random.Random(seed))
    v = check_tenant_isolation(completion_order(mutated))
    assert v.status == "invalid" and v.violations == 1 and v.details["foreign_items"] == 1
