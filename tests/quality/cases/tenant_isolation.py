"""Detection-matrix case: tenant isolation over a simulated multi-tenant store."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

from hypothesis.strategies import SearchStrategy

from harness.checkers.tenant_isolation import check_tenant_isolation
from harness.checkers.verdict import Verdict
from harness.history.loader import Op
from tests.quality.cases import NotApplicable
from tests.quality.cases._sim_tenants import TENANTS, simulate, steps_st

CHECK: Callable[[Iterable[Op]], Verdict] = check_tenant_isolation


def clean() -> SearchStrategy[list[dict[str, Any]]]:
    return steps_st.map(simulate)


def _cross_tenant_read(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """One read returns one item of another tenant: swapped in, or added to the result."""
    reads = [r for r in records if r["type"] == "ok" and "tenants" in r]
    if not reads:
        raise NotApplicable("no ok read")
    rec = rng.choice(reads)
    own = next(r for r in records if r["id"] == rec["id"] and r["type"] == "invoke")["tenant"]
    other = rng.choice([t for t in TENANTS if t != own])
    item = f"{other}:leaked"
    if rec["tenants"] and rng.random() < 0.5:
        i = rng.randrange(len(rec["tenants"]))
        rec["tenants"][i], rec["ids"][i] = other, item
    else:
        i = rng.randrange(len(rec["tenants"]) + 1)
        rec["tenants"].insert(i, other)
        rec["ids"].insert(i, item)
    return records


ANOMALIES: dict[str, Callable[[list[dict[str, Any]], random.Random], list[dict[str, Any]]]] = {
    "cross-tenant-read": _cross_tenant_read,
}
