"""Detection-matrix case: HyperLogLog unique-user estimates over a simulated, correct HLL."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable
from typing import Any

from hypothesis.strategies import SearchStrategy

from harness.checkers.unique_users import check_unique_users
from harness.checkers.verdict import Verdict
from harness.history.loader import Op
from tests.quality.cases._sim import completion_record, ops_by_id
from tests.quality.cases._sim_hll import STANDARD_ERROR, exact_range, out_of_bound, simulate, steps_st

CHECK: Callable[[Iterable[Op]], Verdict] = check_unique_users
Mutation = Callable[[list[dict[str, Any]], random.Random], list[dict[str, Any]]]


def clean() -> SearchStrategy[list[dict[str, Any]]]:
    return steps_st.map(simulate)


def _out_of_bound(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """One PFCOUNT over- or under-counts by one more than three standard errors allow (lost registers)."""
    ops = list(ops_by_id(records).values())
    counts = [o for o in ops if o.f == "pfcount" and o.outcome == "ok"]
    count = rng.choice(counts)  # the prelude guarantees one
    lo, _ = exact_range(ops, count)
    # an undercount needs room below the bound: at lo = 1 the bound is 0, and no estimate is lower
    below = lo - math.ceil(3 * STANDARD_ERROR * lo) >= 1 and rng.random() < 0.5
    value = out_of_bound(records, count.id, below, 0)  # just outside: one past three standard errors
    assert value >= 0
    completion_record(records, count.id)["value"] = value
    return records


ANOMALIES: dict[str, Mutation] = {"hll-out-of-bound": _out_of_bound}
