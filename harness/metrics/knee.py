"""The knee of a stepped open-loop load: the highest offered rate the *server* sustains.

A pure function over saved step results (no I/O), so a capacity run can be judged again from its
``results.json`` and the judgement tested against the step series that would fool it.

A step **passes** when it kept up (achieved ≥ ``keep_up`` × offered, nothing left unsent, no
errors) and its p99 (from each event's scheduled time, so queueing counts) is ≤ the SLO. A
**rate** passes when more than half of its runs pass (a tie fails): near the knee a server at
90-99 % of its CPU passes or fails one run from the next (queueing), so a search repeats the
rates that decide the knee. The knee is the highest passing rate below the first **sustained**
failure. Rules, and why:

* rates are judged in order, whatever order their runs came in;
* a failed rate followed by a passing higher rate is **transient** (a latency spike that
  recovered, a first step that lagged while connections warmed up): it is listed, and does not
  end the search: the higher pass shows the server could do more. Because that lets one lucky
  run lift the knee above a real failure, the knee is **confirmed** only when its rate, every
  transient failure below it and the first sustained failure above it have ``confirm_runs`` runs
  (:func:`unconfirmed` says which lack them; the search repeats those). The failure above counts
  too because one unlucky run there would otherwise cap the knee while the knee's own rate needed
  a majority: seen at 0.5 core, 23,200/s failed once at p99 175 ms and held the knee at 22,400,
  where other searches passed 23,200 in 2 or 3 of 3 runs;
* a failed rate with no higher rate, or followed by another failed rate, is sustained;
* a sustained failure while the server's CPU was below ``saturated_frac`` of its cap is
  **load-bound** when the load shows it was the limit: it fell behind (achieved < keep_up ×
  offered), or its processes waited for a CPU ``starved_frac`` of the step or more (the machine
  starved them), or were ``busy_frac`` busy or more (the load's own ceiling). It says nothing of
  the server's knee: status ``load_bound``, knee ``None``, never the server's. A latency failure
  below the server's CPU cap with a load that kept up, was not starved and was not busy is the
  server's (queueing: under a CPU quota it stalls between periods before its CPU is full);
* no failure at all: status ``not_reached`` (the knee is above the highest step: a lower bound);
  the first step already failing for good: ``below_range``; fewer than two steps: ``too_few_steps``.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

KneeStatus = Literal["found", "not_reached", "below_range", "load_bound", "too_few_steps"]

#: achieved / offered at or above which a step kept up
KEEP_UP = 0.95
#: server CPU / its cap at or above which the server counts as saturated
SATURATED_FRAC = 0.85
#: share of a step the load processes spent waiting for a CPU at or above which they were starved
STARVED_FRAC = 0.2
#: share of a step the load processes spent on a CPU at or above which they were at their ceiling
BUSY_FRAC = 0.85


@dataclass(frozen=True)
class Step:
    """One step as measured: rates in events/s, ``server_cpu_cores`` = server CPU seconds used
    during the step ÷ its wall seconds (``INFO cpu``)."""

    offered: float
    achieved: float
    p99_ms: float | None
    server_cpu_cores: float
    unsent: int = 0
    errors: int = 0
    load_starved: float = 0.0  # runnable-but-waiting seconds of the load ÷ (processes × step)
    load_busy: float = 0.0  # CPU seconds of the load ÷ (processes × step)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Step:
        return cls(
            offered=float(d["offered"]),
            achieved=float(d["achieved"]),
            p99_ms=None if d.get("p99_ms") is None else float(d["p99_ms"]),
            server_cpu_cores=float(d["server_cpu_cores"]),
            unsent=int(d.get("unsent", 0)),
            errors=int(d.get("errors", 0)),
            load_starved=float(d.get("load_starved", 0.0)),
            load_busy=float(d.get("load_busy", 0.0)),
        )


@dataclass
class Knee:
    status: KneeStatus
    knee_rate: float | None  # offered events/s of the knee step; None unless found / not_reached
    knee_achieved: float | None
    slo_p99_ms: float
    keep_up: float
    cpu_cap_cores: float
    saturated_frac: float
    first_failure: dict[str, Any] | None = None  # the sustained failure that ends the search
    transient: list[dict[str, Any]] = field(default_factory=list)
    verdicts: list[dict[str, Any]] = field(default_factory=list)  # every rate, lowest first
    note: str = ""
    confirm_runs: int = 1  # runs the knee's rate, each transient failure and the first failure need
    unconfirmed: list[dict[str, Any]] = field(default_factory=list)  # those still short of them

    @property
    def confirmed(self) -> bool:
        return self.knee_rate is not None and not self.unconfirmed

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"confirmed": self.confirmed}


def load_limited(s: Step, keep_up: float = KEEP_UP) -> list[str]:
    """What shows the load, not the server, was the limit of ``s`` (empty: nothing does)."""
    why = []
    if s.offered > 0 and s.achieved < keep_up * s.offered:
        why.append("the load fell behind")
    if s.load_starved >= STARVED_FRAC:
        why.append(f"it waited {s.load_starved:.0%} of the step for a CPU")
    if s.load_busy >= BUSY_FRAC:
        why.append(f"it was {s.load_busy:.0%} busy")
    return why


def step_failures(s: Step, slo_p99_ms: float, keep_up: float = KEEP_UP) -> list[str]:
    """Why ``s`` fails, empty when it passes."""
    why = []
    if s.offered > 0 and s.achieved < keep_up * s.offered:
        why.append(f"achieved {s.achieved:,.0f} < {keep_up:g} × offered {s.offered:,.0f}")
    if s.unsent:
        why.append(f"{s.unsent} events never sent")
    if s.errors:
        why.append(f"{s.errors} errors")
    if s.p99_ms is None:
        why.append("no latency measured")
    elif s.p99_ms > slo_p99_ms:
        why.append(f"p99 {s.p99_ms:g} ms > SLO {slo_p99_ms:g} ms")
    return why


@dataclass(frozen=True)
class RateRuns:
    """Every run of one offered rate: the rate **passes** when more than half its runs pass (a
    tie fails), so one lucky or unlucky run among repeats does not decide it."""

    offered: float
    runs: tuple[Step, ...]
    fails: tuple[tuple[str, ...], ...]  # why each run failed, empty for a pass

    @property
    def passes(self) -> int:
        return sum(1 for f in self.fails if not f)

    @property
    def passed(self) -> bool:
        return 2 * self.passes > len(self.runs)

    def worst(self) -> Step:
        """The failing run whose server was busiest (the one that says most about who was the
        limit); the busiest run when none failed."""
        failing = [s for s, f in zip(self.runs, self.fails, strict=True) if f] or list(self.runs)
        return max(failing, key=lambda s: s.server_cpu_cores)


def by_rate(steps: Sequence[Step], slo_p99_ms: float, keep_up: float = KEEP_UP) -> list[RateRuns]:
    """``steps`` grouped by offered rate, lowest first (rates equal to 0.1 event/s are one rate)."""
    groups: dict[float, list[Step]] = {}
    for s in steps:
        groups.setdefault(round(s.offered, 1), []).append(s)
    return [
        RateRuns(rate, tuple(runs), tuple(tuple(step_failures(s, slo_p99_ms, keep_up)) for s in runs))
        for rate, runs in sorted(groups.items())
    ]


def _verdict(g: RateRuns, saturated: bool) -> dict[str, Any]:
    why = sorted({w for f in g.fails for w in f})
    if len(g.runs) > 1:
        why = [f"{g.passes} of {len(g.runs)} runs passed", *why] if why else why
    return {
        "offered": g.offered,
        "pass": g.passed,
        "why": why,
        "server_saturated": saturated,
        "runs": len(g.runs),
        "passes": g.passes,
    }


def judge_knee(
    steps: Sequence[Step],
    *,
    slo_p99_ms: float,
    cpu_cap_cores: float,
    keep_up: float = KEEP_UP,
    saturated_frac: float = SATURATED_FRAC,
    confirm_runs: int = 1,
) -> Knee:
    """The knee of ``steps`` (see the module doc). ``cpu_cap_cores``: the server's CPU cap (its
    cgroup quota, or 1.0 for one uncapped Redis thread). ``confirm_runs``: how many runs the knee's
    rate and every failed rate below it need before the knee counts as confirmed."""
    if slo_p99_ms <= 0 or cpu_cap_cores <= 0 or not 0 < keep_up <= 1 or not 0 < saturated_frac <= 1:
        raise ValueError(
            "judge_knee: slo_p99_ms and cpu_cap_cores must be > 0, keep_up and saturated_frac in (0, 1]"
        )
    groups = by_rate(steps, slo_p99_ms, keep_up)
    knee = Knee("too_few_steps", None, None, slo_p99_ms, keep_up, cpu_cap_cores, saturated_frac)
    knee.confirm_runs = confirm_runs
    saturated = [g.worst().server_cpu_cores >= saturated_frac * cpu_cap_cores for g in groups]
    knee.verdicts = [_verdict(g, sat) for g, sat in zip(groups, saturated, strict=True)]
    if len(groups) < 2:
        knee.note = "one rate cannot show a knee: it needs a passing rate and a failing one above it"
        return knee
    fails = [not g.passed for g in groups]
    end = _first_sustained(fails)
    knee.transient = [knee.verdicts[i] for i in range(end) if fails[i]]
    passes = [i for i in range(end) if not fails[i]]
    if end < len(groups):
        knee.first_failure = knee.verdicts[end]
        s = groups[end].worst()
        limit = load_limited(s, keep_up)
        if not saturated[end] and limit:
            knee.status = "load_bound"
            knee.note = (
                f"the load, not the server, stopped at {s.offered:,.0f} events/s offered "
                f"({s.achieved:,.0f} achieved; {', '.join(limit)}) while the server used "
                f"{s.server_cpu_cores:.3f} of {cpu_cap_cores:g} cores: not the server's knee"
            )
            return knee
    if not passes:
        knee.status = "below_range"
        knee.note = "the lowest rate already failed for good: the knee is below the range searched"
        return knee
    best = groups[passes[-1]]
    knee.knee_rate = best.offered
    knee.knee_achieved = statistics.median(
        s.achieved for s, f in zip(best.runs, best.fails, strict=True) if not f
    )
    knee.unconfirmed = unconfirmed(knee, confirm_runs)
    if end == len(groups):
        knee.status = "not_reached"
        knee.note = "no rate failed for good: the knee is above the highest rate offered"
    else:
        knee.status = "found"
    return knee


def unconfirmed(knee: Knee, confirm_runs: int) -> list[dict[str, Any]]:
    """The knee's rate, the failed rates below it (judged transient) and the first sustained
    failure above it run fewer than ``confirm_runs`` times, each with the runs it still needs: what
    a search repeats before it trusts the knee. Empty when there is no knee or every one has its
    runs."""
    if knee.knee_rate is None:
        return []
    check = [v for v in knee.verdicts if v["offered"] == knee.knee_rate] + list(knee.transient)
    if knee.first_failure is not None:
        check.append(knee.first_failure)
    return [
        {"offered": v["offered"], "missing": confirm_runs - v["runs"]}
        for v in check
        if v["runs"] < confirm_runs
    ]


def _first_sustained(fails: Sequence[bool]) -> int:
    """Index of the first failure that the next higher step confirms by failing too, or that has no
    higher step (len(fails) when there is none)."""
    for i, f in enumerate(fails):
        if f and (i + 1 == len(fails) or fails[i + 1]):
            return i
    return len(fails)
