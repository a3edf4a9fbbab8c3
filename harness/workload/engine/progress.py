"""Live progress for long runs: one terminal line with offered vs achieved rate, errors and p99.

Assumes periodic :class:`Snapshot` s (cumulative counts since the run started); rates are the
difference between the last two. :func:`render` is pure; :class:`ProgressLine` throttles to at
most one line per ``interval_s`` (0.5 s), stays silent for runs shorter than ``min_run_s``,
rewrites one line in place on a terminal and prints a plain line every ``log_every_s`` otherwise
(CI logs). Records no ops.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from harness.metrics.hdr import LatencyHistograms, summarize
from harness.workload.engine.openloop import DriverStats


@dataclass(frozen=True)
class Snapshot:
    t_s: float  # seconds since the run started
    offered: int  # events whose scheduled time has come
    achieved: int  # ops completed ok
    errors: int  # ops completed fail or info
    p99_ms: float | None  # newest complete latency window, from the scheduled time


def render(prev: Snapshot | None, cur: Snapshot, duration_s: float, label: str = "") -> str:
    """``[label] 12.0/30 s  offered 1,000/s  achieved 980/s  errors 3 (0.3%)  p99 12.3 ms``."""
    base = prev if prev is not None else Snapshot(0.0, 0, 0, 0, None)
    dt = cur.t_s - base.t_s
    offered = (cur.offered - base.offered) / dt if dt > 0 else 0.0
    achieved = (cur.achieved - base.achieved) / dt if dt > 0 else 0.0
    done = cur.achieved + cur.errors
    err_pct = 100.0 * cur.errors / done if done else 0.0
    p99 = "p99 -" if cur.p99_ms is None else f"p99 {cur.p99_ms:,.1f} ms"
    head = f"[{label}] " if label else ""
    return (
        f"{head}{cur.t_s:,.1f}/{duration_s:,.0f} s  offered {offered:,.0f}/s  achieved {achieved:,.0f}/s  "
        f"errors {cur.errors:,} ({err_pct:.1f}%)  {p99}"
    )


def snapshot(stats: DriverStats, hist: LatencyHistograms | None, t_s: float) -> Snapshot:
    """From the open loop's stats and the run's histograms (``t_s`` from the histograms' origin)."""
    p99: float | None = None
    if hist is not None:
        hist.flush()
        w = int(t_s * 1e9) // hist.window_ns - 1  # the newest window that is complete
        if w >= 0:
            value = summarize(hist.window(w))["p99"]
            p99 = None if value is None else float(value)
    errors = stats.outcomes.get("fail", 0) + stats.outcomes.get("info", 0)
    return Snapshot(t_s, stats.due, stats.outcomes.get("ok", 0), errors, p99)


class ProgressLine:
    def __init__(
        self,
        duration_s: float,
        *,
        label: str = "",
        out: TextIO | None = None,
        min_run_s: float = 5.0,
        interval_s: float = 0.5,
        log_every_s: float = 10.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.duration_s = duration_s
        self.label = label
        self.out = out if out is not None else sys.stderr
        self.enabled = duration_s > min_run_s
        self.live = bool(getattr(self.out, "isatty", lambda: False)())
        self.every = interval_s if self.live else log_every_s
        self.now = now
        self._last_at: float | None = None
        self._prev: Snapshot | None = None
        self._width = 0

    def update(self, snap: Snapshot) -> bool:
        """Renders ``snap`` if enabled and due; returns whether a line was written."""
        if not self.enabled:
            return False
        t = self.now()
        if self._last_at is not None and t - self._last_at < self.every:
            return False
        line = render(self._prev, snap, self.duration_s, self.label)
        if self.live:
            self.out.write("\r" + line.ljust(self._width))
            self._width = len(line)
        else:
            self.out.write(line + "\n")
        self.out.flush()
        self._last_at, self._prev = t, snap
        return True

    def close(self) -> None:
        if self.enabled and self.live and self._width:
            self.out.write("\n")
            self.out.flush()
