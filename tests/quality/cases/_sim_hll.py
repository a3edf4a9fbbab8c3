"""The simulated platform's unique-user counts (:mod:`harness.bench.sim.hll`) driven by hypothesis
steps: a HyperLogLog whose estimates err by at most two standard errors (a correct one, most of the
time), or sometimes by exactly three (rounded: the edge of the bound, which must still pass)."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

from harness.bench.sim.hll import UniqueUsers
from harness.checkers.unique_users import STANDARD_ERROR
from harness.history.loader import Op
from tests.quality.cases._sim import MS, History, ops_by_id

KEYS = ["unique:t0:users:2024011510", "unique:t1:users:2024011510"]
OUTCOMES = ["ok", "ok", "ok", "fail", "info", None]

# key, count?, outcome, applied (unknown outcomes), first user, users, noise in [-2, 2] or +-3 sigma,
# latency
Step = tuple[int, bool, str | None, bool, int, int, float, int]
steps_st = st.lists(
    st.tuples(
        st.integers(0, len(KEYS) - 1),
        st.booleans(),
        st.sampled_from(OUTCOMES),
        st.booleans(),
        st.integers(0, 5000),
        st.sampled_from([1, 3, 20, 400, 2500]),
        st.one_of(st.floats(-2, 2), st.sampled_from([-3.0, 3.0])),
        st.integers(1, 4),
    ),
    max_size=30,
)
PRELUDE: list[Step] = [(0, False, "ok", False, 0, 50, 0.0, 1), (0, True, "ok", False, 0, 0, 0.0, 1)]


def simulate(steps: list[Step]) -> list[dict[str, Any]]:
    h = History()
    hll = UniqueUsers(h)
    t = 0
    for n, (k, is_count, outcome, applied, first, users, noise, latency) in enumerate(PRELUDE + steps):
        key = KEYS[k]
        t += MS
        if is_count:
            exact = hll.exact(key)
            estimate = max(0, round(exact + noise * STANDARD_ERROR * exact))
            hll.pfcount(f"r{n % 2}", t, t + latency * MS, key, estimate, outcome)
        else:
            elements = [f"user_{i}" for i in range(first, first + users)]
            hll.pfadd(f"w{n % 3}", t, t + latency * MS, key, elements, outcome, applied)
    return h.file_order()


def exact_range(ops: list[Op], count: Op) -> tuple[int, int]:
    """The range the exact distinct count was in while ``count`` ran (as the invariant defines it)."""
    lo: set[str] = set()
    hi: set[str] = set()
    done = count.complete_ns or 0
    for o in ops:
        if o.f != "pfadd" or o.get("key") != count.get("key") or o.outcome == "fail":
            continue
        if o.invoke_ns < done:
            hi.update(o.get("value"))
        if o.outcome == "ok" and o.complete_ns is not None and o.complete_ns < count.invoke_ns:
            lo.update(o.get("value"))
    return len(lo), len(hi)


def out_of_bound(records: list[dict[str, Any]], op_id: int, below: bool, extra: int) -> int:
    """An estimate just outside three standard errors of the exact range."""
    ops = list(ops_by_id(records).values())
    lo, hi = exact_range(ops, next(o for o in ops if o.id == op_id))
    if below:
        return lo - math.ceil(3 * STANDARD_ERROR * lo) - 1 - extra
    return hi + math.ceil(3 * STANDARD_ERROR * hi) + 1 + extra
