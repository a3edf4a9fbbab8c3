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

from harness.checkers._common import IntRows, MaxFrontier
from harness.checkers.compose import fold
from harness.checkers.fields import as_int, completion_value, later, wait_level
from harness.checkers.verdict import MAX_EXAMPLES, Status, Verdict, run_ms
from harness.history.loader import Op
from harness.ops import OpType

# the members once: each OpType.X is an enum-class lookup (~200 ns), several per op and checker
_OK, _FAIL = OpType.OK, OpType.FAIL

NAME = "acknowledged-increments-survive"
#: The anomaly kinds this checker's examples (and ``details["violations_by_kind"]``) can name.
KINDS: frozenset[str] = frozenset(
    {
        "lost",
        "lost-below-incr-value",
        "phantom",
        "phantom-incr-value",
        "incr-went-backwards",
        "duplicate-incr-value",
    }
)

#: How many op ids an example lists per kind of evidence.
_EXAMPLE_OPS = 5
#: Totals of a verdict and of each WAIT level, in their order in the details.
_TOTALS = ("acked", "unknown", "failed", "lost", "phantom")


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
    # returned value -> the ok op id that returned it, or _Ids of all of them once it repeats (only
    # values seen more than once matter; a list per value was 15 MiB over the bench history)
    values: dict[int, Any] = field(default_factory=dict)
    failed_ops: list[tuple[int, int]] = field(default_factory=list)  # (invoke_ns, op id), first few
    # (invoke_ns, complete_ns, value, op id) of ok INCRs with a value: the real-time frontier
    replies: IntRows = field(default_factory=lambda: IntRows(4))
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
        if op.outcome == _OK:
            st.acked += 1
            value = as_int(completion_value(op))
            if value is None:
                return  # acknowledged, but without a usable return value
            ids = st.values.get(value, _NONE)
            if ids is _NONE:
                st.values[value] = op.id
            elif type(ids) is _Ids:
                ids.append(op.id)
            else:
                st.values[value] = _Ids((ids, op.id))
            if self.real_time and op.complete_ns is not None:
                st.replies.append((op.invoke_ns, op.complete_ns, value, op.id))
            if st.max_ok is None or value > st.max_ok:
                st.max_ok, st.max_ok_op, st.max_ok_ns = value, op.id, op.complete_ns
        elif op.outcome == _FAIL:
            st.failed += 1
            st.failed_ops.append((op.invoke_ns, op.id))
            if len(st.failed_ops) > 4 * _EXAMPLE_OPS:  # keep the earliest few, bounded
                st.failed_ops.sort()
                del st.failed_ops[_EXAMPLE_OPS:]
        else:  # info, or the run ended before the outcome was known
            st.unknown += 1

    @staticmethod
    def _final(st: _KeyState, op: Op) -> None:
        if op.outcome != _OK or op.completion is None:
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
        if self.incr_ops == 0:
            details0 = {"keys": len(self.keys), "malformed_ops": self.malformed}
            return Verdict(NAME, "unknown", 0, "no incr ops in history", details=details0)
        tally = _Tally()
        for st in sorted(self.keys.values(), key=lambda s: (s.first_ns, s.key)):
            tally.add(st, _judge(st))
        violations = tally.totals["lost"] + tally.totals["phantom"] + tally.backwards
        status: Status
        if violations:
            status = "invalid"
        elif tally.unjudged:
            status = "unknown"
        else:
            status = "valid"
        incr_keys = sum(1 for st in self.keys.values() if st.acked + st.unknown + st.failed > 0)
        details: dict[str, Any] = {
            # findings, not increments: violations counts lost + phantom increments + backwards pairs
            "violations_by_kind": tally.by_kind,
            **tally.totals,
            "by_level": tally.by_level,
            "keys": incr_keys,
            "keys_read": sum(1 for st in self.keys.values() if st.final is not None),
            "keys_with_lost": tally.keys_lost,
            "keys_with_phantom": tally.keys_phantom,
            "keys_with_violations": tally.keys_with_violations,
            "duplicate_incr_values": tally.duplicate_values,
            "incr_went_backwards": tally.backwards,
            "keys_without_final_read": len(tally.unjudged),
            "keys_without_final_read_sample": tally.unjudged[:MAX_EXAMPLES],
            "keys_with_conflicting_final_reads": tally.conflicting_reads[:MAX_EXAMPLES],
            "incr_ops": self.incr_ops,
            "malformed_ops": self.malformed,
        }
        return Verdict(NAME, status, violations, tally.summary(incr_keys), tally.examples, details)


@dataclass
class _Judgement:
    """One key's judgement: the WAIT level its losses count toward, the most INCRs could have
    applied (``upper``: acked + unknown), how many increments were lost and phantom, and the kinds
    of evidence found, in the order their examples are listed."""

    level: str
    upper: int
    lost: int
    phantom: int
    kinds: list[str]
    backwards: list[tuple[tuple[int, int, int, int], int, int]]
    dups: dict[int, list[int]]  # value returned more than once -> the ok op ids that returned it


def _judge(st: _KeyState) -> _Judgement:
    """Judge one key: first by the values its ok INCRs returned (went backwards in real time,
    returned twice, above what could have been applied), then by its final read."""
    upper = st.acked + st.unknown
    dups = {v: sorted(ids) for v, ids in st.values.items() if type(ids) is _Ids}
    phantom = st.max_ok - upper if st.max_ok is not None and st.max_ok > upper else 0
    j = _Judgement(
        level="mixed" if len(st.levels) > 1 else next(iter(st.levels), "none"),
        upper=upper,
        lost=sum(len(ids) - 1 for ids in dups.values()),
        phantom=phantom,
        kinds=[],
        backwards=_backwards(st.replies.rows()),
        dups=dups,
    )
    if j.backwards:
        j.kinds.append("incr-went-backwards")
    if dups:
        j.kinds.append("duplicate-incr-value")
    if st.max_ok is not None and st.max_ok > upper:
        j.kinds.append("phantom-incr-value")
    if st.final is not None:
        _judge_final(st, st.final, j)
    return j


def _judge_final(st: _KeyState, final: int, j: _Judgement) -> None:
    """The final read against the acknowledged count and the largest value an ok INCR returned
    (below either is lost), and against ``upper`` (above is phantom)."""
    if final < st.acked:
        j.lost = max(j.lost, st.acked - final)
        j.kinds.append("lost")
    if st.max_ok is not None and final < st.max_ok:
        j.lost = max(j.lost, st.max_ok - final)
        if final >= st.acked:  # counts alone would have missed it
            j.kinds.append("lost-below-incr-value")
    if final > j.upper:
        j.phantom = max(j.phantom, final - j.upper)
        j.kinds.append("phantom")


class _Tally:
    """The verdict's totals (overall and per WAIT level), key lists and examples, key by key."""

    def __init__(self) -> None:
        self.totals = dict.fromkeys(_TOTALS, 0)
        self.by_level: dict[str, dict[str, int]] = {}
        self.examples: list[dict[str, Any]] = []
        self.keys_with_violations = self.keys_lost = self.keys_phantom = 0
        self.unjudged: list[str] = []  # keys with INCRs but without a usable final read
        self.conflicting_reads: list[str] = []
        self.duplicate_values = self.backwards = 0
        # findings per kind: keys showing each kind of evidence (reply pairs for incr-went-backwards)
        self.by_kind: dict[str, int] = {}

    def add(self, st: _KeyState, j: _Judgement) -> None:
        lv = self.by_level.setdefault(j.level, dict.fromkeys(_TOTALS, 0))
        for name, n in (("acked", st.acked), ("unknown", st.unknown), ("failed", st.failed)):
            self.totals[name] += n
            lv[name] += n
        self.duplicate_values += sum(len(ids) - 1 for ids in j.dups.values())
        self.backwards += len(j.backwards)
        if len(st.final_values) > 1:
            self.conflicting_reads.append(st.key)
        if st.final is None and st.acked + st.unknown + st.failed > 0:
            self.unjudged.append(st.key)
        if not j.kinds:
            return
        for name, n in (("lost", j.lost), ("phantom", j.phantom)):
            self.totals[name] += n
            lv[name] += n
        self.keys_lost += j.lost > 0
        self.keys_phantom += j.phantom > 0
        self.keys_with_violations += 1
        for kind in j.kinds:
            n = len(j.backwards) if kind == "incr-went-backwards" else 1
            self.by_kind[kind] = self.by_kind.get(kind, 0) + n
        # one example per kind of evidence, so each carries exactly one anomaly class
        for kind in j.kinds:
            if len(self.examples) >= MAX_EXAMPLES:
                break
            if kind == "incr-went-backwards":
                self.examples.append(_backwards_example(st.key, j.backwards))
            else:
                self.examples.append(_example(st, kind, j))

    def summary(self, incr_keys: int) -> str:
        totals, by_level = self.totals, self.by_level
        summary = (
            f"{totals['acked']} acknowledged INCRs over {incr_keys} keys: "
            f"{totals['lost']} lost, {totals['phantom']} phantom; "
            f"{totals['unknown']} with unknown outcome"
        )
        if len(by_level) > 1 or "none" not in by_level:
            summary += "; " + ", ".join(
                f"{lvl} lost {t['lost']} of {t['acked']}" for lvl, t in sorted(by_level.items())
            )
        if self.backwards:
            summary += f"; {self.backwards} INCR replies went backwards"
        if self.unjudged:
            summary += f"; {len(self.unjudged)} keys without a usable final read"
        return summary


def _example(st: _KeyState, kind: str, j: _Judgement) -> dict[str, Any]:
    example: dict[str, Any] = {
        "kind": kind,
        "key": st.key,
        "acked": st.acked,
        "unknown": st.unknown,
        "failed": st.failed,
        "expected_min": max(st.acked, st.max_ok or 0),
        "expected_max": j.upper,
        "observed": st.final,
        "lost": j.lost,
        "phantom": j.phantom,
        "max_ok_value": st.max_ok,
        "max_ok_op": st.max_ok_op,
        "max_ok_ms": run_ms(st.max_ok_ns),
        "final_read_op": st.final_op,
        "final_read_ms": run_ms(st.final_ns),
    }
    if j.dups:
        example["duplicate_values"] = {
            str(v): ids[:_EXAMPLE_OPS] for v, ids in sorted(j.dups.items())[:_EXAMPLE_OPS]
        }
    if j.phantom and st.failed_ops:
        example["failed_ops"] = [i for _, i in sorted(st.failed_ops)[:_EXAMPLE_OPS]]
    return example


class _Ids(list[Any]):
    """The ok op ids that returned one value, once it was returned twice (an op id itself is
    never an ``_Ids``, whatever its type)."""


_NONE = object()


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
