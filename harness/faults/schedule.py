"""Fault schedules: fixed steps and seeded random mixes, planned into a timed list before a run.

A schedule is data in the scenario file::

    schedule:
      steps:                       # fixed: "at 10 s isolate the master of slot 0 for 15 s"
        - {at_s: 10, duration_s: 15, fault: isolate, target: "master-of-slot:0"}
      random:                      # a seeded mix, with guardrails
        start_s: 5
        end_s: 50
        quiet_s: 5                 # minimum time between one fault's end and the next start
        faults:
          - {fault: kill, target: random-master, duration_s: [4, 8], weight: 2}
          - {fault: latency, target: random-master, params: {ms: 200}, duration_s: [5, 10]}

:func:`plan` turns it into :class:`PlannedFault` entries, deterministically from the seed: the same
seed gives the same schedule. Guardrails: fixed steps may not overlap unless ``allow_overlap`` is
set; the random mix never overlaps faults (one at a time, so never more than one node's worth of
trouble unless a fault itself targets more) and keeps ``quiet_s`` between them; a ``split`` whose
minority is not a minority is refused unless ``allow_majority_down`` is set.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StepSpec(Strict):
    at_s: float = Field(ge=0, description="seconds after the variant's workload starts")
    duration_s: float | None = Field(
        default=None, gt=0, description="heal after this long; none = heal when the workload ends"
    )
    fault: str
    target: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class MixEntry(Strict):
    fault: str
    target: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    duration_s: tuple[float, float] = Field(description="[min, max] seconds, drawn uniformly")
    weight: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _range(self) -> MixEntry:
        lo, hi = self.duration_s
        if not 0 < lo <= hi:
            raise ValueError(f"duration_s {list(self.duration_s)}: needs 0 < min <= max")
        return self


class RandomMixSpec(Strict):
    start_s: float = Field(default=0, ge=0)
    end_s: float = Field(gt=0, description="no fault starts after this; each ends by it")
    quiet_s: float = Field(default=5, ge=0)
    faults: list[MixEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _window(self) -> RandomMixSpec:
        if self.end_s <= self.start_s:
            raise ValueError("end_s must be after start_s")
        return self


class ScheduleSpec(Strict):
    steps: list[StepSpec] = Field(default_factory=list)
    random: RandomMixSpec | None = None
    allow_overlap: bool = False
    allow_majority_down: bool = False
    heal_timeout_s: float = Field(default=60, gt=0, le=600)

    @model_validator(mode="after")
    def _guardrails(self) -> ScheduleSpec:
        if not self.steps and self.random is None:
            raise ValueError("a schedule needs steps, a random mix, or both")
        if not self.allow_overlap:
            spans = sorted((s.at_s, s.at_s + (s.duration_s or float("inf")), s.fault) for s in self.steps)
            for (a0, a1, fa), (b0, _, fb) in itertools.pairwise(spans):
                if b0 < a1:
                    raise ValueError(
                        f"steps overlap: {fa} at {a0:g}s (until {a1:g}s) and {fb} at {b0:g}s; "
                        "set allow_overlap: true if that is meant"
                    )
        if not self.allow_majority_down:
            for step in self.steps:
                _check_minority(step.fault, step.params)
            for entry in self.random.faults if self.random else []:
                _check_minority(entry.fault, entry.params)
        return self


def _check_minority(fault: str, params: dict[str, Any]) -> None:
    """A split's minority side must be a minority of the nodes (checked again at apply time,
    when the node count is known; here only what the file itself says)."""
    if fault != "split":
        return
    share = params.get("minority_share")
    if isinstance(share, int | float) and share >= 0.5:
        raise ValueError(
            f"split with minority_share {share}: that is not a minority; set allow_majority_down: true "
            "if the scenario means to take a majority away"
        )


@dataclass(frozen=True)
class PlannedFault:
    """One fault at a time in the variant: ``at_s`` after the workload starts, for ``duration_s``
    (None: until the workload ends)."""

    index: int
    at_s: float
    duration_s: float | None
    fault: str
    target: str | None
    params: dict[str, Any] = field(default_factory=dict)
    origin: str = "step"  # step | random

    @property
    def end_s(self) -> float | None:
        return None if self.duration_s is None else self.at_s + self.duration_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "at_s": self.at_s,
            "duration_s": self.duration_s,
            "fault": self.fault,
            "target": self.target,
            "params": self.params,
            "origin": self.origin,
        }


def plan(spec: ScheduleSpec, rng: random.Random, workload_s: float) -> list[PlannedFault]:
    """The timed list of faults for one variant. Steps past the workload's end are kept but will not
    start (the nemesis records them as not started); random faults are drawn within the mix window,
    clipped to the workload."""
    entries: list[tuple[float, float | None, str, str | None, dict[str, Any], str]] = [
        (s.at_s, s.duration_s, s.fault, s.target, dict(s.params), "step") for s in spec.steps
    ]
    if spec.random is not None:
        mix = spec.random
        end = min(mix.end_s, workload_s)
        t = mix.start_s
        weights = [e.weight for e in mix.faults]
        while t < end:
            entry = rng.choices(mix.faults, weights=weights)[0]
            lo, hi = entry.duration_s
            duration = round(rng.uniform(lo, hi), 3)
            if t + duration > end:
                break  # every random fault ends inside the window
            entries.append((round(t, 3), duration, entry.fault, entry.target, dict(entry.params), "random"))
            t += duration + mix.quiet_s
    entries.sort(key=lambda e: e[0])
    return [PlannedFault(i, *e) for i, e in enumerate(entries)]


def replay_spec(planned: list[PlannedFault]) -> dict[str, Any]:
    """A ``schedule:`` section that replays exactly ``planned`` as fixed steps (for shrinking and
    for reproducing a random run without its seed)."""
    return {
        "allow_overlap": True,
        "allow_majority_down": True,
        "steps": [
            {
                "at_s": p.at_s,
                **({"duration_s": p.duration_s} if p.duration_s is not None else {}),
                "fault": p.fault,
                **({"target": p.target} if p.target is not None else {}),
                **({"params": p.params} if p.params else {}),
            }
            for p in planned
        ],
    }
