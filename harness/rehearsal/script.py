"""A rehearsal file: timed operator steps and checkpoints, so a rehearsal replays in CI.

::

    topology: redis-replicated      # optional: the command line's TOPOLOGY must match it
    rate: 300                       # offered events per second
    for_scale: 0.05                 # every alert rule's for: (and rate window) times this
    end_s: 40                       # the rehearsal ends here
    steps:
      - {at_s: 8, fault: partition, target: r2}
      - {at_s: 24, heal: true}
    checkpoints:
      - {by_s: 20, expect_alert: RedisReplicationLag}

Validated whole before anything starts (every fault built, every alert name known, every time
inside ``end_s``): one error naming the file and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.errors import SpecError
from harness.faults import make_fault
from harness.faults.base import FaultParamError
from harness.metrics.alerts import NEVER_EVALUATED, RULES
from harness.specload import load_yaml_model


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Step(_Strict):
    at_s: float = Field(ge=0, description="seconds after the workload starts")
    fault: str | None = None
    target: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    heal: bool = False

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        if self.heal == (self.fault is not None):
            raise ValueError("a step is either {fault: KIND, target: ...} or {heal: true}")
        if self.fault is not None:
            try:
                make_fault(self.fault, self.params, self.target)
            except FaultParamError as exc:
                raise ValueError(str(exc)) from exc
        return self


class Checkpoint(_Strict):
    by_s: float = Field(gt=0)
    expect_alert: str

    @model_validator(mode="after")
    def _known(self) -> Checkpoint:
        names = sorted(r.name for r in RULES)
        if self.expect_alert in {n.name for n in NEVER_EVALUATED}:
            raise ValueError(f"alert {self.expect_alert} is never evaluated by the harness")
        if self.expect_alert not in names:
            raise ValueError(f"unknown alert '{self.expect_alert}'; known: {', '.join(names)}")
        return self


class RehearsalScript(_Strict):
    topology: str | None = None
    rate: float | None = Field(default=None, gt=0)
    for_scale: float | None = Field(default=None, gt=0, le=1)
    end_s: float = Field(gt=0, le=3600)
    steps: list[Step] = Field(default_factory=list)
    checkpoints: list[Checkpoint] = Field(default_factory=list)

    @model_validator(mode="after")
    def _times(self) -> RehearsalScript:
        for i, s in enumerate(self.steps):
            if s.at_s >= self.end_s:
                raise ValueError(f"steps[{i}].at_s {s.at_s:g} is not before end_s {self.end_s:g}")
        if [s.at_s for s in self.steps] != sorted(s.at_s for s in self.steps):
            raise ValueError("steps must be in time order")
        for i, c in enumerate(self.checkpoints):
            if c.by_s > self.end_s:
                raise ValueError(f"checkpoints[{i}].by_s {c.by_s:g} is after end_s {self.end_s:g}")
        return self


def load_script(path: Path, topology: str) -> RehearsalScript:
    script = load_yaml_model(path, RehearsalScript)
    if script.topology is not None and script.topology != topology:
        raise SpecError(str(path), "topology", f"written for {script.topology}, not {topology}")
    return script
