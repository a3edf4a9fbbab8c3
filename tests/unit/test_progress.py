"""The live progress line: pure rendering, throttling, silence for short runs, p99 from HDR."""

from __future__ import annotations

import io

from harness.metrics.hdr import LatencyHistograms
from harness.workload.engine.openloop import DriverStats
from harness.workload.engine.progress import ProgressLine, Snapshot, render, snapshot


def test_render_rates_are_from_the_last_two_snapshots() -> None:
    prev = Snapshot(10.0, 10_000, 9_900, 10, 4.0)
    cur = Snapshot(12.0, 12_000, 11_700, 30, 12.34)
    assert render(prev, cur, 30, "after") == (
        "[after] 12.0/30 s  offered 1,000/s  achieved 900/s  errors 30 (0.3%)  p99 12.3 ms"
    )
    assert render(None, Snapshot(0.0, 0, 0, 0, None), 60) == (
        "0.0/60 s  offered 0/s  achieved 0/s  errors 0 (0.0%)  p99 -"
    )


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_throttled_to_twice_a_second_and_rewrites_in_place() -> None:
    clock = [0.0]
    out = _Tty()
    line = ProgressLine(30, out=out, now=lambda: clock[0])
    written = []
    for i in range(10):  # ten snapshots over 1 s: only 0, 0.5 s get drawn
        clock[0] = i * 0.1
        written.append(line.update(Snapshot(i * 0.1, i * 100, i * 100, 0, None)))
    assert written == [True, False, False, False, False, True, False, False, False, False]
    line.close()
    text = out.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1


def test_short_runs_stay_silent_and_logs_get_plain_lines() -> None:
    out = io.StringIO()
    quiet = ProgressLine(3, out=out, now=lambda: 0.0)
    assert quiet.update(Snapshot(1.0, 1, 1, 0, None)) is False
    clock = [0.0]
    log = ProgressLine(60, out=out, now=lambda: clock[0], log_every_s=10)
    assert log.update(Snapshot(1.0, 1, 1, 0, None))
    clock[0] = 5.0
    assert not log.update(Snapshot(5.0, 5, 5, 0, None))
    clock[0] = 11.0
    assert log.update(Snapshot(11.0, 11, 11, 0, None))
    log.close()
    assert out.getvalue().count("\n") == 2 and "\r" not in out.getvalue()


def test_snapshot_takes_p99_from_the_newest_complete_window() -> None:
    hist = LatencyHistograms(window_ns=1_000_000_000)
    for i in range(100):  # window 0: 1..100 ms; window 1: 500 ms (still open at t=1.5 s)
        hist.record("incr", 0, (i + 1) * 1_000_000)
    hist.record("incr", 1_000_000_000, 1_500_000_000)
    stats = DriverStats(due=150)
    stats.outcomes.update(ok=120, fail=2, info=1)
    snap = snapshot(stats, hist, 1.5)
    assert (snap.offered, snap.achieved, snap.errors) == (150, 120, 3)
    assert snap.p99_ms is not None and abs(snap.p99_ms - 99) <= 0.1
    assert snapshot(stats, hist, 0.5).p99_ms is None  # no complete window yet
