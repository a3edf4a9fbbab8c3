"""The rate limiter's windows (see :mod:`harness.checkers.rate_limit`): per key, admitted requests
over the limit in a window (``over-limit``) and windows only requests of unknown outcome could push
over it (uncertain); per sharded group, windows over ``shards × per-key limit`` (``group-bound``)
and the group's worst window for the overshoot report; and which findings become examples.

Per key and per group: sort by ``now_ms`` once, then one binary search per request, so
O(n log n) overall.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from harness.checkers.verdict import MAX_EXAMPLES, run_ms

#: Op ids listed per example window (the ones closest to its end).
EXAMPLE_OPS = 10
#: Examples kept for group-bound breaches even when per-key violations are more numerous.
_MIN_GROUP_EXAMPLES = 5


class Req(NamedTuple):
    """One rate_limit call, as the windows see it."""

    now_ms: float
    invoke_ns: int  # ties on now_ms sort by invoke time, then op id
    op_id: int
    window_ms: float
    limit: int
    key: str


@dataclass
class KeyState:
    """One limiter key's calls: admitted, possibly admitted (unknown outcome), rejected, failed."""

    key: str
    group: str
    admitted: list[Req] = field(default_factory=list)
    possible: list[Req] = field(default_factory=list)
    rejected: int = 0
    failed: int = 0
    # (invoke_ns, op id, now_ms) of rejected and failed calls: with the others, for the clock check
    others: list[tuple[int, int, float]] = field(default_factory=list)
    regressions: int = 0


@dataclass
class GroupState:
    """One logical limiter (a tenant) spread over ``shards`` keys."""

    group: str
    shards: int = 1
    group_limit: int | None = None
    max_key_limit: int = 0
    keys: set[str] = field(default_factory=set)


@dataclass
class Finding:
    """A violation: its kind, when its op was invoked (to order examples by) and its example."""

    kind: str
    invoke_ns: int
    example: dict[str, Any]


def _window_counts(times: list[float], req: Req) -> tuple[int, int]:
    """Index range ``[lo, hi)`` of ``times`` inside ``(now - window, now]``."""
    return bisect_right(times, req.now_ms - req.window_ms), bisect_right(times, req.now_ms)


def ms(value: float) -> float | int:
    """A ``now_ms``-scale value for an example: an int when it is whole."""
    return int(value) if float(value).is_integer() else value


def check_key(st: KeyState, findings: list[Finding], totals: Counter[str], regressed_keys: set[str]) -> None:
    """Each window of one key ending at an admitted request: ``over-limit`` (a finding) when the
    definitely admitted requests exceed the limit, else uncertain when possible ones could; and each
    window a possibly admitted request would close, uncertain when it could tip it over."""
    admitted = sorted(st.admitted)
    possible = sorted(st.possible)
    times = [r.now_ms for r in admitted]
    ptimes = [r.now_ms for r in possible]
    for req in admitted:
        lo, hi = _window_counts(times, req)
        count = hi - lo
        if count > req.limit:
            totals["violating_windows"] += 1
            window_ops = admitted[max(lo, hi - EXAMPLE_OPS) : hi]
            findings.append(
                Finding(
                    "over-limit",
                    req.invoke_ns,
                    {
                        "kind": "over-limit",
                        "key": st.key,
                        "group": st.group,
                        "op": req.op_id,
                        "at_ms": run_ms(req.invoke_ns),
                        "window_start_ms": ms(req.now_ms - req.window_ms),
                        "window_end_ms": ms(req.now_ms),
                        "window_ms": ms(req.window_ms),
                        "count": count,
                        "limit": req.limit,
                        "op_ids": [r.op_id for r in window_ops],
                        "now_ms_regressed": st.key in regressed_keys,
                    },
                )
            )
            continue
        plo, phi = _window_counts(ptimes, req)
        if count + (phi - plo) > req.limit:
            totals["uncertain_windows"] += 1
    # a possibly-admitted request, had it been admitted, also closes a window
    for req in possible:
        lo, hi = _window_counts(times, req)
        plo, phi = _window_counts(ptimes, req)
        if hi - lo <= req.limit < (hi - lo) + (phi - plo):
            totals["uncertain_windows"] += 1


def check_group(
    gs: GroupState, keys: Sequence[KeyState], findings: list[Finding], totals: Counter[str]
) -> dict[str, Any] | None:
    """Checks ``shards × per-key limit``; returns the group's worst window for the overshoot report."""
    admitted = sorted(r for st in keys for r in st.admitted)
    if not admitted:
        return None
    bound = gs.shards * gs.max_key_limit
    times = [r.now_ms for r in admitted]
    worst = 0
    worst_req: Req | None = None
    for req in admitted:
        lo, hi = _window_counts(times, req)
        count = hi - lo
        if count > worst:
            worst, worst_req = count, req
        if count > bound:
            totals["group_violating_windows"] += 1
            window = admitted[lo:hi]
            findings.append(
                Finding(
                    "group-bound",
                    req.invoke_ns,
                    {
                        "kind": "group-bound",
                        "group": gs.group,
                        "op": req.op_id,
                        "at_ms": run_ms(req.invoke_ns),
                        "window_start_ms": ms(req.now_ms - req.window_ms),
                        "window_end_ms": ms(req.now_ms),
                        "window_ms": ms(req.window_ms),
                        "count": count,
                        "bound": bound,
                        "shards": gs.shards,
                        "per_key_limit": gs.max_key_limit,
                        "group_limit": gs.group_limit,
                        "keys_in_window": dict(Counter(r.key for r in window).most_common(EXAMPLE_OPS)),
                        "op_ids": [r.op_id for r in window[-EXAMPLE_OPS:]],
                    },
                )
            )
    assert worst_req is not None
    group_limit = gs.group_limit
    return {
        "group": gs.group,
        "max_admitted_in_window": worst,
        "group_limit": group_limit,
        "bound": bound,
        "shards": gs.shards,
        "keys": len(gs.keys),
        "ratio": round(worst / group_limit, 4) if group_limit else None,
        "window_end_ms": ms(worst_req.now_ms),
        "at_ms": run_ms(worst_req.invoke_ns),
    }


def pick_examples(findings: list[Finding]) -> list[dict[str, Any]]:
    key_f = sorted((f for f in findings if f.kind != "group-bound"), key=lambda f: f.invoke_ns)
    group_f = sorted((f for f in findings if f.kind == "group-bound"), key=lambda f: f.invoke_ns)
    n_group = min(len(group_f), _MIN_GROUP_EXAMPLES)
    n_key = min(len(key_f), MAX_EXAMPLES - n_group)
    n_group = min(len(group_f), MAX_EXAMPLES - n_key)
    chosen = key_f[:n_key] + group_f[:n_group]
    chosen.sort(key=lambda f: f.invoke_ns)
    return [f.example for f in chosen]
