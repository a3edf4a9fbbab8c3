"""Per-fault recovery figures from a saved history (a fold, like the checkers).

Fault windows come from the nemesis's ``fault-start`` / ``fault-end`` ops (the times their ``ok``
completions were recorded: when the fault was really in place and really healed). Client writes
are the ops whose ``f`` is in ``write_fs``. Per fault:

- ``apply_delay_ms`` / ``heal_delay_ms``: how late the fault started / was healed against its
  schedule (the nemesis's own ``sched_ns``);
- ``first_ok_after_start_ms`` / ``first_ok_after_heal_ms``: the first acknowledged write invoked after
  the fault started / after it was healed;
- ``errors_until_ms``: from the start to the last write that failed or timed out, among writes
  invoked between the start and ``grace_s`` after the heal: when errors stopped, i.e. the recovery
  time a user feels (for a master kill: failure detection + promotion + clients finding the new
  master);
- ``election_ms``: for a fault whose heal reports an election (``stepdown``: the new primary's own
  ``lastElectionDate`` against the fault's start), the time the replica set had no primary;
- ``ok`` / ``fail`` / ``info`` counts of writes invoked while the fault was in place;
- ``before`` / ``during`` / ``after``: acknowledged writes per second and p99 latency (from the
  scheduled time when the op has one, so coordinated omission is corrected) over equal windows
  (the fault's length, at most ``window_s``) before the start, while it lasted, and after the heal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.history.loader import Op
from harness.ops import OpType

DEFAULT_WRITES = frozenset({"incr", "insert", "write", "session_create", "session_touch", "reg_write"})


@dataclass
class _Window:
    key: tuple[str, int]  # (variant, index)
    fault: str
    target: Any = None
    start_ns: int | None = None
    heal_ns: int | None = None
    apply_delay_ms: float | None = None
    heal_delay_ms: float | None = None
    applied: Any = None
    election_ms: float | None = None


@dataclass
class RecoveryFold:
    write_fs: frozenset[str] = DEFAULT_WRITES
    grace_s: float = 30.0
    window_s: float = 10.0
    _windows: dict[tuple[str, int], _Window] = field(default_factory=dict)
    # (variant, invoke_ns, complete_ns or -1, latency_ns or -1, outcome code 0 ok / 1 fail / 2 info)
    _writes: list[tuple[str, int, int, int, int]] = field(default_factory=list)

    def observe(self, op: Op) -> None:
        if op.process == "nemesis" and op.f in ("fault-start", "fault-end"):
            self._fault(op)
        elif op.f in self.write_fs:
            code = 0 if op.outcome == OpType.OK else 1 if op.outcome == OpType.FAIL else 2
            sched = op.get("sched_ns")
            begin = sched if isinstance(sched, int) else op.invoke_ns
            latency = op.complete_ns - begin if op.complete_ns is not None else -1
            variant = str(op.get("variant", ""))
            self._writes.append((variant, op.invoke_ns, op.complete_ns or -1, latency, code))

    def _fault(self, op: Op) -> None:
        key = (str(op.get("variant", "")), int(op.get("index", -1)))
        w = self._windows.setdefault(key, _Window(key, str(op.get("fault")), op.get("target")))
        if op.outcome != OpType.OK or op.complete_ns is None:
            return
        sched = op.get("sched_ns")
        delay = round((op.complete_ns - sched) / 1e6, 3) if isinstance(sched, int) else None
        if op.f == "fault-start":
            w.start_ns, w.apply_delay_ms = op.complete_ns, delay
            w.applied = op.completion.get("value") if op.completion else None
        else:
            w.heal_ns, w.heal_delay_ms = op.complete_ns, delay
            healed = op.completion.get("value") if op.completion else None
            if isinstance(healed, dict) and isinstance(healed.get("election_ms"), int | float):
                w.election_ms = float(healed["election_ms"])

    def finish(self) -> list[dict[str, Any]]:
        by_variant: dict[str, list[tuple[str, int, int, int, int]]] = {}
        for w in self._writes:
            by_variant.setdefault(w[0], []).append(w)
        for writes in by_variant.values():
            writes.sort(key=lambda w: w[1])
        return [
            self._one(w, by_variant.get(w.key[0], []))
            for w in sorted(self._windows.values(), key=lambda w: (w.key[0], w.start_ns or 0))
        ]

    def _one(self, w: _Window, writes: list[tuple[str, int, int, int, int]]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "variant": w.key[0],
            "index": w.key[1],
            "fault": w.fault,
            "target": w.target,
            "applied": w.applied,
            "apply_delay_ms": w.apply_delay_ms,
            "heal_delay_ms": w.heal_delay_ms,
            "start_ms": _ms(w.start_ns),
            "heal_ms": _ms(w.heal_ns),
            "election_ms": w.election_ms,
        }
        if w.start_ns is None:
            out["status"] = "not applied"
            return out
        start = w.start_ns
        heal = w.heal_ns if w.heal_ns is not None else max((x[1] for x in writes), default=start)
        out["status"] = "healed" if w.heal_ns is not None else "not healed"
        out["first_ok_after_start_ms"] = _first_ok(writes, start)
        out["first_ok_after_heal_ms"] = _first_ok(writes, heal) if w.heal_ns is not None else None
        grace_end = heal + int(self.grace_s * 1e9)
        bad = [x[1] for x in writes if start <= x[1] < grace_end and x[4] != 0]
        out["errors_until_ms"] = round((max(bad) - start) / 1e6, 3) if bad else 0.0
        during = [x for x in writes if start <= x[1] < heal]
        out["during_counts"] = {
            "ok": sum(1 for x in during if x[4] == 0),
            "fail": sum(1 for x in during if x[4] == 1),
            "info": sum(1 for x in during if x[4] == 2),
        }
        span = min(max(heal - start, 1), int(self.window_s * 1e9))
        out["before"] = _rate(writes, start - span, start)
        out["during"] = _rate(writes, start, heal)
        out["after"] = _rate(writes, heal, heal + span)
        return out


def _ms(ns: int | None) -> float | None:
    return None if ns is None else round(ns / 1e6, 3)


def _first_ok(writes: list[tuple[str, int, int, int, int]], after_ns: int) -> float | None:
    for _, invoked, _, _, code in writes:  # sorted by invoke time
        if invoked >= after_ns and code == 0:
            return round((invoked - after_ns) / 1e6, 3)
    return None


def _rate(writes: list[tuple[str, int, int, int, int]], lo: int, hi: int) -> dict[str, Any]:
    if hi <= lo:
        return {"seconds": 0.0, "ok_per_s": None, "p99_ms": None, "ops": 0}
    inside = [x for x in writes if lo <= x[1] < hi]
    oks = sorted(x[3] for x in inside if x[4] == 0 and x[3] >= 0)
    seconds = (hi - lo) / 1e9
    p99 = oks[min(len(oks) - 1, int(0.99 * len(oks)))] / 1e6 if oks else None
    return {
        "seconds": round(seconds, 3),
        "ops": len(inside),
        "ok_per_s": round(len(oks) / seconds, 1),
        "p99_ms": None if p99 is None else round(p99, 3),
    }


def recovery(ops: Iterable[Op], **params: Any) -> list[dict[str, Any]]:
    fold = RecoveryFold(**params)
    for op in ops:
        fold.observe(op)
    return fold.finish()
