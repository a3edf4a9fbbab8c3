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

The windows, per key and per group, are judged in :mod:`harness.checkers.rate_limit_windows` (sort
by ``now_ms`` once, then one binary search per admitted request, so O(n log n) overall); this
module reads the ops, follows admissions to their writes, notes clock regressions and gives the
verdict.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from harness.checkers.compose import fold
from harness.checkers.rate_limit_windows import (
    Finding,
    GroupState,
    KeyState,
    Req,
    check_group,
    check_key,
    ms,
    pick_examples,
)
from harness.checkers.verdict import MAX_EXAMPLES, Status, Verdict, run_ms
from harness.history.loader import Op
from harness.ops import OpType

# the members once: each OpType.X is an enum-class lookup (~200 ns), several per op and checker
_OK, _FAIL = OpType.OK, OpType.FAIL

NAME = "rate-limit-holds"
#: The anomaly kinds this checker's examples (and ``details["violations_by_kind"]``) can name.
KINDS: frozenset[str] = frozenset({"over-limit", "group-bound", "admitted-request-lost"})


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _params(op: Op) -> tuple[str, float, int, float, str, int | None, int] | None:
    """(key, now_ms, limit, window_ms, group, group_limit, shards), or None when malformed."""
    inv = op.invoke  # op.get is a Python call per field: read the invoke directly on this hot path
    key = inv.get("key")
    value = inv.get("value")
    if not isinstance(key, str) or not isinstance(value, dict):
        return None
    now = _num(value.get("now_ms"))
    limit = value.get("limit")
    window = _num(value.get("window_ms"))
    if now is None or window is None or window <= 0 or not isinstance(limit, int) or limit < 0:
        return None
    group = value.get("group")
    if not isinstance(group, str):
        tenant = inv.get("tenant")
        group = tenant if isinstance(tenant, str) else key
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


_LINKS = ("event_id", "event")
_WRITES = frozenset({"incr", "insert"})


def _link(op: Op) -> tuple[Any, ...] | None:
    inv = op.invoke  # called for every write and admission: the invoke's dict directly, not op.get
    for name in _LINKS:
        link = inv.get(name)
        if link is not None and not isinstance(link, bool | dict | list):
            return (inv.get("variant"), inv.get("tenant"), str(link))
    return None


class RateLimitHolds:
    """Fold form of the checker (see the module docstring)."""

    name = NAME

    def __init__(self, write_fs: Iterable[str] = _WRITES) -> None:
        self.write_fs = frozenset(write_fs)
        if "rate_limit" in self.write_fs:
            raise ValueError("write_fs must not contain 'rate_limit'")
        self.fs: frozenset[str] | None = self.write_fs | {"rate_limit"}
        self.keys: dict[str, KeyState] = {}
        self.groups: dict[str, GroupState] = {}
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
            if op.outcome == _FAIL:
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
            st = self.keys[key] = KeyState(key=key, group=group)
        gs = self.groups.get(group)
        if gs is None:
            gs = self.groups[group] = GroupState(group=group)
        gs.keys.add(key)
        gs.shards = max(gs.shards, shards)
        gs.max_key_limit = max(gs.max_key_limit, limit)
        if group_limit is not None:
            gs.group_limit = group_limit if gs.group_limit is None else max(gs.group_limit, group_limit)

        req = Req(now, op.invoke_ns, op.id, window, limit, key)
        if op.outcome == _OK:
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
        elif op.outcome == _FAIL:
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
                            "now_ms": ms(now),
                            "previous_max_now_ms": ms(last),
                        }
                    )
                else:
                    last = now
        examples.sort(key=lambda e: (e["at_ms"], e["op"]))
        return examples[:MAX_EXAMPLES]

    def _lost(self, findings: list[Finding]) -> int:
        lost = 0
        for h, (op_id, invoke_ns, tenant, key, link) in self.admitted_links.items():
            if h in self.written:
                continue
            lost += 1
            findings.append(
                Finding(
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
        totals = self.totals
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
        findings: list[Finding] = []
        regressed = {k for k, st in self.keys.items() if st.regressions}
        for st in self.keys.values():
            check_key(st, findings, totals, regressed)
        sharded = self._check_groups(findings)
        lost = self._lost(findings) if self.write_fs else 0
        violations = totals["violating_windows"] + totals["group_violating_windows"] + lost
        status: Status = "invalid" if violations else "valid"
        summary = self._summary(sharded, lost, regressed)
        details = self._details(findings, sharded, lost, regressed, regression_examples)
        return Verdict(NAME, status, violations, summary, pick_examples(findings), details)

    def _check_groups(self, findings: list[Finding]) -> list[dict[str, Any]]:
        """Each sharded group's windows against its bound; their worst windows, most over their
        group limit first."""
        by_group: dict[str, list[KeyState]] = {}
        for st in self.keys.values():
            by_group.setdefault(st.group, []).append(st)
        sharded: list[dict[str, Any]] = []
        for name, gs in self.groups.items():
            if gs.shards > 1:
                worst = check_group(gs, by_group.get(name, []), findings, self.totals)
                if worst is not None:
                    sharded.append(worst)
        sharded.sort(key=lambda g: (g["ratio"] or 0, g["max_admitted_in_window"], g["group"]), reverse=True)
        return sharded

    def _summary(self, sharded: list[dict[str, Any]], lost: int, regressed: set[str]) -> str:
        totals = self.totals
        summary = (
            f"{totals['ops']} rate-limit calls on {len(self.keys)} keys "
            f"({len(sharded)} sharded groups): {self._admitted()} admitted, "
            f"{totals['violating_windows']} over-limit windows, "
            f"{totals['group_violating_windows']} group-bound breaches; "
            f"{totals['uncertain_windows']} uncertain windows, {self._unknown()} with unknown outcome"
        )
        if self.write_fs:
            summary += f"; {lost} admitted requests without their write"
        else:
            summary += "; lost admissions not judged (write_fs empty)"
        if sharded and sharded[0]["ratio"] is not None:
            summary += f"; worst sharded group {sharded[0]['group']} at {sharded[0]['ratio']:.2f}x its limit"
        if totals["now_ms_regressions"]:
            summary += (
                f"; now_ms went backwards {totals['now_ms_regressions']} times on {len(regressed)} keys"
            )
        return summary

    def _details(
        self,
        findings: list[Finding],
        sharded: list[dict[str, Any]],
        lost: int,
        regressed: set[str],
        regression_examples: list[dict[str, Any]],
    ) -> dict[str, Any]:
        keys, groups, totals = self.keys, self.groups, self.totals
        over_group_limit = [
            g
            for g in sharded
            if g["group_limit"] is not None and g["max_admitted_in_window"] > g["group_limit"]
        ]
        extra_key_groups = sorted(g.group for g in groups.values() if g.shards > 1 and len(g.keys) > g.shards)
        by_kind = {
            "over-limit": totals["violating_windows"],
            "group-bound": totals["group_violating_windows"],
            "admitted-request-lost": lost,
        }
        return {
            "violations_by_kind": {k: n for k, n in by_kind.items() if n},
            "ops": totals["ops"],
            "keys": len(keys),
            "groups": len(groups),
            "sharded_groups": len(sharded),
            "admitted": self._admitted(),
            "rejected": sum(st.rejected for st in keys.values()),
            "failed": sum(st.failed for st in keys.values()),
            "unknown_outcome": self._unknown(),
            "violating_windows": totals["violating_windows"],
            "keys_with_violations": len({f.example["key"] for f in findings if f.kind == "over-limit"}),
            "group_violating_windows": totals["group_violating_windows"],
            "uncertain_windows": totals["uncertain_windows"],
            "worst_group_overshoot": sharded[0] if sharded else None,
            "sharded_group_overshoots": sharded[:MAX_EXAMPLES],
            "groups_over_group_limit": len(over_group_limit),
            "groups_with_more_keys_than_shards": extra_key_groups[:MAX_EXAMPLES],
            "admitted_with_link": self.admitted_with_link,
            "admitted_request_lost": lost,
            "lost_admissions_judged": bool(self.write_fs),
            "write_ops": self.write_ops,
            "failed_write_ops": self.failed_writes,
            "now_ms_regressions": totals["now_ms_regressions"],
            "keys_with_now_ms_regressions": len(regressed),
            "now_ms_regression_examples": regression_examples,
            "malformed_ops": totals["malformed_ops"],
        }

    def _admitted(self) -> int:
        return sum(len(st.admitted) for st in self.keys.values())

    def _unknown(self) -> int:
        """Calls of unknown outcome (info, never completed, or an unreadable ok answer)."""
        return sum(len(st.possible) for st in self.keys.values())


def check_rate_limit(ops: Iterable[Op], **params: Any) -> Verdict:
    return fold(RateLimitHolds(**params), ops)
