"""Checker: Redis per-tenant counters reconcile with acknowledged increments and with MongoDB.

What it assumes: each event of a tenant increments one of that tenant's counter keys for the event's
window (one key per tenant and window, or several when the tenant's counter is write-sharded; reads
sum them), and, when the MongoDB plane ran, the same event is stored as one document. Groups are
``(tenant, window)``; ``window`` is the ops' ``window`` field (e.g. the minute bucket), or absent, in
which case a group is the tenant's whole run.

Per group, with ``C`` the sum of the final counter reads of its keys, ``Ra``/``Ru`` the
acknowledged/unknown-outcome INCRs, ``M`` the documents stored for the group, and ``Ma``/``Mu`` the
events whose insert was acknowledged / had unknown outcome:

* ``counter-mismatch``: ``C`` outside ``[Ra, Ra + Ru]``;
* ``stored-count-mismatch`` (MongoDB plane ran and the tenant was read): ``M`` outside
  ``[Ma, Ma + Mu]``, each plane judged against its own acknowledged and unknown writes, so one
  plane's uncertainty never hides the other's loss;
* ``planes-disagree`` (both planes ran): ``C - M`` outside ``[Ra - (Ma + Mu), (Ra + Ru) - Ma]``, the
  gap the ``info`` uncertainty of both planes can explain, stated as that interval.

When the MongoDB plane did not run (no ``insert`` and no ``final_events`` ops) the verdict judges the
Redis side only and says so. Groups without usable final reads make it ``unknown`` (unless invalid).

Ops read (any order): ``incr`` (invoke: ``key``, ``tenant``, ``window``?), ``final_read`` (invoke:
``key``; ok value: the counter, null = 0), ``insert`` (invoke: ``tenant``, ``event_id``,
``window``?) and ``final_events`` (see :mod:`harness.checkers.final_events`; a stored document's
window comes from its ``windows`` entry, else from its insert op).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from harness.checkers.compose import fold
from harness.checkers.fields import as_int, event_key, later
from harness.checkers.final_events import F as FINAL_EVENTS
from harness.checkers.final_events import FinalEvents
from harness.checkers.verdict import MAX_EXAMPLES, Status, Verdict, run_ms
from harness.history.loader import Op
from harness.ops import OpType

# the members once: each OpType.X is an enum-class lookup (~200 ns), several per op and checker
_OK, _FAIL = OpType.OK, OpType.FAIL

NAME = "counters-reconcile"
#: The anomaly kinds this checker's examples (and ``details["violations_by_kind"]``) can name.
KINDS: frozenset[str] = frozenset({"counter-mismatch", "planes-disagree", "stored-count-mismatch"})

Group = tuple[str, Any]  # (tenant, window)


class _Key:
    __slots__ = ("acked", "final", "final_at", "final_ns", "group", "unknown")

    def __init__(self) -> None:
        self.group: Group | None = None
        self.acked = self.unknown = 0
        self.final: int | None = None
        self.final_at: tuple[int, int] | None = None  # (invoke_ns, op id) of the read used
        self.final_ns: int | None = None


class _Sums:
    __slots__ = ("c", "keys", "keys_unread", "m", "ma", "mu", "ra", "read_ns", "read_ops", "ru")

    def __init__(self) -> None:
        self.ra = self.ru = self.c = self.ma = self.mu = self.m = self.keys = self.keys_unread = 0
        self.read_ops: list[int] = []  # the first few final_read ops summed into ``c``
        self.read_ns = 0  # when the last of them completed


def _window(op: Op) -> Any:
    w = op.get("window")
    return w if isinstance(w, str | int) and not isinstance(w, bool) else None


class CountersReconcile:
    """Fold form of the checker (see the module docstring)."""

    name = NAME
    fs: frozenset[str] | None = frozenset({"incr", "final_read", "insert", FINAL_EVENTS})

    def __init__(self) -> None:
        self.keys: dict[str, _Key] = {}
        # event key -> [window, acknowledged?, unknown?]
        self.events: dict[tuple[str, str], list[Any]] = {}
        self.final = FinalEvents()
        self.incr_ops = self.insert_ops = self.malformed = 0

    def observe(self, op: Op) -> None:
        f = op.f
        if f == FINAL_EVENTS:
            self.final.observe(op)
        elif f == "insert":
            self.insert_ops += 1
            key = event_key(op)
            if key is None:
                self.malformed += 1
                return
            ev = self.events.get(key)
            if ev is None:
                ev = self.events[key] = [_window(op), False, False]
            if op.outcome == _OK:
                ev[1] = True
            elif op.outcome != _FAIL:
                ev[2] = True
        else:
            name = op.get("key")
            if not isinstance(name, str):
                self.malformed += 1
                return
            k = self.keys.get(name)
            if k is None:
                k = self.keys[name] = _Key()
            if f == "incr":
                self._incr(k, op)
            else:
                self._final(k, op)

    def _incr(self, k: _Key, op: Op) -> None:
        self.incr_ops += 1
        tenant = op.get("tenant")
        if not isinstance(tenant, str):
            self.malformed += 1
            return
        if k.group is None:
            k.group = (tenant, _window(op))
        if op.outcome == _OK:
            k.acked += 1
        elif op.outcome != _FAIL:
            k.unknown += 1

    @staticmethod
    def _final(k: _Key, op: Op) -> None:
        if op.outcome != _OK or op.completion is None:
            return
        raw = op.completion.get("value")
        value = 0 if raw is None else as_int(raw)
        if value is not None and later(op, k.final_at):
            k.final, k.final_at, k.final_ns = value, (op.invoke_ns, op.id), op.complete_ns

    def _groups(self) -> dict[Group, _Sums]:
        groups: dict[Group, _Sums] = {}

        def sums(g: Group) -> _Sums:
            s = groups.get(g)
            if s is None:
                s = groups[g] = _Sums()
            return s

        for k in self.keys.values():
            if k.group is None:
                continue  # a key that was only read: nothing to attribute it to
            s = sums(k.group)
            s.keys += 1
            s.ra += k.acked
            s.ru += k.unknown
            if k.final is None:
                s.keys_unread += 1
            else:
                s.c += k.final
                if len(s.read_ops) < 5 and k.final_at is not None:
                    s.read_ops.append(k.final_at[1])
                s.read_ns = max(s.read_ns, k.final_ns or 0)
        for (tenant, _), (window, acked, unknown) in self.events.items():
            s = sums((tenant, window))
            if acked:
                s.ma += 1
            elif unknown:
                s.mu += 1
        for tenant, read in self.final.reads.items():
            for i, event_id in enumerate(read.event_ids):
                if read.windows is not None:
                    window = read.windows[i]
                else:
                    ev = self.events.get((tenant, event_id))
                    window = ev[0] if ev is not None else None
                sums((tenant, window)).m += 1
        return groups

    def finish(self) -> Verdict:
        if self.incr_ops == 0:
            details0 = {"malformed_ops": self.malformed + self.final.malformed}
            return Verdict(NAME, "unknown", 0, "no incr ops in history", details=details0)
        mongo_ran = self.insert_ops > 0 or self.final.ops > 0
        findings: list[dict[str, Any]] = []
        # finding kinds, and groups "compared" with MongoDB or left "unjudged"
        counts: Counter[str] = Counter()
        groups = self._groups()
        for (tenant, window), s in sorted(groups.items(), key=lambda g: (g[0][0], str(g[0][1]))):
            found, outcome = self._judge_group(tenant, window, s, mongo_ran)
            findings += found
            counts.update(f["kind"] for f in found)
            if outcome is not None:
                counts[outcome] += 1
        mismatches, disagree = counts["counter-mismatch"], counts["planes-disagree"]
        stored_mismatches = counts["stored-count-mismatch"]
        violations = mismatches + disagree + stored_mismatches
        status: Status = "invalid" if violations else ("unknown" if counts["unjudged"] else "valid")
        n_groups = sum(1 for s in groups.values() if s.keys)
        details: dict[str, Any] = {
            "violations_by_kind": {k: counts[k] for k in sorted(KINDS) if counts[k]},
            "planes": {"redis": "ran", "mongodb": "ran" if mongo_ran else "not_run"},
            "groups": n_groups,
            "counter_mismatches": mismatches,
            "planes_disagree": disagree,
            "stored_count_mismatches": stored_mismatches,
            "groups_compared_with_mongodb": counts["compared"],
            "groups_unjudged": counts["unjudged"],
            "incr_ops": self.incr_ops,
            "insert_ops": self.insert_ops,
            "final_events_reads": self.final.ops,
            "malformed_ops": self.malformed + self.final.malformed,
        }
        summary = _summary(n_groups, counts, mongo_ran)
        return Verdict(NAME, status, violations, summary, findings[:MAX_EXAMPLES], details)

    def _judge_group(
        self, tenant: str, window: Any, s: _Sums, mongo_ran: bool
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One group's findings, and whether it was ``compared`` with MongoDB, left ``unjudged``
        (a counter key or the tenant's documents not read) or neither (None)."""
        stored_read = mongo_ran and tenant in self.final.reads
        found: list[dict[str, Any]] = []
        if stored_read and not s.ma <= s.m <= s.ma + s.mu:
            found.append(self._stored_mismatch(tenant, window, s))
        if s.keys == 0:
            if stored_read and s.m:
                # stored documents for a window no counter was incremented in
                lo, hi = -(s.ma + s.mu), -s.ma
                if not lo <= -s.m <= hi:
                    found.append(self._disagree(tenant, window, s, lo, hi))
            return found, None
        if s.keys_unread:
            return found, "unjudged"
        if not s.ra <= s.c <= s.ra + s.ru:
            found.append(_counter_mismatch(tenant, window, s))
        if not mongo_ran:
            return found, None
        if not stored_read:
            return found, "unjudged"
        lo, hi = s.ra - (s.ma + s.mu), (s.ra + s.ru) - s.ma
        if not lo <= s.c - s.m <= hi:
            found.append(self._disagree(tenant, window, s, lo, hi))
        return found, "compared"

    def _stored_mismatch(self, tenant: str, window: Any, s: _Sums) -> dict[str, Any]:
        read = self.final.reads[tenant]
        return {
            "kind": "stored-count-mismatch",
            "tenant": tenant,
            "window": window,
            "stored": s.m,
            "acked_inserts": s.ma,
            "unknown_inserts": s.mu,
            "expected": [s.ma, s.ma + s.mu],
            "final_events_op": read.op_id,
            "final_events_ms": run_ms(read.complete_ns),
        }

    def _disagree(self, tenant: str, window: Any, s: _Sums, lo: int, hi: int) -> dict[str, Any]:
        read = self.final.reads[tenant]
        return {
            "kind": "planes-disagree",
            "tenant": tenant,
            "window": window,
            "counter": s.c,
            "stored": s.m,
            "gap": s.c - s.m,
            "allowed_gap": [lo, hi],
            "acked_incr": s.ra,
            "unknown_incr": s.ru,
            "acked_inserts": s.ma,
            "unknown_inserts": s.mu,
            "final_read_ops": sorted(s.read_ops),
            "final_events_op": read.op_id,
            "final_events_ms": run_ms(read.complete_ns),
        }


def _counter_mismatch(tenant: str, window: Any, s: _Sums) -> dict[str, Any]:
    return {
        "kind": "counter-mismatch",
        "tenant": tenant,
        "window": window,
        "counter": s.c,
        "keys": s.keys,
        "final_read_ops": sorted(s.read_ops),
        "final_read_ms": run_ms(s.read_ns),
        "acked_incr": s.ra,
        "unknown_incr": s.ru,
        "expected": [s.ra, s.ra + s.ru],
    }


def _summary(n_groups: int, counts: Counter[str], mongo_ran: bool) -> str:
    mismatches = counts["counter-mismatch"]
    summary = f"{n_groups:,} tenant/window counters: {mismatches:,} differ from the acknowledged INCRs"
    if mongo_ran:
        summary += (
            f"; {counts['compared']:,} compared with MongoDB: {counts['planes-disagree']:,} disagree beyond "
            f"the info uncertainty, {counts['stored-count-mismatch']:,} store a count outside their "
            "acknowledged and unknown inserts"
        )
    else:
        summary += "; MongoDB plane not run, so counters checked against acknowledged INCRs only"
    if counts["unjudged"]:
        summary += f"; {counts['unjudged']:,} groups without usable final reads"
    return summary


def check_counters_reconcile(ops: Iterable[Op]) -> Verdict:
    return fold(CountersReconcile(), ops)
