"""Checker: every event write acknowledged ``ok`` is present in the final read, per write concern.

What it assumes: events are written to MongoDB with an idempotency key ``(tenant, event_id)`` and a
write concern; the client may retry a write (a new ``insert`` op with the same key, e.g. after a
timeout). After healing the runner reads what each tenant holds (``final_events``, see
:mod:`harness.checkers.final_events`). An event counts as

* **acknowledged** when any attempt completed ``ok``: it must be present, else
  ``lost-acknowledged-write``;
* **unknown** when no attempt was ok but one was ``info`` (or never completed): present or absent are
  both fine and are counted apart (``unknown_present`` / ``unknown_absent``);
* **failed** when every attempt ``fail``ed (certainly not written): present is its own anomaly,
  ``failed-write-present``.

A stored event id that no insert op ever wrote for that tenant is ``unexpected-event``. Tenants
that were written but never read make the verdict ``unknown`` (unless something is invalid).

Totals are kept per durability level: the write concern of the acknowledged attempt (or of the
first attempt when none was acknowledged), as ``w:1``, ``w:majority``..., so the report can say
"w:1 lost 37 of 12,000 acknowledged events, w:majority lost 0".

Ops read (any order): ``insert`` (invoke: ``tenant``, ``event_id``, ``wc``; ``wc`` may be a value
or ``{"w": ..., "j": ...}``) and ``final_events``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from harness.checkers.compose import fold
from harness.checkers.fields import event_key, write_concern
from harness.checkers.final_events import F as FINAL_EVENTS
from harness.checkers.final_events import FinalEvents
from harness.checkers.verdict import MAX_EXAMPLES, Status, Verdict, run_ms
from harness.history.loader import Op
from harness.ops import OpType

# the members once: each OpType.X is an enum-class lookup (~200 ns), several per op and checker
_OK, _FAIL = OpType.OK, OpType.FAIL

NAME = "acknowledged-writes-survive"
#: The anomaly kinds this checker's examples (and ``details["violations_by_kind"]``) can name.
KINDS: frozenset[str] = frozenset({"lost-acknowledged-write", "failed-write-present", "unexpected-event"})
_OPS_PER_EXAMPLE = 5
_COUNTS = ("acked", "lost", "unknown_present", "unknown_absent", "failed", "failed_present")
#: (invoke_ns, op id) to order examples by, and the example.
_Finding = tuple[int, int, dict[str, Any]]


class _Event:
    __slots__ = ("first", "level", "n_fail", "n_ok", "n_unknown", "ok", "ops")

    def __init__(self) -> None:
        self.n_ok = self.n_fail = self.n_unknown = 0
        self.ok: tuple[int, int, int | None] | None = None  # (invoke_ns, op id, complete_ns) of first ok
        self.first: tuple[int, int] | None = None  # (invoke_ns, op id) of the first attempt
        self.level = "w:default"
        self.ops: list[tuple[int, int]] = []  # (invoke_ns, op id) of the first few attempts

    def add(self, op: Op, level: str) -> None:
        at = (op.invoke_ns, op.id)
        if len(self.ops) < _OPS_PER_EXAMPLE or at < self.ops[-1]:
            self.ops.append(at)
            self.ops.sort()
            del self.ops[_OPS_PER_EXAMPLE:]
        if self.ok is None and (self.first is None or at < self.first):
            self.level = level
        if self.first is None or at < self.first:
            self.first = at
        if op.outcome == _OK:
            self.n_ok += 1
            if self.ok is None or at < self.ok[:2]:
                self.ok = (op.invoke_ns, op.id, op.complete_ns)
                self.level = level
        elif op.outcome == _FAIL:
            self.n_fail += 1
        else:
            self.n_unknown += 1


class AcknowledgedWrites:
    """Fold form of the checker (see the module docstring)."""

    name = NAME
    fs: frozenset[str] | None = frozenset({"insert", FINAL_EVENTS})

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], _Event] = {}
        self.final = FinalEvents()
        self.inserts = 0
        self.malformed = 0

    def observe(self, op: Op) -> None:
        if op.f == FINAL_EVENTS:
            self.final.observe(op)
            return
        self.inserts += 1
        key = event_key(op)
        if key is None:
            self.malformed += 1
            return
        ev = self.events.get(key)
        if ev is None:
            ev = self.events[key] = _Event()
        ev.add(op, write_concern(op))

    def finish(self) -> Verdict:
        if self.inserts == 0:
            return Verdict(
                NAME,
                "unknown",
                0,
                "no insert ops in history",
                details={"final_reads": self.final.ops, "malformed_ops": self.final.malformed},
            )
        stored_by_tenant = {t: Counter(r.event_ids) for t, r in self.final.reads.items()}
        by_level, findings, unread = self._judge_written(stored_by_tenant)
        unexpected = self._unexpected(stored_by_tenant)
        findings += unexpected
        findings.sort(key=lambda f: (f[0], f[1]))
        totals = {c: sum(lv[c] for lv in by_level.values()) for c in _COUNTS}
        violations = totals["lost"] + totals["failed_present"] + len(unexpected)
        status: Status = "invalid" if violations else ("unknown" if unread else "valid")
        summary = self._summary(by_level, totals, len(unexpected), unread)
        details: dict[str, Any] = {
            "violations_by_kind": dict(Counter(f[2]["kind"] for f in findings)),
            **totals,
            "unexpected": len(unexpected),
            "by_level": by_level,
            "events": len(self.events),
            "insert_ops": self.inserts,
            "retried_events": sum(1 for ev in self.events.values() if ev.n_ok + ev.n_fail + ev.n_unknown > 1),
            "tenants_read": len(self.final.reads),
            "tenants_unread": len(unread),
            "tenants_unread_sample": sorted(unread)[:MAX_EXAMPLES],
            "final_reads_unusable": sum(self.final.unusable.values()),
            "malformed_ops": self.malformed + self.final.malformed,
        }
        return Verdict(NAME, status, violations, summary, [f[2] for f in findings[:MAX_EXAMPLES]], details)

    def _judge_written(
        self, stored_by_tenant: dict[str, Counter[str]]
    ) -> tuple[dict[str, dict[str, int]], list[_Finding], set[str]]:
        """Each written event of a tenant that was read, counted per durability level as acknowledged
        (lost when absent), unknown (present or absent) or failed (present is an anomaly): the
        counts by level, the findings (lost and failed-present) and the tenants never read."""
        by_level: dict[str, dict[str, int]] = {}
        findings: list[_Finding] = []
        unread: set[str] = set()
        for (tenant, event_id), ev in self.events.items():
            stored = stored_by_tenant.get(tenant)
            if stored is None:
                unread.add(tenant)
                continue
            present = stored.get(event_id, 0) > 0
            lv = by_level.setdefault(ev.level, dict.fromkeys(_COUNTS, 0))
            kind: str | None = None
            if ev.ok is not None:
                lv["acked"] += 1
                if not present:
                    lv["lost"] += 1
                    kind = "lost-acknowledged-write"
            elif ev.n_unknown:
                lv["unknown_present" if present else "unknown_absent"] += 1
            else:
                lv["failed"] += 1
                if present:
                    lv["failed_present"] += 1
                    kind = "failed-write-present"
            if kind is not None:
                findings.append(self._finding(kind, tenant, event_id, ev))
        return by_level, findings, unread

    def _unexpected(self, stored_by_tenant: dict[str, Counter[str]]) -> list[_Finding]:
        """A finding per stored event id that no insert op ever wrote for its tenant."""
        findings: list[_Finding] = []
        for tenant, stored in stored_by_tenant.items():
            for event_id in stored:
                if (tenant, event_id) not in self.events:
                    read = self.final.reads[tenant]
                    example: dict[str, Any] = {
                        "kind": "unexpected-event",
                        "tenant": tenant,
                        "event_id": event_id,
                        "copies": stored[event_id],
                        "final_read_op": read.op_id,
                        "final_read_ms": run_ms(read.complete_ns),
                    }
                    findings.append((read.invoke_ns, read.op_id, example))
        return findings

    def _summary(
        self, by_level: dict[str, dict[str, int]], totals: dict[str, int], unexpected: int, unread: set[str]
    ) -> str:
        levels = ", ".join(
            f"{lvl} lost {t['lost']:,} of {t['acked']:,} acknowledged" for lvl, t in sorted(by_level.items())
        )
        summary = (
            f"{len(self.events):,} events ({self.inserts:,} insert ops): {levels or 'none judged'}; "
            f"unknown outcome: {totals['unknown_present']:,} present, {totals['unknown_absent']:,} absent; "
            f"{totals['failed_present']:,} failed writes present, {unexpected:,} unexpected events"
        )
        if unread:
            summary += f"; {len(unread):,} tenants without a usable final_events read"
        return summary

    def _finding(self, kind: str, tenant: str, event_id: str, ev: _Event) -> _Finding:
        read = self.final.reads[tenant]
        first = ev.ok[:2] if ev.ok is not None else (ev.first or (0, 0))
        example: dict[str, Any] = {
            "kind": kind,
            "tenant": tenant,
            "event_id": event_id,
            "level": ev.level,
            "attempts": {"ok": ev.n_ok, "fail": ev.n_fail, "unknown": ev.n_unknown},
            "ops": [i for _, i in ev.ops],
            "first_op_ms": run_ms(ev.ops[0][0]) if ev.ops else None,
            "final_read_op": read.op_id,
            "final_read_ms": run_ms(read.complete_ns),
        }
        if ev.ok is not None:
            example["acked_op"] = ev.ok[1]
            example["acked_ms"] = run_ms(ev.ok[2])
        return first[0], first[1], example


def check_acknowledged_writes(ops: Iterable[Op]) -> Verdict:
    return fold(AcknowledgedWrites(), ops)
