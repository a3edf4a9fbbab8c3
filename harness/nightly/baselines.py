"""Baselines: every nightly's key figures appended to one history file, and the noise band each
figure's past values make, which flags a regression only when a figure leaves it in the bad direction.

The history is a CSV table (``reports/baselines/history.csv``), one row per (nightly, scenario,
figure), read and written with pandas. A figure is compared only with past rows of the same scenario,
figure and *conditions* (backend, and any ``--duration``/``--rate`` given: a five-second smoke run is
not measured against full-length runs).

The band (:func:`learn_band`) is the median of the last :data:`WINDOW` past values ± the wider of
:data:`K_MAD` robust standard deviations (1.4826 × the median absolute deviation) and a floor of
:data:`REL_FLOOR` of the median, since this machine varies 10–25% from run to run. Median and MAD are
not moved by a single outlier among the past runs, and the floor keeps a series that has been
constant so far (no spread at all) from flagging the first ordinary wobble. Nothing is flagged until
:data:`MIN_RUNS` past values exist (``learning: 1 of 3 past runs``). A value outside the band is a
regression only on the figure's bad side (:func:`judge`): below it for a higher-is-better figure,
above it for a lower-is-better one, further from the threshold for one that must equal it; outside
on the good side it is ``improved``. The band keeps learning from every nightly, flagged or not, so
a lasting change becomes the new normal after a few runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.records import Band, TrendPoint
from harness.report.format import fmt_num

MIN_RUNS = 3  # past values needed before a figure can be flagged
WINDOW = 20  # past values the band is learned from (the newest)
K_MAD = 3.0  # robust standard deviations either side of the median
MAD_TO_SIGMA = 1.4826  # the MAD of a normal distribution times this is its standard deviation
REL_FLOOR = 0.25  # the band is never narrower than ±25% of the median (this machine's run-to-run)

BAND_RULE = (
    f"median of the last {WINDOW} past values ± max({K_MAD:g} × 1.4826 × MAD, {REL_FLOOR:.0%} of the "
    f"median); flags only outside it on the bad side, after {MIN_RUNS} past runs"
)

COLUMNS = [
    "nightly",
    "started_at",
    "suite",
    "conditions",
    "scenario",
    "run_id",
    "verdict",
    "figure",
    "source",
    "metric",
    "unit",
    "direction",
    "op",
    "threshold",
    "status",
    "value",
]
_KEY = ["scenario", "figure", "conditions"]


def _finite(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def learn_band(past: Sequence[float | None]) -> Band | None:
    """The band of the newest :data:`WINDOW` finite values of ``past`` (oldest first), or None while
    fewer than :data:`MIN_RUNS` exist."""
    values = [f for v in past if (f := _finite(v)) is not None][-WINDOW:]
    if len(values) < MIN_RUNS:
        return None
    series = pd.Series(values, dtype=float)
    center = float(series.median())
    mad = float((series - center).abs().median())
    by_mad = K_MAD * MAD_TO_SIGMA * mad
    floor = REL_FLOOR * abs(center)
    half = max(by_mad, floor)
    lo = center - half
    if lo < 0 <= min(values):  # a figure never below zero so far (a count, a latency) stays so
        lo = 0.0
    return Band(
        center=center,
        lo=lo,
        hi=center + half,
        half=half,
        runs=len(values),
        rule="mad" if by_mad > floor else "floor",
    )


def _worse(value: float, band: Band, direction: str | None, threshold: float | None) -> bool | None:
    """Whether ``value`` (outside ``band``) is on the bad side; None when the figure has no side."""
    center = float(band.center or 0.0)
    if direction == "higher":
        return value < center
    if direction == "lower":
        return value > center
    if direction == "toward":
        if threshold is None:
            return True
        return abs(value - threshold) > abs(center - threshold)
    return None


def judge(
    value: float | None,
    direction: str | None,
    threshold: float | None,
    past: Sequence[float | None],
) -> tuple[str, str, Band | None]:
    """(trend state, a note in words, the band) for ``value`` against its ``past`` values."""
    band = learn_band(past)
    n = sum(1 for v in past if _finite(v) is not None)
    if _finite(value) is None:
        return "not_measured", "not measured in this run", band
    assert value is not None
    if band is None:
        return "learning", f"learning: {n} of {MIN_RUNS} past runs", None
    lo, hi = float(band.lo or 0.0), float(band.hi or 0.0)
    span = f"{fmt_num(lo)}–{fmt_num(hi)} (median {fmt_num(band.center)} of {band.runs} runs)"
    if lo <= value <= hi:
        return "ok", f"within {span}", band
    worse = _worse(value, band, direction, _finite(threshold))
    side = "above" if value > hi else "below"
    if worse is None:
        return "untracked", f"{side} {span}; no better direction, never flagged", band
    if worse:
        return "regression", f"regression: {fmt_num(value)} is {side} {span}", band
    return "improved", f"improved: {fmt_num(value)} is {side} {span}", band


# ------------------------------------------------------------------------------------------ history
def _cell(v: object) -> str:
    if v is None:
        return ""
    f = _finite(v)
    if f is not None:
        return f"{f:.10g}"
    return str(v)


def read_history(path: Path) -> pd.DataFrame:
    """The history table (every column text but ``value``, a float with NaN where not measured); an
    empty table when the file does not exist yet. Lines that do not parse are left out."""
    if not path.is_file():
        return pd.DataFrame({c: pd.Series(dtype=float if c == "value" else str) for c in COLUMNS})
    df = pd.read_csv(path, dtype=str, keep_default_na=False, on_bad_lines="skip")
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = ""
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    return df


@contextlib.contextmanager
def history_lock(path: Path) -> Iterator[None]:
    """Held while the history is appended to or rewritten: two nightlies finishing together would
    otherwise interleave their rows or lose one's to the other's rewrite. A lock file beside it, not
    the history itself, whose rewrite replaces the file a waiting writer would have locked."""
    with open(path.with_name(f".{path.name}.lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def append_history(path: Path, rows: Sequence[Mapping[str, Any]]) -> int:
    """Appends ``rows`` (keys of :data:`COLUMNS`) to the history file under :func:`history_lock`;
    returns how many. A file written with other columns is rewritten whole with the union of both
    (never a misaligned row)."""
    if not rows:
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    new = pd.DataFrame([{c: _cell(r.get(c)) for c in COLUMNS} for r in rows], columns=COLUMNS)
    with history_lock(path):
        _append(path, new)
    return len(new)


def _append(path: Path, new: pd.DataFrame) -> None:
    header: list[str] | None = None
    if path.is_file() and path.stat().st_size > 0:
        with path.open(encoding="utf-8") as fh:
            header = fh.readline().rstrip("\r\n").split(",")
    if header is None:
        new.to_csv(path, index=False)
    elif header == COLUMNS:
        new.to_csv(path, mode="a", header=False, index=False)
    else:
        old = pd.read_csv(path, dtype=str, keep_default_na=False, on_bad_lines="skip")
        both = pd.concat([old, new], ignore_index=True).fillna("")
        tmp = path.with_name(path.name + ".tmp")
        both.to_csv(tmp, index=False)
        tmp.replace(path)


@dataclass
class Baselines:
    """The past values of every figure, grouped by (scenario, figure, conditions), oldest first."""

    history: pd.DataFrame

    @classmethod
    def load(cls, path: Path) -> Baselines:
        return cls(read_history(path))

    @classmethod
    def empty(cls) -> Baselines:
        return cls(read_history(Path("/nonexistent/history.csv")))

    def __post_init__(self) -> None:
        df = self.history.sort_values(["started_at", "nightly"], kind="stable")
        self._groups: dict[tuple[str, str, str], pd.DataFrame] = {
            (str(k[0]), str(k[1]), str(k[2])): g for k, g in df.groupby(_KEY, sort=False)
        }

    def past(self, scenario: str, figure: str, conditions: str) -> list[TrendPoint]:
        """The figure's past values under ``conditions`` (the newest :data:`WINDOW`), oldest first."""
        g = self._groups.get((scenario, figure, conditions))
        if g is None:
            return []
        tail = g.tail(WINDOW)
        return [
            TrendPoint(nightly=str(n), started_at=str(t), value=_finite(v))
            for n, t, v in zip(tail["nightly"], tail["started_at"], tail["value"], strict=True)
        ]

    def nightlies(self) -> int:
        return int(self.history["nightly"].nunique())
