"""``nightly.json``: one nightly run of many scenarios, as the summary is rendered from it.

Written by the nightly runner (:mod:`harness.nightly`) into ``reports/nightly/<date>/`` after each
scenario and at the end; the summary page, ``summary.md`` and the JUnit file across scenarios are
rendered from it (and from each scenario's own ``results.json``) alone, never from live objects.
"""

from __future__ import annotations

from pydantic import Field

from harness.records.base import Number, Record

#: What a figure's trend judgement can be.
TREND_STATES = ("learning", "ok", "regression", "improved", "untracked", "not_measured")


class Band(Record):
    """The noise band learned from past runs of one figure: ``center`` ± ``half``."""

    center: Number | None = None  # the median of the past values
    lo: Number | None = None
    hi: Number | None = None
    half: Number | None = None  # half the band's width
    runs: int | None = None  # past values it was learned from
    rule: str | None = None  # which term set the width: "mad" or "floor"


class TrendPoint(Record):
    """One past value of a figure (a row of the history file)."""

    nightly: str | None = None
    started_at: str | None = None
    value: Number | None = None


class NightlyFigure(Record):
    """A key figure of one scenario's run, and how it compares with its past runs."""

    name: str | None = None
    source: str | None = None  # target | run
    metric: str | None = None
    unit: str | None = None
    direction: str | None = None  # higher | lower | toward (== a threshold) | None: not judged
    value: Number | None = None
    op: str | None = None
    threshold: Number | None = None
    status: str | None = None  # the target's own status: pass | fail | unknown | not_run
    trend: str | None = None  # one of TREND_STATES
    trend_note: str | None = None
    band: Band | None = None
    history: list[TrendPoint] = Field(default_factory=list)  # past values, oldest first


class NightlyScenario(Record):
    """One scenario of the nightly: how its run ended and its key figures."""

    name: str | None = None
    title: str | None = None
    verdict: str | None = None  # pass | fail | error | not_run | pending (not started yet)
    reason: str | None = None
    seconds: Number | None = None
    exit_code: int | None = None
    run_id: str | None = None
    run_dir: str | None = None  # relative to the nightly's directory
    log: str | None = None  # relative to the nightly's directory
    figures: list[NightlyFigure] = Field(default_factory=list)

    def regressions(self) -> list[NightlyFigure]:
        return [f for f in self.figures if f.trend == "regression"]


class NightlyRecord(Record):
    """``nightly.json``."""

    nightly: str | None = None  # its id: the directory's name (<date>, or <date>-2 for a second one)
    suite: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: Number | None = None
    state: str | None = None  # running | done | interrupted
    verdict: str | None = None  # pass | fail | error | interrupted
    verdict_reason: str | None = None
    exit_code: int | None = None
    conditions: str | None = None  # what a figure is compared under: backend, duration, rate
    options: dict[str, str] = Field(default_factory=dict)
    history_file: str | None = None
    history_note: str | None = None  # e.g. "not appended: interrupted"
    band_rule: str | None = None  # the noise band in words
    min_runs: int | None = None
    host: str | None = None
    harness_version: str | None = None
    scenarios: list[NightlyScenario] = Field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = {v: 0 for v in ("pass", "fail", "error", "not_run", "pending")}
        for s in self.scenarios:
            key = s.verdict if s.verdict in out else "error"
            out[key] += 1
        return out

    def regressions(self) -> list[tuple[NightlyScenario, NightlyFigure]]:
        return [(s, f) for s in self.scenarios for f in s.regressions()]
