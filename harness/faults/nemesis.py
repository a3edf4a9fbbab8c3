"""The nemesis: applies a planned schedule on time while the workload runs, records every fault
start and end in the history (process ``nemesis``), and heals whatever is still active when it is
stopped — on the normal path, on an exception and on Ctrl-C alike (the rollback always runs).

History vocabulary (what the recovery metrics and the report read):

``fault-start`` invoke: ``fault`` (kind), ``target`` (selector), ``params``, ``index`` (position in
the schedule), ``sched_ns`` (when it should have started); completion ``ok`` with ``value`` = what
``apply`` did (nodes, proxies...), ``fail`` with ``error`` when it could not be applied.

``fault-end``: the same fields, ``sched_ns`` = when it should have ended; ``ok`` with ``value`` = what
``heal`` did; ``info`` when healing raised (the final heal-all runs again).

``fault-skipped``: a fault that was not run, with ``reason`` (the backend lacks a capability; the
workload ended first) — recorded as an invoke and an ``ok`` completion so a report lists it.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.clock import RunClock
from harness.faults.base import FAULTS, Capability, Fault, FaultContext, missing_capabilities
from harness.faults.schedule import PlannedFault
from harness.faults.selectors import Selector, unavailable
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType

PROCESS = "nemesis"


@dataclass
class FaultRecord:
    """What happened to one planned fault, for results.json."""

    planned: PlannedFault
    status: str = "pending"  # pending | applied | healed | failed | not_run
    reason: str | None = None
    applied: dict[str, Any] | None = None
    healed: dict[str, Any] | None = None
    start_delay_ms: float | None = None  # apply completed this long after its scheduled time
    heal_delay_ms: float | None = None  # heal completed this long after its scheduled end

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.planned.to_dict(),
            "status": self.status,
            "reason": self.reason,
            "applied": self.applied,
            "healed": self.healed,
            "start_delay_ms": self.start_delay_ms,
            "heal_delay_ms": self.heal_delay_ms,
        }


@dataclass
class _Active:
    record: FaultRecord
    fault: Fault
    ctx: FaultContext
    end_ns: int | None  # scheduled end on the run clock; None = at stop


@dataclass
class Nemesis:
    """Runs ``planned`` in its own thread, relative to ``origin_ns`` (the workload's start on the
    run clock). ``make_ctx`` builds a fresh :class:`FaultContext` per fault."""

    planned: list[PlannedFault]
    recorder: HistoryRecorder
    clock: RunClock
    make_ctx: Callable[[], FaultContext]
    capabilities: frozenset[Capability]
    variant: str = ""
    log: Callable[[str], None] = lambda _msg: None
    records: list[FaultRecord] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _active: list[_Active] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    origin_ns: int = 0

    def __post_init__(self) -> None:
        self.records = [FaultRecord(p) for p in self.planned]

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, origin_ns: int | None = None) -> None:
        self.origin_ns = self.clock.now_ns() if origin_ns is None else origin_ns
        self._thread = threading.Thread(target=self._run, name="nemesis", daemon=True)
        self._thread.start()

    def stop(self) -> list[FaultRecord]:
        """Stops scheduling, heals everything still active (newest first) and returns the records.
        Faults that never started are recorded as not run."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.heal_all()
        for rec in self.records:
            if rec.status == "pending":
                self._skip(rec, self._never_possible(rec) or "the workload ended before its start time")
        return self.records

    def _never_possible(self, rec: FaultRecord) -> str | None:
        """Why a fault that never came due could not have run here whatever its time (the backend
        or the servers lack it), or None: the reason a report should give for it (a workload that
        ran nothing ends before any fault is due)."""
        try:
            fault = build_fault(rec.planned.fault, rec.planned.target, rec.planned.params)
        except Exception:  # validated before the run; its own skip says the rest
            return None
        missing = missing_capabilities(fault, self.capabilities)
        if missing:
            return f"this backend cannot {', '.join(missing)}"
        return not_supported(fault, self.make_ctx().dep)

    def apply_now(self, fault: str, target: str | None, params: dict[str, Any]) -> FaultRecord:
        """Applies one fault now, off the schedule (an operator's, in a rehearsal), recorded like a
        scheduled one; it lasts until :meth:`heal_all` or :meth:`stop`."""
        at_s = (self.clock.now_ns() - self.origin_ns) / 1e9
        planned = PlannedFault(len(self.records), at_s, None, fault, target, dict(params), origin="operator")
        rec = FaultRecord(planned)
        self.records.append(rec)
        self._apply(rec)
        return rec

    def active(self) -> list[FaultRecord]:
        with self._lock:
            return [a.record for a in self._active]

    def heal_all(self) -> None:
        with self._lock:
            active, self._active = list(reversed(self._active)), []
        for a in active:
            self._heal(a)

    # -- the schedule ---------------------------------------------------------------------------
    def _at(self, seconds: float) -> int:
        return self.origin_ns + int(seconds * 1e9)

    def _wait_until(self, t_ns: int) -> bool:
        """Sleeps until ``t_ns`` on the run clock; False when stopped first."""
        while True:
            left = (t_ns - self.clock.now_ns()) / 1e9
            if left <= 0:
                return not self._stop.is_set()
            if self._stop.wait(min(left, 0.05)):
                return False

    def _run(self) -> None:
        for rec in self.records:
            if not self._heal_due(before_ns=self._at(rec.planned.at_s)):
                return
            if not self._wait_until(self._at(rec.planned.at_s)):
                return
            self._apply(rec)
        # Heal the remaining timed faults on time; untimed ones wait for stop().
        self._heal_due(before_ns=None)

    def _heal_due(self, before_ns: int | None) -> bool:
        """Heals, on time, every active fault whose end comes before ``before_ns`` (all timed ones
        when None). False when stopped meanwhile."""
        while True:
            with self._lock:
                timed = [a for a in self._active if a.end_ns is not None]
            due = min(timed, key=lambda a: a.end_ns or 0, default=None)
            if due is None or (before_ns is not None and (due.end_ns or 0) > before_ns):
                return not self._stop.is_set()
            assert due.end_ns is not None
            if not self._wait_until(due.end_ns):
                return False
            with self._lock:
                self._active.remove(due)
            self._heal(due)

    # -- one fault ------------------------------------------------------------------------------
    def _fields(self, rec: FaultRecord, sched_ns: int) -> dict[str, Any]:
        p = rec.planned
        out: dict[str, Any] = {"fault": p.fault, "index": p.index, "sched_ns": sched_ns, "params": p.params}
        if p.target is not None:
            out["target"] = p.target
        if self.variant:
            out["variant"] = self.variant
        return out

    def _skip(self, rec: FaultRecord, reason: str) -> None:
        rec.status, rec.reason = "not_run", reason
        op = self.recorder.invoke(PROCESS, "fault-skipped", **self._fields(rec, self._at(rec.planned.at_s)))
        self.recorder.complete(op, OpType.OK, PROCESS, "fault-skipped", reason=reason)
        self.log(f"fault {rec.planned.fault} not run: {reason}")

    def _apply(self, rec: FaultRecord) -> None:
        p = rec.planned
        try:
            fault = build_fault(p.fault, p.target, p.params)
        except Exception as exc:  # validated before the run; a failure here is still recorded
            self._skip(rec, f"cannot build {p.fault}: {exc}")
            return
        missing = missing_capabilities(fault, self.capabilities)
        if missing:
            self._skip(rec, f"this backend cannot {', '.join(missing)}")
            return
        ctx = self.make_ctx()
        why = not_supported(fault, ctx.dep)
        if why is not None:
            self._skip(rec, why)
            return
        sched = self._at(p.at_s)
        op = self.recorder.invoke(PROCESS, "fault-start", **self._fields(rec, sched))
        try:
            rec.applied = fault.apply(ctx)
        except Exception as exc:
            rec.status, rec.reason = "failed", f"{type(exc).__name__}: {exc}"
            self.recorder.complete(op, OpType.FAIL, PROCESS, "fault-start", error=rec.reason)
            self.log(f"fault {p.fault} failed to apply: {rec.reason}")
            # Half-applied faults are healed too (heal is safe after a partial apply).
            self._heal(_Active(rec, fault, ctx, None), after_failure=True)
            return
        done = self.clock.now_ns()
        rec.status = "applied"
        rec.start_delay_ms = round((done - sched) / 1e6, 3)
        self.recorder.complete(op, OpType.OK, PROCESS, "fault-start", time_ns=done, value=rec.applied)
        self.log(f"fault {p.fault} applied to {rec.applied}")
        end = self._at(p.end_s) if p.end_s is not None else None
        with self._lock:
            self._active.append(_Active(rec, fault, ctx, end))

    def _heal(self, a: _Active, after_failure: bool = False) -> None:
        rec = a.record
        sched = a.end_ns if a.end_ns is not None else self.clock.now_ns()
        op = self.recorder.invoke(PROCESS, "fault-end", **self._fields(rec, sched))
        try:
            healed = a.fault.heal(a.ctx)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            self.recorder.complete(
                op, OpType.INFO, PROCESS, "fault-end", error=reason, traceback=traceback.format_exc(limit=5)
            )
            if not after_failure:
                rec.status, rec.reason = "failed", f"heal: {reason}"
            self.log(f"fault {rec.planned.fault} failed to heal: {reason}")
            return
        done = self.clock.now_ns()
        self.recorder.complete(op, OpType.OK, PROCESS, "fault-end", time_ns=done, value=healed)
        if after_failure:
            return
        rec.healed = healed
        rec.status = "healed"
        if a.end_ns is not None and done >= a.end_ns:  # else it was healed early, at stop
            rec.heal_delay_ms = round((done - a.end_ns) / 1e6, 3)
        self.log(f"fault {rec.planned.fault} healed")


def not_supported(fault: Fault, dep: Any) -> str | None:
    """Why ``fault`` cannot be done on ``dep``'s servers (its own check, then its target: a
    replica-set selector on a topology without that set), or None."""
    why = fault.unsupported(dep)
    target = getattr(fault, "target", None)
    if why is None and isinstance(target, Selector):
        why = unavailable(target, dep)
        if why is not None:
            why = f"{fault.kind}: {why}"
    return why


def build_fault(kind: str, target: str | None, params: dict[str, Any]) -> Fault:
    """``FAULTS[kind](target=..., **params)``; the target selector is a constructor argument of
    every fault that has one."""
    if kind not in FAULTS:
        raise ValueError(f"unknown fault '{kind}'; known: {', '.join(sorted(FAULTS))}")
    kwargs = dict(params)
    if target is not None:
        kwargs["target"] = target
    return FAULTS[kind](**kwargs)


def wait_for(
    check: Callable[[], str | None], timeout_s: float, interval_s: float = 0.2
) -> tuple[bool, float, str]:
    """Polls ``check`` (None = satisfied, else what is still wrong) until ``timeout_s``; returns
    (satisfied, seconds waited, last problem). Used after healing: the topology must be healthy
    again, within a bound, before the final reads."""
    t0 = time.monotonic()
    problem = "not checked"
    while True:
        try:
            result = check()
        except Exception as exc:  # a node still restarting answers with errors; keep polling
            result = f"{type(exc).__name__}: {exc}"
        if result is None:
            return True, time.monotonic() - t0, ""
        problem = result
        if time.monotonic() - t0 >= timeout_s:
            return False, time.monotonic() - t0, problem
        time.sleep(interval_s)
