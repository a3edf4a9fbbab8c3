"""Rate profiles: exact schedules (event i due when N(t) reaches i), validation naming the field,
and the open loop following a profile."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.clock import RunClock
from harness.workload.engine.openloop import DriverStats, run_open_loop
from harness.workload.engine.profile import (
    ProfileError,
    RateProfile,
    constant,
    parse_profile,
    ramp,
    spike,
    steps,
)


def test_constant_matches_the_fixed_interval_schedule() -> None:
    p = constant(1000)
    assert p.total(0.05) == 50
    assert p.schedule_ns(0, 5) == [0, 1_000_000, 2_000_000, 3_000_000, 4_000_000]
    assert p.time_of(49) == pytest.approx(0.049)


def test_steps_schedule_is_exact() -> None:
    p = steps([(0, 10), (1, 100), (2, 0), (3, 10)])
    # 10 events in [0,1), 100 in [1,2), none in [2,3), then 10/s again.
    assert p.total(1) == 10 and p.total(2) == 110 and p.total(3) == 110 and p.total(4) == 120
    assert p.time_of(9) == pytest.approx(0.9)
    assert p.time_of(10) == pytest.approx(1.0)
    assert p.time_of(109) == pytest.approx(1.99)
    assert p.time_of(110) == pytest.approx(3.0)  # the zero-rate gap is skipped, not filled


def test_ramp_integrates_the_rate() -> None:
    p = ramp(0, 100, over_s=10)  # N(t) = 5 t² for t <= 10
    assert p.total(10) == 500
    assert p.time_of(5) == pytest.approx(1.0)
    assert p.time_of(125) == pytest.approx(5.0)
    assert p.time_of(500) == pytest.approx(10.0)
    assert p.total(11) == 600  # then it holds 100/s


def test_ramp_inside_steps() -> None:
    p = steps([(0, 100), (2, 300, 2)])  # 100/s, from t=2 ramps to 300/s by t=4, then holds
    assert p.rate_at(3) == pytest.approx(200)
    assert p.total(4) == 200 + 400  # the ramp's area: 2 s at a mean of 200/s
    assert p.total(5) == 900


def test_spike_really_offers_its_peak() -> None:
    p = spike(base=100, peak=1000, at_s=2, for_s=1)
    inside = [t for t in (p.time_of(i) for i in range(p.total(5))) if 2 <= t < 3]
    assert len(inside) == 1000
    assert p.total(5) == 100 * 4 + 1000


def test_lanes_cover_the_rate() -> None:
    p = spike(base=100, peak=1000, at_s=2, for_s=1)
    assert [p.lanes_at(t, 50) for t in (0, 1.99, 2, 2.5, 3)] == [2, 2, 20, 20, 2]
    assert ramp(0, 100, 10).lanes_at(5, 30) == 2  # 50/s needs two lanes of 30/s


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: constant(0), "rate"),
        (lambda: constant(float("nan")), "rate"),
        (lambda: steps([(1, 10)]), "steps[0].at_s"),
        (lambda: steps([(0, 10), (5, -1)]), "steps[1].rate"),
        (lambda: steps([(0, 10), (5, 20, 3), (6, 30)]), "steps[2].at_s"),
        (lambda: steps([(0, 10), (5, 20, -1)]), "steps[1].ramp_s"),
        (lambda: ramp(10, 20, 0), "over_s"),
        (lambda: spike(10, 100, 5, 0), "for_s"),
        (lambda: spike(10, -100, 5, 1), "peak"),
        (lambda: parse_profile({"kind": "ramp", "from": 1, "to": 2}), "over_s"),
        (lambda: parse_profile({"kind": "wave"}), "kind"),
    ],
)
def test_invalid_profiles_name_the_field(build: Any, field: str) -> None:
    with pytest.raises(ProfileError, match="^" + re.escape(field) + ":"):
        build()


def test_parse_round_trips_to_dict() -> None:
    for p in (constant(5), steps([(0, 1), (2, 5, 1)]), ramp(1, 9, 4), spike(1, 9, 2, 3)):
        assert parse_profile(p.to_dict()) == p


rates = st.floats(min_value=0.5, max_value=5000, allow_nan=False)


@st.composite
def profiles(draw: st.DrawFn) -> RateProfile:
    kind = draw(st.sampled_from(["constant", "steps", "ramp", "spike"]))
    if kind == "constant":
        return constant(draw(rates))
    if kind == "ramp":
        return ramp(draw(st.floats(0, 5000)), draw(rates), draw(st.floats(0.1, 20)))
    if kind == "spike":
        return spike(draw(rates), draw(st.floats(0, 5000)), draw(st.floats(0, 10)), draw(st.floats(0.1, 5)))
    n = draw(st.integers(1, 5))
    pts: list[tuple[float, float, float]] = [(0.0, draw(rates), 0.0)]
    t = 0.0
    for _ in range(n - 1):
        t += draw(st.floats(0.1, 5))
        ramp_s = draw(st.sampled_from([0.0, 0.5, 2.0]))
        pts.append((t, draw(st.floats(0, 5000)), ramp_s))
        t += ramp_s
    return steps(pts)


@settings(max_examples=150, deadline=None)
@given(profiles(), st.floats(0.01, 10))
def test_schedule_is_monotone_and_counts_match_the_integral(p: RateProfile, duration: float) -> None:
    total = p.total(duration)
    if total > 20_000:
        total = 20_000
        duration = p.time_of(total - 1)
    times = [t / 1e9 for t in p.schedule_ns(0, total)]
    assert times == sorted(times)
    assert all(t <= duration + 1e-6 for t in times)
    # How many events are due by t is within ±1 of N(t) at every probe.
    for frac in (0.1, 0.25, 0.5, 0.75, 1.0):
        t = duration * frac
        due = sum(1 for x in times if x <= t)
        assert abs(due - p.count_at(t)) <= 1 + 1e-6
    for i in range(0, total, max(1, total // 50)):  # event i is due where N reaches i
        assert p.count_at(p.time_of(i)) == pytest.approx(i, abs=1e-3)
        assert math.isclose(p.schedule_ns(i, i + 1)[0] / 1e9, p.time_of(i), abs_tol=2e-9)


def test_open_loop_follows_a_profile() -> None:
    clock = RunClock()
    p = steps([(0, 200), (0.05, 2000)])  # 10 events in the first 50 ms, then 2000/s
    got: list[tuple[int, list[int]]] = []
    stats = run_open_loop(
        clock,
        profile=p,
        duration_s=0.1,
        drain_s=2,
        max_batch=1000,
        stats=DriverStats(),
        send=lambda first, sched, _extra: got.append((first, sched)),
    )
    seqs = [first + k for first, sched in got for k in range(len(sched))]
    assert seqs == list(range(110)) and stats.offered == 110 and stats.sent == 110
    start = got[0][1][0]
    rel = [s - start for _, sched in got for s in sched]
    assert rel == p.schedule_ns(0, 110)


def test_open_loop_needs_one_rate_form() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        run_open_loop(
            RunClock(), duration_s=1, drain_s=1, max_batch=1, stats=DriverStats(), send=lambda *_: None
        )
