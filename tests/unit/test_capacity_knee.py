"""The knee judgement (harness.metrics.knee) against the step series that would fool it."""

from __future__ import annotations

import pytest

from harness.metrics.knee import Step, judge_knee, step_failures

SLO = 50.0
CAP = 0.25  # cores: a server at >= 0.85 * 0.25 = 0.2125 cores counts as saturated


def ok(rate: float, cpu: float = 0.1, p99: float = 5.0) -> Step:
    return Step(offered=rate, achieved=rate, p99_ms=p99, server_cpu_cores=cpu)


def lagging(rate: float, achieved: float, cpu: float = 0.25, p99: float = 400.0) -> Step:
    return Step(offered=rate, achieved=achieved, p99_ms=p99, server_cpu_cores=cpu)


def judge(steps: list[Step]):  # type: ignore[no-untyped-def]
    return judge_knee(steps, slo_p99_ms=SLO, cpu_cap_cores=CAP)


def test_plain_knee_is_the_last_pass_below_a_saturated_failure() -> None:
    k = judge([ok(2000), ok(4000), ok(6000), lagging(8000, 6500), lagging(10000, 6600)])
    assert (k.status, k.knee_rate, k.knee_achieved) == ("found", 6000, 6000)
    assert k.first_failure is not None and k.first_failure["offered"] == 8000
    assert k.transient == []


def test_steps_are_judged_in_rate_order_not_run_order() -> None:
    k = judge([lagging(10000, 6600), ok(4000), lagging(8000, 6500), ok(6000), ok(2000)])
    assert (k.status, k.knee_rate) == ("found", 6000)


def test_a_latency_spike_that_recovers_is_transient_not_the_knee() -> None:
    spike = Step(offered=4000, achieved=4000, p99_ms=300.0, server_cpu_cores=0.1)
    k = judge([ok(2000), spike, ok(6000), ok(8000), lagging(10000, 8100), lagging(12000, 8200)])
    assert (k.status, k.knee_rate) == ("found", 8000)
    assert [t["offered"] for t in k.transient] == [4000]
    # a naive "first failure ends it" would have said 2000


def test_first_step_lagging_alone_is_warm_up_not_below_range() -> None:
    warm = Step(offered=2000, achieved=1500, p99_ms=20.0, server_cpu_cores=0.05)
    k = judge([warm, ok(4000), ok(6000), lagging(8000, 6400), lagging(10000, 6500)])
    assert (k.status, k.knee_rate) == ("found", 6000)
    assert [t["offered"] for t in k.transient] == [2000]


def test_two_failures_in_a_row_are_sustained_even_if_a_higher_step_passes() -> None:
    # a pass after two consecutive saturated failures is noise, not capacity
    k = judge([ok(2000), ok(4000), lagging(6000, 4500), lagging(8000, 4600), ok(10000, cpu=0.24)])
    assert (k.status, k.knee_rate) == ("found", 4000)


def test_p99_just_under_the_slo_passes_and_just_over_fails() -> None:
    under = Step(offered=6000, achieved=6000, p99_ms=SLO - 0.001, server_cpu_cores=0.2)
    over = Step(offered=8000, achieved=8000, p99_ms=SLO + 0.001, server_cpu_cores=0.24)
    at = Step(offered=6000, achieved=6000, p99_ms=SLO, server_cpu_cores=0.2)
    assert step_failures(under, SLO) == []
    assert step_failures(at, SLO) == []  # "under the SLO" means at most the SLO
    assert step_failures(over, SLO) == [f"p99 {SLO + 0.001:g} ms > SLO {SLO:g} ms"]
    k = judge([ok(2000), ok(4000), under, over, lagging(10000, 8000)])
    assert (k.status, k.knee_rate) == ("found", 6000)


def test_achieved_just_under_keep_up_fails() -> None:
    s = Step(offered=10000, achieved=9499.0, p99_ms=1.0, server_cpu_cores=0.1)
    assert step_failures(s, SLO) == ["achieved 9,499 < 0.95 × offered 10,000"]
    assert step_failures(Step(10000, 9500.0, 1.0, 0.1), SLO) == []


def test_driver_saturating_is_never_reported_as_the_servers_knee() -> None:
    # achieved falls behind while the server idles at 0.12 of its 0.25 cores: the load gave out
    k = judge([ok(2000), ok(4000), lagging(6000, 4200, cpu=0.12), lagging(8000, 4300, cpu=0.12)])
    assert k.status == "load_bound"
    assert k.knee_rate is None and k.knee_achieved is None
    assert "not the server's knee" in k.note and "4,200 achieved" in k.note


def test_a_saturated_server_just_at_the_threshold_counts_as_the_server() -> None:
    at = 0.85 * CAP
    k = judge([ok(2000), lagging(4000, 3000, cpu=at), lagging(6000, 3000, cpu=at)])
    assert (k.status, k.knee_rate) == ("found", 2000)
    below = judge([ok(2000), lagging(4000, 3000, cpu=at - 0.001), lagging(6000, 3000, cpu=at)])
    assert below.status == "load_bound"


def test_a_single_step_shows_no_knee_whether_it_passes_or_fails() -> None:
    for steps in ([ok(5000)], [lagging(5000, 3000)]):
        k = judge(steps)
        assert k.status == "too_few_steps" and k.knee_rate is None
    assert judge([]).status == "too_few_steps"


def test_no_failure_is_a_lower_bound_not_a_knee() -> None:
    k = judge([ok(2000), ok(4000), ok(6000)])
    assert (k.status, k.knee_rate) == ("not_reached", 6000)


def test_failing_from_the_first_step_is_below_range() -> None:
    k = judge([lagging(2000, 1000), lagging(4000, 1000)])
    assert (k.status, k.knee_rate) == ("below_range", None)


def test_errors_unsent_and_missing_latency_fail_a_step() -> None:
    assert step_failures(Step(1000, 1000, 1.0, 0.1, unsent=3), SLO) == ["3 events never sent"]
    assert step_failures(Step(1000, 1000, 1.0, 0.1, errors=2), SLO) == ["2 errors"]
    assert step_failures(Step(1000, 1000, None, 0.1), SLO) == ["no latency measured"]


def test_judged_again_from_saved_dicts() -> None:
    saved = [
        {"offered": 2000, "achieved": 2000, "p99_ms": 3.0, "server_cpu_cores": 0.05},
        {"offered": 4000, "achieved": 2900, "p99_ms": 900.0, "server_cpu_cores": 0.249, "unsent": 0},
        {"offered": 6000, "achieved": 2950, "p99_ms": None, "server_cpu_cores": 0.25},
    ]
    k = judge([Step.from_dict(d) for d in saved])
    assert (k.status, k.knee_rate) == ("found", 2000)
    assert k.to_dict()["verdicts"][1]["server_saturated"] is True


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="slo_p99_ms"):
        judge_knee([ok(1)], slo_p99_ms=0, cpu_cap_cores=1)
    with pytest.raises(ValueError, match="keep_up"):
        judge_knee([ok(1)], slo_p99_ms=1, cpu_cap_cores=1, keep_up=1.5)


def queued(
    rate: float, p99: float = 120.0, cpu: float = 0.19, starved: float = 0.04, busy: float = 0.2
) -> Step:
    """Kept up, p99 over the SLO, server below its saturation threshold (0.2125 of 0.25)."""
    return Step(rate, rate, p99, cpu, load_starved=starved, load_busy=busy)


def test_latency_below_the_cap_with_an_idle_load_is_the_servers_queueing() -> None:
    # a server under a CPU quota stalls between periods before its CPU is full: that is its knee
    k = judge([ok(2000), ok(4000), queued(6000), queued(8000)])
    assert (k.status, k.knee_rate) == ("found", 4000)


def test_a_starved_load_is_never_the_servers_knee() -> None:
    k = judge([ok(2000), ok(4000), queued(6000, starved=0.3), queued(8000, starved=0.3)])
    assert k.status == "load_bound" and k.knee_rate is None
    assert "waited 30% of the step for a CPU" in k.note


def test_a_busy_load_is_its_own_ceiling_not_the_servers() -> None:
    k = judge([ok(2000), ok(4000), queued(6000, busy=0.9), queued(8000, busy=0.9)])
    assert k.status == "load_bound" and "it was 90% busy" in k.note
    # at the thresholds exactly: starved 0.2 and busy 0.85 count as the load's
    assert judge([ok(2000), queued(4000, starved=0.2), queued(6000)]).status == "load_bound"
    assert judge([ok(2000), queued(4000, busy=0.85), queued(6000)]).status == "load_bound"
    assert judge([ok(2000), queued(4000, starved=0.199, busy=0.849), queued(6000)]).status == "found"


# -- repeated runs of one rate: majority, confirmation -------------------------------------------


def slow(rate: float, cpu: float = 0.245) -> Step:
    """Kept up, p99 over the SLO, server saturated: a run that fails at the edge."""
    return Step(rate, rate, 300.0, cpu)


def judge3(steps: list[Step]):  # type: ignore[no-untyped-def]
    return judge_knee(steps, slo_p99_ms=SLO, cpu_cap_cores=CAP, confirm_runs=3)


def test_a_rate_passes_by_majority_of_its_runs_and_a_tie_fails() -> None:
    two_of_three = [ok(2000), ok(4000), slow(4000), ok(4000), slow(6000), slow(8000)]
    k = judge3(two_of_three)
    assert (k.status, k.knee_rate) == ("found", 4000)
    v = k.verdicts[1]
    assert (v["runs"], v["passes"], v["pass"]) == (3, 2, True) and v["why"][0] == "2 of 3 runs passed"
    # a tie (1 of 2) fails: the knee falls to the rate below
    tie = judge3([ok(2000), ok(4000), slow(4000), slow(6000), slow(8000)])
    assert (tie.status, tie.knee_rate) == ("found", 2000)
    # one pass among three runs is not the knee, whichever run came first
    lucky = judge3([ok(2000), ok(4000, cpu=0.24), slow(4000), slow(4000), slow(6000)])
    assert lucky.knee_rate == 2000


def test_one_lucky_run_above_a_real_failure_is_not_a_confirmed_knee() -> None:
    # the fooling series of the transient rule: 10k fails, 11k passes once by luck, 12k fails
    once = judge3([ok(8000), slow(10000), ok(11000, cpu=0.24), slow(12000), slow(13000)])
    assert (once.status, once.knee_rate) == ("found", 11000)
    assert once.confirmed is False
    assert {u["offered"]: u["missing"] for u in once.unconfirmed} == {11000: 2, 10000: 2, 12000: 2}
    # the repeats the search then runs: 10k fails again, 11k fails twice -> knee at 8k
    repeated = [
        *[ok(8000)] * 3,
        *[slow(10000)] * 3,
        ok(11000, cpu=0.24),
        slow(11000),
        slow(11000),
        slow(12000),
    ]
    k = judge3(repeated)
    assert (k.status, k.knee_rate) == ("found", 8000) and k.confirmed  # 10k failed 3 of 3 above it
    # a failure that repeats as a pass (2 of 3) above which the next rate passes 3 of 3: transient
    noisy = [
        ok(8000),
        slow(10000),
        ok(10000),
        ok(10000),
        *[ok(11000, cpu=0.24)] * 3,
        *[slow(12000)] * 3,
        slow(13000),
    ]
    k = judge3(noisy)
    assert (k.status, k.knee_rate, k.confirmed, k.transient) == ("found", 11000, True, [])


def test_one_unlucky_run_just_above_the_knee_does_not_cap_it() -> None:
    # the series that held a knee low: 23.2k failed once (p99 175 ms), 24k failed, the knee's rate
    # 22.4k had its three runs; the single failure above was trusted where the pass was not
    once = judge3([ok(20800), *[ok(22400, cpu=0.23)] * 3, slow(23200), slow(24000)])
    assert (once.knee_rate, once.confirmed) == (22400, False)
    assert once.unconfirmed == [{"offered": 23200, "missing": 2}]
    # repeated: 23.2k passes 2 of 3, so it is the knee, and 24k above it now needs its runs
    again = judge3([ok(20800), *[ok(22400, cpu=0.23)] * 3, slow(23200), ok(23200, cpu=0.24),
                    ok(23200, cpu=0.24), slow(24000)])  # fmt: skip
    assert (again.knee_rate, again.confirmed) == (23200, False)
    assert again.unconfirmed == [{"offered": 24000, "missing": 2}]
    # and a failure that repeats as a failure (1 of 3) keeps the knee where it was, confirmed
    held = judge3([ok(20800), *[ok(22400, cpu=0.23)] * 3, slow(23200), ok(23200, cpu=0.24),
                   slow(23200), slow(24000)])  # fmt: skip
    assert (held.knee_rate, held.confirmed) == (22400, True)


def test_a_transient_failure_confirmed_by_repeats_stays_listed() -> None:
    series = [ok(8000), *[slow(10000)] * 3, *[ok(11000, cpu=0.24)] * 3, *[slow(12000)] * 3, slow(13000)]
    k = judge3(series)
    assert (k.status, k.knee_rate, k.confirmed) == ("found", 11000, True)
    assert [t["offered"] for t in k.transient] == [10000] and k.transient[0]["runs"] == 3


def test_the_knee_achieved_is_the_median_of_its_passing_runs() -> None:
    runs = [Step(4000, a, 5.0, 0.1) for a in (3990, 3700, 3995)] + [slow(6000), slow(8000)]
    k = judge3(runs)  # 3700 < 0.95 x 4000 fails; the other two pass
    assert (k.knee_rate, k.knee_achieved) == (4000, 3992.5)


def test_confirmation_is_saved_with_the_judgement() -> None:
    d = judge3([ok(2000), slow(4000), slow(6000)]).to_dict()
    assert d["confirmed"] is False and d["confirm_runs"] == 3
    assert d["unconfirmed"] == [{"offered": 2000, "missing": 2}, {"offered": 4000, "missing": 2}]
    assert judge([ok(2000), slow(4000), slow(6000)]).to_dict()["confirmed"] is True  # 1 run asked


def test_throttled_seconds_read_from_either_cgroup_version(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from harness.topology.cgroups import throttled_s

    v2, v1 = tmp_path / "v2", tmp_path / "v1"
    v2.mkdir(), v1.mkdir()
    (v2 / "cpu.stat").write_text("usage_usec 900\nnr_throttled 3\nthrottled_usec 1500000\n")
    (v1 / "cpu.stat").write_text("nr_periods 10\nnr_throttled 3\nthrottled_time 2500000000\n")
    assert (throttled_s(str(v2)), throttled_s(str(v1))) == (1.5, 2.5)
    assert throttled_s(str(tmp_path / "gone")) == 0.0  # a group already removed: nothing held
