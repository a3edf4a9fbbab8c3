"""The alert board: every evaluated rule stepped over each tick of the sampler, per instance, with
the events it caused and the series kept for the report."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from harness.metrics.alerts import RULES, AlertEvent, AlertRule, AlertState, not_evaluated, scaled, step
from harness.rehearsal.sampler import Tick

#: Series kept per tick for the report's charts (the rest only drive alerts).
CHARTED = ("ingest_rate", "query_p99_1s", "redis_replica_lag_s")


@dataclass
class Board:
    for_scale: float
    why_not: dict[str, str]
    max_gap_s: float = 3.0
    states: dict[tuple[str, str], AlertState] = field(default_factory=dict)
    events: list[AlertEvent] = field(default_factory=list)
    series: list[dict[str, Any]] = field(default_factory=list)  # {t_s, series: {instance: value}}
    errors: list[str] = field(default_factory=list)  # samples that could not be taken, and why
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def rules(self) -> list[AlertRule]:
        return [r for r in RULES if r.series not in self.why_not]

    def skipped(self) -> list[dict[str, str]]:
        measured = [r.series for r in self.rules]
        return [n.__dict__ for n in not_evaluated(measured, self.why_not)]

    def feed(self, t_s: float, tick: Tick) -> list[AlertEvent]:
        """Steps every rule over ``tick``; an instance seen before but absent now is missing."""
        new: list[AlertEvent] = []
        with self._lock:
            for rule in self.rules:
                values = tick.get(rule.series, {})
                known = {inst for (name, inst) in self.states if name == rule.name}
                for inst in sorted(known | set(values)):
                    key = (rule.name, inst)
                    state = self.states.get(key, AlertState())
                    state, event = step(
                        rule,
                        state,
                        t_s,
                        values.get(inst),
                        scaled(rule.for_s, self.for_scale),
                        self.max_gap_s,
                        inst,
                    )
                    self.states[key] = state
                    if event is not None:
                        new.append(event)
            self.events += new
            self.series.append({"t_s": round(t_s, 3), **{k: tick.get(k, {}) for k in CHARTED}})
        return new

    def firing(self) -> list[tuple[str, str, float | None]]:
        """(rule, instance, since) of every alert firing now."""
        with self._lock:
            return [(r, i, s.since_s) for (r, i), s in sorted(self.states.items()) if s.status == "firing"]

    def pending(self) -> list[tuple[str, str, float | None]]:
        with self._lock:
            return [(r, i, s.since_s) for (r, i), s in sorted(self.states.items()) if s.status == "pending"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "for_scale": self.for_scale,
            "max_gap_s": self.max_gap_s,
            "rules": [
                {
                    **r.__dict__,
                    "for_scaled_s": scaled(r.for_s, self.for_scale),
                    "window_scaled_s": scaled(r.window_s, self.for_scale),
                }
                for r in self.rules
            ],
            "not_evaluated": self.skipped(),
            "events": [e.__dict__ for e in self.events],
            "series": self.series,
            "sampling_errors": self.errors[:50],
        }
