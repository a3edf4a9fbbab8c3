"""Checker: the sliding-window rate limiter never admits more than its limit in a window.

The limiter is one Lua script per key::

    ZREMRANGEBYSCORE key 0 now-window; count = ZCARD key
    if count >= limit then reject else ZADD key now req; PEXPIRE key window; allow

so, for one key whose ``now_ms`` values arrive in nondecreasing order, every admitted request at
``t`` has at most ``limit`` admitted requests (itself included) with ``now_ms`` in ``(t - window, t]``.
Only windows ending at an admitted request need checking: any window can slide right to the last
admission inside it without losing one.

Requests whose outcome is unknown (info, or never completed) may or may not be in the set. A window
is a violation only when the *definitely* admitted requests exceed the limit; when only definite plus
possible ones do, it is counted as an uncertain window.

A sharded limiter spreads one logical limiter (``group``, the tenant) over ``shards`` keys, each
with its own per-key limit. Each key is checked as above; the whole group may admit up to
``shards × per-key limit`` in a window (the documented bound: more than ``group_limit``, which is the
cost of sharding, so exceeding ``group_limit`` is reported but is not a violation).

No admitted request may be lost: an admitted call whose invoke carries a link id (``event_id``, or
the walking skeleton's ``event``) must be followed by a write op for the same ``(variant, tenant,
link)`` (an op whose ``f`` is in ``write_fs``, by default ``incr`` and ``insert``) that did not
``fail`` (a failed write certainly did not happen; one of unknown outcome may have); an admission
without one is ``admitted-request-lost``. Whether the write then survived is the business of the
acknowledged-writes checkers. A limiter-only workload sets ``write_fs`` empty (scenario
``checker_params``); then this part is not judged and the verdict says so. Admitted calls without a
link id cannot be followed and are counted apart.

Ops read (fold protocol, any order): ``rate_limit`` (invoke: ``key``, ``tenant``, optional link
id, ``value`` = ``{now_ms, limit, window_ms, req, group?, group_limit?, shards?}``; ok completion:
``value`` = ``{allowed: bool, remaining}``) and the write ops of ``write_fs``. Ties on ``now_ms``
are ordered by invoke time, then op id; ``now_ms`` going backwards on a key (in invoke order) is
noted, not judged.

Per key and per group: sort by ``now_ms`` once, then one binary search per admitted request, so
O(n log n) overall.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from harness.checkers.compose import fold
from harness.checkers.verdict import MAX_EXAMPLES, Status, Verdict, run_ms
from harness.history.loader import Op
from harness.ops import OpType

NAME = "rate-limit-holds"

#: Op ids listed per example window (the ones closest to its end).
_EXAMPLE_OPS = 10
#: Examples kept for group-bound breaches even when per-key violations are more numerous.
_MIN_GROUP_EXAMPLES = 5


class _Req(NamedTuple):
    now_ms: float
    invoke_ns: int  # ties on now_ms sort by invoke time, then op id
    op_id: int
    window_ms: float
    limit: int
    key: str


@dataclass
class _KeyState:
    key: str
    group: str
    admitted: list[_Req] = field(default_factory=list)
    possible: list[_Req] = field(default_factory=list)
    rejected: int = 0
    failed: int = 0
    # (invoke_ns, op id, now_ms) of rejected and failed calls: with the others, for the clock check
    others: list[tuple[int, int, float]] = field(default_factory=list)
    regressions: int = 0


@dataclass
class _GroupState:
    group: str
    shards: int = 1
    group_limit: int | None = None
    max_key_limit: int = 0
    keys: set[str] = field(default_factory=set)


@dataclass
class _Finding:
    kind: str
    invoke_ns: int
    example: dict[str, Any]


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _params(op: Op) -> tuple[str, float, int, float, str, int | None, int] | None:
    """(key, now_ms, limit, window_ms, group, group_limit, shards), or None when malformed."""
    key = op.get("key")
    value = op.invoke.get("value")
    if not isinstance(key, str) or not isinstance(value, dict):
        return None
    now = _num(value.get("now_ms"))
    limit = value.get("limit")
    window = _num(value.get("window_ms"))
    if now is None or window is None or window <= 0 or not isinstance(limit, int) or limit < 0:
        return None
    group = value.get("group")
    if not isinstance(group, str):
        group = op.get("tenant") if isinstance(op.get("tenant"), str) else key
    group_limit = value.get("group_limit")
    shards = value.get("shards")
    return (
        key,
        now,
        limit,
        window,
        group,
        group_limit if isinstance(group_limit, int) and not isinstance(group_limit, bool) else None,
        shards if isinstance(shards, int) and not isinstance(shards, bool) and shards > 0 else 1,
    )


def _window_counts(times: list[float], req: _Req) -> tuple[int, int]:
    """Index range ``[lo, hi)`` of ``times`` inside ``(now - window, now]``."""
    return bisect_right(times, req.now_ms - req.window_ms), bisect_right(times, req.now_ms)


def _ms(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _check_key(
    st: _KeyState, findings: list[_Finding], totals: Counter[str], regressed_keys: set[str]
) -> None:
    admitted = sorted(st.admitted)
    possible = sorted(st.possible)
    times = [r.now_ms for r in admitted]
    ptimes = [r.now_ms for r in possible]
    for req in admitted:
        lo, hi = _window_counts(times, req)
        count = hi - lo
        if count > req.limit:
            totals["violating_windows"] += 1
            window_ops = admitted[max(lo, hi - _EXAMPLE_OPS) : hi]
            findings.append(
                _Finding(
                    "over-limit",
                    req.invoke_ns,
                    {
                        "kind": "over-limit",
                        "key": st.key,
                        "group": st.group,
                        "op": req.op_id,
                        "at_ms": run_ms(req.invoke_ns),
                        "window_start_ms": _ms(req.now_ms - req.window_ms),
                        "window_end_ms": _ms(req.now_ms),
                        "window_ms": _ms(req.window_ms),
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


def _check_group(
    gs: _GroupState, keys: Sequence[_KeyState], findings: list[_Finding], totals: Counter[str]
) -> dict[str, Any] | None:
    """Checks ``shards × per-key limit``; returns the group's worst window for the overshoot report."""
    admitted = sorted(r for st in keys for r in st.admitted)
    if not admitted:
        return None
    bound = gs.shards * gs.max_key_limit
    times = [r.now_ms for r in admitted]
    worst = 0
    worst_req: _Req | None = None
    for req in admitted:
        lo, hi = _window_counts(times, req)
        count = hi - lo
        if count > worst:
            worst, worst_req = count, req
        if count > bound:
            totals["group_violating_windows"] += 1
            window = admitted[lo:hi]
            findings.append(
                _Finding(
                    "group-bound",
                    req.invoke_ns,
                    {
                        "kind": "group-bound",
                        "group": gs.group,
                        "op": req.op_id,
                        "at_ms": run_ms(req.invoke_ns),
                        "window_start_ms": _ms(req.now_ms - req.window_ms),
                        "window_end_ms": _ms(req.now_ms),
                        "window_ms": _ms(req.window_ms),
                        "count": count,
                        "bound": bound,
                        "shards": gs.shards,
                        "per_key_limit": gs.max_key_limit,
                        "group_limit": gs.group_limit,
                        "keys_in_window": dict(Counter(r.key for r in window).most_common(_EXAMPLE_OPS)),
                        "op_ids": [r.op_id for r in window[-_EXAMPLE_OPS:]],
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
        "window_end_ms": _ms(worst_req.now_ms),
        "at_ms": run_ms(worst_req.invoke_ns),
    }


def _pick_examples(findings: list[_Finding]) -> list[dict[str, Any]]:
    key_f = sorted((f for f in findings if f.kind != "group-bound"), key=lambda f: f.invoke_ns)
    group_f = sorted((f for f in findings if f.kind == "group-bound"), key=lambda f: f.invoke_ns)
    n_group = min(len(group_f), _MIN_GROUP_EXAMPLES)
    n_key = min(len(key_f), MAX_EXAMPLES - n_group)
    n_group = min(len(group_f), MAX_EXAMPLES - n_key)
    chosen = key_f[:n_key] + group_f[:n_group]
    chosen.sort(key=lambda f: f.invoke_ns)
    return [f.example for f in chosen]


_LINKS = ("event_id", "event")
_WRITES = frozenset({"incr", "insert"})


def _link(op: Op) -> tuple[Any, ...] | None:
    for name in _LINKS:
        link = op.get(name)
        if link is not None and not isinstance(link, bool | dict | list):
            return (op.get("variant"), op.get("tenant"), str(link))
    return None


class RateLimitHolds:
    """Fold form of the checker (see the module docstring)."""

    name = NAME

    def __init__(self, write_fs: Iterable[str] = _WRITES) -> None:
        self.write_fs = frozenset(write_fs)
        if "rate_limit" in self.write_fs:
            raise ValueError("write_fs must not contain 'rate_limit'")
        self.fs: frozenset[str] | None = self.write_fs | {"rate_limit"}
        self.keys: dict[str, _KeyState] = {}
        self.groups: dict[str, _GroupState] = {}
        self.totals: Counter[str] = Counter()
        # Links are held as hashes of (variant, tenant, link id): a third of the memory of the
        # tuples at 1M ops; a collision (odds ~1e-8 per million events) could hide one lost admission.
        # hash -> (op id, invoke_ns, tenant, key, link id) of admitted calls whose write is not seen yet
        self.admitted_links: dict[int, tuple[int, int, Any, str, str]] = {}
        self.written: set[int] = set()  # hashes of links some write op carried
        self.admitted_with_link = 0
        self.write_ops = 0
        self.failed_writes = 0

    def observe(self, op: Op) -> None:
        if op.f != "rate_limit":
            self.write_ops += 1
            link = _link(op)
            if op.outcome == OpType.FAIL:
                self.failed_writes += 1  # certainly not written: it satisfies no admission
            elif link is not None:
                h = hash(link)
                self.written.add(h)
                self.admitted_links.pop(h, None)
            return
        totals = self.totals
        totals["ops"] += 1
        params = _params(op)
        if params is None:
            totals["malformed_ops"] += 1
            return
        key, now, limit, window, group, group_limit, shards = params
        st = self.keys.get(key)
        if st is None:
            st = self.keys[key] = _KeyState(key=key, group=group)
        gs = self.groups.get(group)
        if gs is None:
            gs = self.groups[group] = _GroupState(group=group)
        gs.keys.add(key)
        gs.shards = max(gs.shards, shards)
        gs.max_key_limit = max(gs.max_key_limit, limit)
        if group_limit is not None:
            gs.group_limit = group_limit if gs.group_limit is None else max(gs.group_limit, group_limit)

        req = _Req(now, op.invoke_ns, op.id, window, limit, key)
        if op.outcome == OpType.OK:
            totals["ok_ops"] += 1
            result = op.completion.get("value") if op.completion else None
            allowed = result.get("allowed") if isinstance(result, dict) else None
            if allowed is True:
                st.admitted.append(req)
                link = _link(op)
                if link is not None:
                    self.admitted_with_link += 1
                    h = hash(link)
                    if h not in self.written:  # else its write was already seen
                        self.admitted_links[h] = (op.id, op.invoke_ns, op.get("tenant"), key, link[2])
            elif allowed is False:
                st.rejected += 1
                st.others.append((op.invoke_ns, op.id, now))
            else:  # acknowledged, but the answer is unreadable: it may have been admitted
                totals["malformed_ops"] += 1
                st.possible.append(req)
        elif op.outcome == OpType.FAIL:
            st.failed += 1
            st.others.append((op.invoke_ns, op.id, now))
        else:  # info, or never completed
            st.possible.append(req)

    def _clock_regressions(self) -> list[dict[str, Any]]:
        """Per key, in invoke order: calls whose ``now_ms`` is below an earlier call's."""
        examples: list[dict[str, Any]] = []
        for st in self.keys.values():
            calls = sorted(
                [(r.invoke_ns, r.op_id, r.now_ms) for r in st.admitted]
                + [(r.invoke_ns, r.op_id, r.now_ms) for r in st.possible]
                + st.others
            )
            last: float | None = None
            for invoke_ns, op_id, now in calls:
                if last is not None and now < last:
                    st.regressions += 1
                    self.totals["now_ms_regressions"] += 1
                    examples.append(
                        {
                            "key": st.key,
                            "op": op_id,
                            "at_ms": run_ms(invoke_ns),
                            "now_ms": _ms(now),
                            "previous_max_now_ms": _ms(last),
                        }
                    )
                else:
                    last = now
        examples.sort(key=lambda e: (e["at_ms"], e["op"]))
        return examples[:MAX_EXAMPLES]

    def _lost(self, findings: list[_Finding]) -> int:
        lost = 0
        for h, (op_id, invoke_ns, tenant, key, link) in self.admitted_links.items():
            if h in self.written:
                continue
            lost += 1
            findings.append(
                _Finding(
                    "admitted-request-lost",
                    invoke_ns,
                    {
                        "kind": "admitted-request-lost",
                        "key": key,
                        "tenant": tenant,
                        "link": link,
                        "op": op_id,
                        "at_ms": run_ms(invoke_ns),
                        "writes_expected": sorted(self.write_fs),
                    },
                )
            )
        return lost

    def finish(self) -> Verdict:
        keys, groups, totals = self.keys, self.groups, self.totals
        if totals["ops"] == 0:
            return Verdict(NAME, "unknown", 0, "no rate_limit ops in history", details={"malformed_ops": 0})
        if totals["ok_ops"] == 0:
            return Verdict(
                NAME,
                "unknown",
                0,
                f"{totals['ops']} rate_limit ops, none completed ok: cannot judge",
                details={**totals, "malformed_ops": totals["malformed_ops"]},
            )

        regression_examples = self._clock_regressions()
        findings: list[_Finding] = []
        regressed = {k for k, st in keys.items() if st.regressions}
        for st in keys.values():
            _check_key(st, findings, totals, regressed)

        by_group: dict[str, list[_KeyState]] = {}
        for st in keys.values():
            by_group.setdefault(st.group, []).append(st)
        sharded: list[dict[str, Any]] = []
        for name, gs in groups.items():
            if gs.shards > 1:
                worst = _check_group(gs, by_group.get(name, []), findings, totals)
                if worst is not None:
                    sharded.append(worst)
        sharded.sort(key=lambda g: (g["ratio"] or 0, g["max_admitted_in_window"], g["group"]), reverse=True)
        over_group_limit = [
            g
            for g in sharded
            if g["group_limit"] is not None and g["max_admitted_in_window"] > g["group_limit"]
        ]
        extra_key_groups = sorted(g.group for g in groups.values() if g.shards > 1 and len(g.keys) > g.shards)
        lost_judged = bool(self.write_fs)
        lost = self._lost(findings) if lost_judged else 0

        admitted = sum(len(st.admitted) for st in keys.values())
        unknown = sum(len(st.possible) for st in keys.values())
        key_v = totals["violating_windows"]
        group_v = totals["group_violating_windows"]
        violations = key_v + group_v + lost
        status: Status = "invalid" if violations else "valid"

        summary = (
            f"{totals['ops']} rate-limit calls on {len(keys)} keys "
            f"({len(sharded)} sharded groups): {admitted} admitted, "
            f"{key_v} over-limit windows, {group_v} group-bound breaches; "
            f"{totals['uncertain_windows']} uncertain windows, {unknown} with unknown outcome"
        )
        if lost_judged:
            summary += f"; {lost} admitted requests without their write"
        else:
            summary += "; lost admissions not judged (write_fs empty)"
        if sharded and sharded[0]["ratio"] is not None:
            summary += f"; worst sharded group {sharded[0]['group']} at {sharded[0]['ratio']:.2f}x its limit"
        if totals["now_ms_regressions"]:
            summary += (
                f"; now_ms went backwards {totals['now_ms_regressions']} times on {len(regressed)} keys"
            )

        details: dict[str, Any] = {
            "ops": totals["ops"],
            "keys": len(keys),
            "groups": len(groups),
            "sharded_groups": len(sharded),
            "admitted": admitted,
            "rejected": sum(st.rejected for st in keys.values()),
            "failed": sum(st.failed for st in keys.values()),
            "unknown_outcome": unknown,
            "violating_windows": key_v,
            "keys_with_violations": len({f.example["key"] for f in findings if f.kind == "over-limit"}),
            "group_violating_windows": group_v,
            "uncertain_windows": totals["uncertain_windows"],
            "worst_group_overshoot": sharded[0] if sharded else None,
            "sharded_group_overshoots": sharded[:MAX_EXAMPLES],
            "groups_over_group_limit": len(over_group_limit),
            "groups_with_more_keys_than_shards": extra_key_groups[:MAX_EXAMPLES],
            "admitted_with_link": self.admitted_with_link,
            "admitted_request_lost": lost,
            "lost_admissions_judged": lost_judged,
            "write_ops": self.write_ops,
            "failed_write_ops": self.failed_writes,
            "now_ms_regressions": totals["now_ms_regressions"],
            "keys_with_now_ms_regressions": len(regressed),
            "now_ms_regression_examples": regression_examples,
            "malformed_ops": totals["malformed_ops"],
        }
        return Verdict(NAME, status, violations, summary, _pick_examples(findings), details)


def check_rate_limit(ops: Iterable[Op], **params: Any) -> Verdict:
    return fold(RateLimitHolds(**params), ops)
