"""The noise band and the regression judgement, on the histories that would fool a naive one."""

from __future__ import annotations

import statistics
from pathlib import Path

import pandas as pd
import pytest

from harness.nightly.baselines import (
    COLUMNS,
    MIN_RUNS,
    REL_FLOOR,
    WINDOW,
    Baselines,
    append_history,
    judge,
    learn_band,
    read_history,
)


def test_nothing_is_flagged_while_learning() -> None:
    for n in range(MIN_RUNS):
        state, note, band = judge(1e9, "lower", None, [100.0] * n)
        assert state == "learning" and band is None
        assert note == f"learning: {n} of {MIN_RUNS} past runs"
    assert judge(1e9, "lower", None, [100.0] * MIN_RUNS)[0] == "regression"


def test_missing_past_values_do_not_count_as_runs() -> None:
    state, note, _ = judge(500.0, "lower", None, [100.0, None, float("nan"), 100.0])
    assert state == "learning" and note == f"learning: 2 of {MIN_RUNS} past runs"


def test_a_single_outlier_in_the_past_does_not_widen_the_band() -> None:
    past = [100.0, 102.0, 98.0, 101.0, 400.0]  # one bad night among ordinary ones
    # A mean ± 3 standard deviations band would swallow a 40% rise: the outlier widened it.
    assert statistics.mean(past) + 3 * statistics.stdev(past) > 140
    band = learn_band(past)
    assert band is not None and band.center == 101.0
    assert judge(140.0, "lower", None, past)[0] == "regression"
    assert judge(110.0, "lower", None, past)[0] == "ok"
    # The same outlier on a higher-is-better figure does not hide a drop either.
    low_outlier = [100.0, 102.0, 98.0, 101.0, 5.0]
    assert judge(60.0, "higher", None, low_outlier)[0] == "regression"


def test_a_constant_series_still_has_a_band() -> None:
    past = [50.0] * 6  # zero spread: a band of zero width would flag any wobble at all
    band = learn_band(past)
    assert band is not None and band.half == pytest.approx(REL_FLOOR * 50) and band.rule == "floor"
    assert judge(55.0, "lower", None, past)[0] == "ok"  # 10%: this machine's ordinary variation
    assert judge(45.0, "lower", None, past)[0] == "ok"
    assert judge(70.0, "lower", None, past)[0] == "regression"
    assert judge(30.0, "lower", None, past)[0] == "improved"


def test_a_figure_never_below_zero_keeps_its_band_above_zero() -> None:
    band = learn_band([0.7, 0.95, 0.5, 0.43])  # a noisy sub-millisecond latency
    assert band is not None and band.lo == 0.0 and band.hi is not None and band.hi > 0.95
    signed = learn_band([-1.0, 0.5, 1.0, 0.2])  # a figure that has been negative keeps the full band
    assert signed is not None and signed.lo is not None and signed.lo < -1.0


def test_a_constant_zero_series() -> None:
    past = [0.0, 0.0, 0.0, 0.0]  # e.g. writes lost by the fixed variant
    assert judge(0.0, "lower", None, past)[0] == "ok"
    assert judge(0.0, "toward", 0.0, past)[0] == "ok"
    assert judge(3.0, "lower", None, past)[0] == "regression"
    assert judge(3.0, "toward", 0.0, past)[0] == "regression"


def test_higher_is_better_flags_only_a_drop() -> None:
    past = [1000.0, 1040.0, 980.0, 1010.0, 995.0]
    state, note, band = judge(600.0, "higher", None, past)
    assert state == "regression" and "below" in note
    assert band is not None and band.lo is not None and band.lo > 600
    state, note, _ = judge(1600.0, "higher", None, past)
    assert state == "improved" and "above" in note


def test_a_figure_that_improved_is_not_a_regression() -> None:
    past = [200.0, 210.0, 190.0, 205.0]  # lower is better: e.g. a p99 latency
    assert judge(100.0, "lower", None, past)[0] == "improved"
    assert judge(400.0, "lower", None, past)[0] == "regression"


def test_toward_a_threshold_judges_the_distance_to_it() -> None:
    # '== 0' target that used to miss (5 or 6) and now meets it: closer to the threshold is better.
    assert judge(0.0, "toward", 0.0, [5.0, 6.0, 5.0])[0] == "improved"
    assert judge(12.0, "toward", 0.0, [5.0, 6.0, 5.0])[0] == "regression"


def test_no_direction_is_never_flagged() -> None:
    state, note, band = judge(1000.0, None, None, [10.0, 10.0, 10.0])
    assert state == "untracked" and band is not None and "never flagged" in note


def test_the_band_learns_from_the_newest_window_only() -> None:
    past = [1000.0] * 10 + [100.0] * WINDOW  # an old level, then a lasting new one
    band = learn_band(past)
    assert band is not None and band.center == 100.0 and band.runs == WINDOW


def test_a_value_not_measured_is_not_judged() -> None:
    state, _, band = judge(None, "lower", None, [1.0, 1.0, 1.0])
    assert state == "not_measured" and band is not None


def _row(nightly: str, value: float | None, **kw: str) -> dict[str, object]:
    row: dict[str, object] = {c: "" for c in COLUMNS}
    row.update(
        nightly=nightly,
        started_at=f"2026-12-0{nightly[-1]}T02:00:00Z",
        scenario="s",
        figure="f",
        conditions="backend=local",
        value=value,
    )
    row.update(kw)
    return row


def test_history_round_trip_and_conditions_kept_apart(tmp_path: Path) -> None:
    path = tmp_path / "baselines" / "history.csv"
    assert read_history(path).empty
    assert (
        append_history(path, [_row("n1", 1.5), _row("n1", 9.0, conditions="backend=local duration=5s")]) == 2
    )
    assert append_history(path, [_row("n2", None), _row("n3", 2.25)]) == 2
    df = read_history(path)
    assert list(df.columns) == COLUMNS and len(df) == 4
    past = Baselines(df).past("s", "f", "backend=local")
    assert [p.nightly for p in past] == ["n1", "n2", "n3"]
    assert [p.value for p in past] == [1.5, None, 2.25]  # a run that did not measure it is a gap
    assert [p.value for p in Baselines(df).past("s", "f", "backend=local duration=5s")] == [9.0]
    assert Baselines(df).past("s", "other", "backend=local") == []


def test_a_history_with_other_columns_is_rewritten_whole(tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    pd.DataFrame([{"nightly": "n0", "scenario": "s", "figure": "f", "value": "7", "old": "x"}]).to_csv(
        path, index=False
    )
    append_history(path, [_row("n1", 8.0)])
    df = read_history(path)
    assert len(df) == 2 and set(COLUMNS) <= set(df.columns) and "old" in df.columns
    assert list(df["value"]) == [7.0, 8.0]


def _waiting_on_a_flock(pid: int) -> bool:
    """Whether ``pid`` is queued behind a held flock (a ``->`` line of ``/proc/locks``)."""
    return any(
        line.split()[1] == "->" and line.split()[5] == str(pid)
        for line in Path("/proc/locks").read_text().splitlines()
        if len(line.split()) > 5
    )


def test_a_second_writer_waits_for_the_history_lock(tmp_path: Path) -> None:
    # two nightlies finishing together: the second one's append waits while the first holds the
    # lock (seen waiting in /proc/locks, not guessed from a sleep), then lands whole after it
    import multiprocessing
    import time

    from harness.nightly.baselines import history_lock

    path = tmp_path / "history.csv"
    append_history(path, [_row("n1", 1.0)])
    ctx = multiprocessing.get_context("fork")
    with history_lock(path):
        child = ctx.Process(target=append_history, args=(path, [_row("n2", 2.0), _row("n2", 3.0)]))
        child.start()
        deadline = time.monotonic() + 10
        while not _waiting_on_a_flock(child.pid or 0):
            assert time.monotonic() < deadline and child.is_alive(), "the second writer never queued"
            time.sleep(0.01)
        assert list(read_history(path)["value"]) == [1.0]  # nothing written while it waits
    child.join(timeout=10)
    assert child.exitcode == 0
    assert list(read_history(path)["value"]) == [1.0, 2.0, 3.0]
