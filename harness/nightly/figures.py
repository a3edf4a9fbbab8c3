"""A run's key figures, from its saved ``results.json``: every target (its measured value, threshold,
unit and status) and the run's own time, each with the direction that is better.

A target's direction comes from its comparison: ``>=``/``>`` make a higher-is-better figure,
``<=``/``<`` a lower-is-better one, ``==`` one that should stay at its threshold (``toward``); ``!=``
gives none (plotted, never flagged). The unit is read off the metric's path (``…_ms``, ``p99``: ms;
``…_per_s``: /s; ``…ratio``: ×; ``…share``: a fraction); a count has none.
"""

from __future__ import annotations

import re

from harness.records import NightlyFigure, RunResults

DIRECTION = {">=": "higher", ">": "higher", "<=": "lower", "<": "lower", "==": "toward"}

#: The run's own figures beside its targets: (name, unit, direction).
RUN_TIME = ("run time", "s", "lower")

_PERCENTILE = re.compile(r"^p\d+$")


def unit_of(metric: str | None) -> str:
    """The unit a metric path's last parts name ("" for a count or when nothing says)."""
    if not metric:
        return ""
    parts = metric.lower().split(".")
    last = parts[-1]
    if "_per_s" in last or last.endswith("_rate") or last == "rate":
        return "/s"
    if (
        last.endswith("_ms")
        or "_ms_" in last
        or (_PERCENTILE.match(last) and any("latency" in p or p.endswith("_ms") for p in parts))
    ):
        return "ms"
    if last.endswith("_s"):
        return "s"
    if "ratio" in last:
        return "×"
    if "share" in last:
        return "fraction"
    return ""


def _measured(value: float | None, status: str | None) -> float | None:
    """A value that counts as measured here: a target not judged here (``not_run``, e.g. measured
    through a stand-in server) is shown but never trended."""
    return None if status == "not_run" else value


def figures_of(results: RunResults) -> list[NightlyFigure]:
    """Every key figure of a run, in the order of its targets, then the run time."""
    figures: list[NightlyFigure] = []
    seen: dict[str, int] = {}
    for t in results.targets:
        name = t.name or t.metric or "target"
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:  # two targets of one name stay two figures
            name = f"{name} ({seen[name]})"
        figures.append(
            NightlyFigure(
                name=name,
                source="target",
                metric=t.metric,
                unit=unit_of(t.metric),
                direction=DIRECTION.get(str(t.op)),
                value=_measured(t.value, t.status),
                op=t.op,
                threshold=t.threshold,
                status=t.status,
            )
        )
    name, unit, direction = RUN_TIME
    # An errored run stopped part way: its time says nothing about the scenario's.
    seconds = None if results.verdict == "error" else results.duration_s
    figures.append(
        NightlyFigure(
            name=name, source="run", metric="duration_s", unit=unit, direction=direction, value=seconds
        )
    )
    return figures
