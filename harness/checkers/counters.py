"""Checker: every acknowledged INCR survives, and nothing that certainly failed was applied.

Per counter key, with ``acked`` ok INCRs, ``unknown`` INCRs whose outcome is info (or that never
completed) and the ``final`` value read after the workload (absent key = 0), a correct store has

    acked <= final <= acked + unknown

The values INCR returned give two stronger checks, because a counter that is only ever incremented
never goes down and never returns the same value twice:

* the largest value an ok INCR returned was, at that moment, the server's state, so
  ``final < max_ok`` is a lost write even when the counts alone look fine;
* two ok INCRs that returned the same value mean the counter went back (e.g. a failover lost an
  acknowledged write), which is a lost write too;
* ``max_ok > acked + unknown`` means more increments were applied than could have been, so some
  INCR that certainly failed was applied (a phantom), and this needs no final read at all;
* an ok INCR that returned less than an ok INCR that *completed before it was invoked* (per key, a
  real-time frontier of returned values, judged by the recorded times whatever the file order) saw
  the counter go backwards (``incr-went-backwards``: a failover rollback that later INCRs of
  unknown outcome would otherwise hide from the counts and the final read).

Ops read (fold protocol, any order): ``incr`` (invoke: ``key``, optional ``tenant`` and ``wait``, the
``WAIT n`` level the client waited for after the INCR; ok completion: ``value``, what INCR returned)
and ``final_read`` (process ``final``; invoke: ``key``; ok completion: ``value``, the counter after
healing, null for an absent key). Totals are also kept per WAIT level (``wait:<n>``, or ``none``);
a key's lost increments count toward its level when all its INCRs used one level, else ``mixed``.
When a key has several usable final reads the latest (by invoke time) is used and the key is listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.checkers._common import MaxFrontier
from harness.checkers.compose import fold
from harness.checkers.fields import as_int, completion_value, later, wait_level
from harness.checkers.verdict import MAX_EXAMPLES, Status, Verdict, run_ms
from harness.history.loader import Op
from harness.ops import OpType

NAME = "acknowledged-increments-survive"

#: How many op ids an example lists per kind of evidence.
_EXAMPLE_OPS = 5


@dataclass
class _KeyState:
    key: str
    first_ns: int
    acked: int = 0
    unknown: int = 0
    failed: int = 0
    levels: set[str] = field(default_factory=set)
    max_ok: int | None = None
    max_ok_op: int | None = None
    max_ok_ns: int | None = None
    # returned value -> ok op ids that returned it (only values seen more than once matter)
    values: dict[int, list[int]] = field(default_factory=dict)
    failed_ops: list[tuple[int, int]] = field(default_factory=list)  # (invoke_ns, op id), first few
    # (invoke_ns, complete_ns, value, op id) of ok INCRs with a value: the real-time frontier
    replies: list[tuple[int, int, int, int]] = field(default_factory=list)
    final: int | None = None
    final_op: int | None = None
    final_ns: int | None = None
    final_order: tuple[int, int] | None = None
    final_values: set[int | None] = field(default_factory=set)
    final_unusable: int = 0  # final_read ops that did not complete ok or returned junk


class AcknowledgedIncrements:
    """Fold form of the checker (see the module docstring)."""

    name = NAME
    fs: frozenset[str] | None = frozenset({"incr", "final_read"})

    def __init__(self, *, real_time: bool = True) -> None:
        """``real_time`` judges INCR replies against the real-time frontier (``incr-went-backwards``);
        off only for a simulated history that assigns replies out of time order."""
        self.real_time = real_time
        self.keys: dict[str, _KeyState] = {}
        self.incr_ops = 0
        self.malformed = 0

    def _state(self, key: str, ns: int) -> _KeyState:
        st = self.keys.get(key)
        if st is None:
            st = self.keys[key] = _KeyState(key=key, first_ns=ns)
        elif ns < st.first_ns:
            st.first_ns = ns
        return st

    def observe(self, op: Op) -> None:
        key = op.get("key")
        if op.f == "incr":
            self.incr_ops += 1
            if not isinstance(key, str):
                self.malformed += 1
                return
            self._incr(self._state(key, op.invoke_ns), op)
        elif op.f == "final_read":
            if not isinstance(key, str):
                self.malformed += 1
                return
            self._final(self._state(key, op.invoke_ns), op)

    def _incr(self, st: _KeyState, op: Op) -> None:
        st.levels.add(wait_level(op))
        if op.outcome == OpType.OK:
            st.acked += 1
            value = as_int(completion_value(op))
            if value is None:
                return  # acknowledged, but without a usable return value
            st.values.setdefault(value, []).append(op.id)
            if self.real_time and op.complete_ns is not None:
                st.replies.append((op.invoke_ns, op.complete_ns, value, op.id))
            if st.max_ok is None or value > st.max_ok:
                st.max_ok, st.max_ok_op, st.max_ok_ns = value, op.id, op.complete_ns
        elif op.outcome == OpType.FAIL:
            st.failed += 1
            st.failed_ops.append((op.invoke_ns, op.id))
            if len(st.failed_ops) > 4 * _EXAMPLE_OPS:  # keep the earliest few, bounded
                st.failed_ops.sort()
                del st.failed_ops[_EXAMPLE_OPS:]
        else:  # info, or the run ended before the outcome was known
            st.unknown += 1

    @staticmethod
    def _final(st: _KeyState, op: Op) -> None:
        if op.outcome != OpType.OK or op.completion is None:
            st.final_unusable += 1
            return
        raw = op.completion.get("value")
        value = 0 if raw is None else as_int(raw)
        if value is None:
            st.final_unusable += 1
            return
        st.final_values.add(value)
        if later(op, st.final_order):  # the latest ok read wins
            st.final, st.final_op, st.final_ns = value, op.id, op.complete_ns
            st.final_order = (op.invoke_ns, op.id)

    def finish(self) -> Verdict:
        keys = self.keys
        if self.incr_ops == 0:
            details0 = {"keys": len(keys), "malformed_ops": self.malformed}
            return Verdict(NAME, "unknown", 0, "no incr ops in history", details=details0)

        totals = {"acked": 0, "unknown": 0, "failed": 0, "lost": 0, "phantom": 0}
        by_level: dict[str, dict[str, int]] = {}
        examples: list[dict[str, Any]] = []
        n_examples = 0
        keys_lost = keys_phantom = 0
        unjudged: list[str] = []
        conflicting_reads: list[str] = []
        duplicate_values = 0
        backwards_total = 0

        for st in sorted(keys.values(), key=lambda s: (s.first_ns, s.key)):
            totals["acked"] += st.acked
            totals["unknown"] += st.unknown
            totals["failed"] += st.failed
            level = "mixed" if len(st.levels) > 1 else next(iter(st.levels), "none")
            lv = by_level.setdefault(level, {"acked": 0, "unknown": 0, "failed": 0, "lost": 0, "phantom": 0})
            lv["acked"] += st.acked
            lv["unknown"] += st.unknown
            lv["failed"] += st.failed
            upper = st.acked + st.unknown
            dups = {v: sorted(ids) for v, ids in st.values.items() if len(ids) > 1}
            n_dup = sum(len(ids) - 1 for ids in dups.values())
            duplicate_values += n_dup
            if len(st.final_values) > 1:
                conflicting_reads.append(st.key)

            lost = n_dup
            phantom = st.max_ok - upper if st.max_ok is not None and st.max_ok > upper else 0
            kinds: list[str] = []
            backwards = _backwards(st.replies)
            backwards_total += len(backwards)
            if backwards:
                kinds.append("incr-went-backwards")
            if n_dup:
                kinds.append("duplicate-incr-value")
            if st.max_ok is not None and st.max_ok > upper:
                kinds.append("phantom-incr-value")
            final = st.final
            if final is None:
                if st.acked + st.unknown + st.failed > 0:
                    unjudged.append(st.key)
            else:
                if final < st.acked:
                    lost = max(lost, st.acked - final)
                    kinds.append("lost")
                if st.max_ok is not None and final < st.max_ok:
                    lost = max(lost, st.max_ok - final)
                    if final >= st.acked:  # counts alone would have missed it
                        kinds.append("lost-below-incr-value")
                if final > upper:
                    phantom = max(phantom, final - upper)
                    kinds.append("phantom")
            if not kinds:
                continue

            totals["lost"] += lost
            totals["phantom"] += phantom
            lv["lost"] += lost
            lv["phantom"] += phantom
            keys_lost += lost > 0
            keys_phantom += phantom > 0
            n_examples += 1
            # one example per kind of evidence, so each carries exactly one anomaly class
            for kind in kinds:
                if len(examples) >= MAX_EXAMPLES:
                    break
                if kind == "incr-went-backwards":
                    examples.append(_backwards_example(st.key, backwards))
                else:
                    examples.append(self._example(st, kind, final, upper, lost, phantom, dups))

        violations = totals["lost"] + totals["phantom"] + backwards_total
        status: Status
        if violations:
            status = "invalid"
        elif unjudged:
            status = "unknown"
        else:
            status = "valid"

        incr_keys = sum(1 for st in keys.values() if st.acked + st.unknown + st.failed > 0)
        summary = (
            f"{totals['acked']} acknowledged INCRs over {incr_keys} keys: "
            f"{totals['lost']} lost, {totals['phantom']} phantom; "
            f"{totals['unknown']} with unknown outcome"
        )
        if len(by_level) > 1 or "none" not in by_level:
            summary += "; " + ", ".join(
                f"{lvl} lost {t['lost']} of {t['acked']}" for lvl, t in sorted(by_level.items())
            )
        if backwards_total:
            summary += f"; {backwards_total} INCR replies went backwards"
        if unjudged:
            summary += f"; {len(unjudged)} keys without a usable final read"
        details: dict[str, Any] = {
            **totals,
            "by_level": by_level,
            "keys": incr_keys,
            "keys_read": sum(1 for st in keys.values() if st.final is not None),
            "keys_with_lost": keys_lost,
            "keys_with_phantom": keys_phantom,
            "keys_with_violations": n_examples,
            "duplicate_incr_values": duplicate_values,
            "incr_went_backwards": backwards_total,
            "keys_without_final_read": len(unjudged),
            "keys_without_final_read_sample": unjudged[:MAX_EXAMPLES],
            "keys_with_conflicting_final_reads": conflicting_reads[:MAX_EXAMPLES],
            "incr_ops": self.incr_ops,
            "malformed_ops": self.malformed,
        }
        return Verdict(NAME, status, violations, summary, examples, details)

    @staticmethod
    def _example(
        st: _KeyState,
        kind: str,
        final: int | None,
        upper: int,
        lost: int,
        phantom: int,
        dups: dict[int, list[int]],
    ) -> dict[str, Any]:
        example: dict[str, Any] = {
            "kind": kind,
            "key": st.key,
            "acked": st.acked,
            "unknown": st.unknown,
            "failed": st.failed,
            "expected_min": max(st.acked, st.max_ok or 0),
            "expected_max": upper,
            "observed": final,
            "lost": lost,
            "phantom": phantom,
            "max_ok_value": st.max_ok,
            "max_ok_op": st.max_ok_op,
            "max_ok_ms": run_ms(st.max_ok_ns),
            "final_read_op": st.final_op,
            "final_read_ms": run_ms(st.final_ns),
        }
        if dups:
            example["duplicate_values"] = {
                str(v): ids[:_EXAMPLE_OPS] for v, ids in sorted(dups.items())[:_EXAMPLE_OPS]
            }
        if phantom and st.failed_ops:
            example["failed_ops"] = [i for _, i in sorted(st.failed_ops)[:_EXAMPLE_OPS]]
        return example


def _backwards(replies: list[tuple[int, int, int, int]]) -> list[tuple[tuple[int, int, int, int], int, int]]:
    """The ok INCRs whose value is below one returned by an INCR that completed before they were
    invoked, each with (earlier value, earlier op id)."""
    if len(replies) < 2:
        return []
    frontier = MaxFrontier()
    for _, complete_ns, value, op_id in replies:
        frontier.add(complete_ns, value, op_id)
    out = []
    for reply in sorted(replies):
        earlier = frontier.before(reply[0])
        if earlier is not None and reply[2] < earlier[0]:
            out.append((reply, earlier[0], earlier[1]))
    return out


def _backwards_example(
    key: str, backwards: list[tuple[tuple[int, int, int, int], int, int]]
) -> dict[str, Any]:
    (invoke_ns, complete_ns, value, op_id), earlier_value, earlier_op = backwards[0]
    return {
        "kind": "incr-went-backwards",
        "key": key,
        "op": op_id,
        "value": value,
        "invoke_ms": run_ms(invoke_ns),
        "complete_ms": run_ms(complete_ns),
        "earlier_op": earlier_op,
        "earlier_value": earlier_value,
        "ops_went_backwards": len(backwards),
        "other_ops": [b[0][3] for b in backwards[1:_EXAMPLE_OPS]],
    }


def check_acknowledged_increments(ops: Iterable[Op], **params: Any) -> Verdict:
    return fold(AcknowledgedIncrements(**params), ops)
