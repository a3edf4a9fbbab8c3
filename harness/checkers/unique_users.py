"""Checker: HyperLogLog unique-user counts stay within their error bound of the exact count.

The platform counts active users per tenant and hour with ``PFADD unique:{tenant}:users:{hour}
user...`` and reads them with ``PFCOUNT``. Redis' HyperLogLog has a standard error of 0.81%
(1.04/sqrt(16384)); an estimate further than ``sigmas`` standard errors from the exact distinct
count (3 by default, so 2.43%) means lost or corrupted registers (a failover to a replica that missed
``PFADD``s, a merge gone wrong), not estimation noise.

Op vocabulary:

``pfadd`` — invoke: ``key`` (str), ``tenant``, ``value`` = list of the elements added (user ids).
``pfcount`` — invoke: ``key`` (one key; unions are not judged); completion ``ok``: ``value`` = the
    estimate (int).

The exact count a ``PFCOUNT`` should estimate is known only within a range, because adds overlap
it or have unknown outcomes: at least the distinct elements of ``ok`` adds acknowledged before the
count was invoked, at most those of every add that did not fail and was invoked before the count
completed. An estimate is out of bound when it is below ``lo - ceil(k·σ·lo)`` or above
``hi + ceil(k·σ·hi)`` (the ceiling keeps small counts, where one unit is more than 2.43%, judgeable).

Streaming: per key, each distinct element keeps two times (earliest acknowledgement, earliest
invoke), as hashes, and every count is kept as four numbers; the ranges are computed in ``finish``
by sorting those times once per key (adds of unknown outcome arrive last).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.checkers._common import Examples, as_int, percentiles
from harness.checkers.compose import fold
from harness.checkers.verdict import Status, Verdict, run_ms
from harness.history.loader import Op
from harness.ops import OpType

# the members once: each OpType.X is an enum-class lookup (~200 ns), several per op and checker
_OK, _FAIL = OpType.OK, OpType.FAIL

NAME = "unique-user-estimates"
#: The anomaly kinds this checker's examples (and ``details["violations_by_kind"]``) can name.
KINDS: frozenset[str] = frozenset({"hll-out-of-bound"})

#: Redis HyperLogLog: 1.04 / sqrt(2**14) registers.
STANDARD_ERROR = 0.0081


@dataclass
class _Key:
    acked: dict[int, int] = field(default_factory=dict)  # element hash -> earliest ok complete_ns
    invoked: dict[int, int] = field(default_factory=dict)  # element hash -> earliest non-fail invoke_ns
    counts: list[tuple[int, int, int, int]] = field(default_factory=list)  # invoke, complete, est, id
    tenant: Any = None


class UniqueUsers:
    name = NAME

    def __init__(self, *, standard_error: float = STANDARD_ERROR, sigmas: float = 3.0) -> None:
        self.fs: frozenset[str] | None = frozenset({"pfadd", "pfcount"})
        self.bound = standard_error * sigmas
        self._keys: dict[str, _Key] = {}
        self._examples = Examples()
        self._adds: dict[str, int] = {}
        self._counts_not_ok = 0
        self._malformed = 0

    def observe(self, op: Op) -> None:
        key = op.get("key")
        if not isinstance(key, str):
            self._malformed += 1
            return
        st = self._keys.get(key)
        if st is None:
            st = self._keys[key] = _Key(tenant=op.get("tenant"))
        if op.f == "pfadd":
            outcome = op.outcome or "none"
            self._adds[outcome] = self._adds.get(outcome, 0) + 1
            elements = op.invoke.get("value")
            if not isinstance(elements, list):
                self._malformed += 1
                return
            if op.outcome == _FAIL:
                return
            for element in elements:
                h = hash(element)
                if op.invoke_ns < st.invoked.get(h, math.inf):
                    st.invoked[h] = op.invoke_ns
                if (
                    op.outcome == _OK
                    and op.complete_ns is not None
                    and op.complete_ns < st.acked.get(h, math.inf)
                ):
                    st.acked[h] = op.complete_ns
            return
        if op.outcome != _OK or op.complete_ns is None or op.completion is None:
            self._counts_not_ok += 1
            return
        estimate = as_int(op.completion.get("value"))
        if estimate is None:
            self._malformed += 1
            return
        st.counts.append((op.invoke_ns, op.complete_ns, estimate, op.id))

    def finish(self) -> Verdict:
        judged = 0
        errors: list[float] = []  # relative error where the exact count is known exactly
        for key, st in self._keys.items():
            if not st.counts:
                continue
            acked = sorted(st.acked.values())
            invoked = sorted(st.invoked.values())
            for invoke_ns, complete_ns, estimate, op_id in st.counts:
                judged += 1
                lo = bisect_left(acked, invoke_ns)
                hi = bisect_left(invoked, complete_ns)
                lo_allowed = lo - math.ceil(self.bound * lo)
                hi_allowed = hi + math.ceil(self.bound * hi)
                if lo == hi and lo > 0:
                    errors.append(abs(estimate - lo) / lo)
                if lo_allowed <= estimate <= hi_allowed:
                    continue
                nearest = lo if estimate < lo_allowed else hi
                self._examples.add(
                    invoke_ns,
                    {
                        "kind": "hll-out-of-bound",
                        "key": key,
                        "tenant": st.tenant,
                        "op": op_id,
                        "invoke_ms": run_ms(invoke_ns),
                        "complete_ms": run_ms(complete_ns),
                        "estimate": estimate,
                        "exact_min": lo,
                        "exact_max": hi,
                        "allowed": [lo_allowed, hi_allowed],
                        "error_pct": None if nearest == 0 else round(100 * (estimate - nearest) / nearest, 3),
                    },
                )
        n = self._examples.count
        details: dict[str, Any] = {
            "violations_by_kind": dict(self._examples.by_kind),
            "keys": len(self._keys),
            "pfadds": self._adds,
            "pfcounts_judged": judged,
            "pfcounts_not_ok": self._counts_not_ok,
            "bound_pct": round(100 * self.bound, 3),
            "relative_error_when_exact": percentiles(errors),
            "malformed_ops": self._malformed,
        }
        if judged == 0:
            return Verdict(NAME, "unknown", 0, "no PFCOUNT completed ok", details=details)
        status: Status = "invalid" if n else "valid"
        summary = f"{n} of {judged} PFCOUNT estimates outside ±{details['bound_pct']}% of the exact count"
        return Verdict(NAME, status, n, summary, self._examples.examples(), details)


def check_unique_users(ops: Iterable[Op], **params: Any) -> Verdict:
    return fold(UniqueUsers(**params), ops)
