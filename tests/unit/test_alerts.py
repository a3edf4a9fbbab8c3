"""The alert evaluator is a checker: the series that would fool a careless one."""

from __future__ import annotations

from harness.metrics.alerts import NEVER_EVALUATED, RULES, AlertRule, evaluate, not_evaluated

LAG = AlertRule("RedisReplicationLag", "lag > 5", "redis_replica_lag_s", ">", 5, 120, "warning")
LOW = AlertRule("RateDropped", "rate < 10", "rate", "<", 10, 4, "warning")


def series(
    values: list[float | None], start: float = 0.0, step: float = 1.0
) -> list[tuple[float, float | None]]:
    return [(start + i * step, v) for i, v in enumerate(values)]


def kinds(events: list) -> list[tuple[str, float]]:  # type: ignore[type-arg]
    return [(e.kind, e.t_s) for e in events]


def test_condition_held_for_the_whole_for_duration_fires_once() -> None:
    events, state = evaluate(LAG, series([0, 6, 7, 8, 9, 10, 11]), for_s=4, max_gap_s=2)
    assert kinds(events) == [("firing", 5.0)]  # breached from t=1, 4 s later
    assert state.status == "firing"


def test_a_spike_shorter_than_for_never_fires() -> None:
    events, state = evaluate(LAG, series([0, 50, 50, 50, 0, 0]), for_s=4, max_gap_s=2)
    assert events == []
    assert state.status == "inactive"


def test_a_series_flapping_across_the_threshold_never_fires() -> None:
    # Above for 3 s, below once, above again for 3 s: never 4 s in a row.
    values: list[float | None] = [6, 6, 6, 6, 4, 6, 6, 6, 6, 4, 6, 6, 6, 6]
    events, _ = evaluate(LAG, series(values), for_s=4, max_gap_s=2)
    assert events == []


def test_a_missing_sample_restarts_pending() -> None:
    # 6 s above with one sample missing in the middle: never seen above for 4 s throughout.
    events, state = evaluate(LAG, series([6, 6, 6, None, 6, 6, 6]), for_s=4, max_gap_s=2)
    assert events == []
    assert state.status == "pending"


def test_a_gap_between_samples_restarts_pending() -> None:
    samples = [(0.0, 6.0), (1.0, 6.0), (10.0, 6.0), (11.0, 6.0)]
    events, _ = evaluate(LAG, samples, for_s=4, max_gap_s=2)
    assert events == []


def test_a_missing_sample_does_not_resolve_a_firing_alert() -> None:
    events, state = evaluate(LAG, series([6, 6, 6, None, None, 6]), for_s=1, max_gap_s=2)
    assert kinds(events) == [("firing", 1.0)]
    assert state.status == "firing"


def test_recovery_then_refire_is_two_firings_and_a_resolution() -> None:
    values: list[float | None] = [6, 6, 6, 0, 0, 6, 6, 6, 6]
    events, state = evaluate(LAG, series(values), for_s=2, max_gap_s=2)
    assert kinds(events) == [("firing", 2.0), ("resolved", 3.0), ("firing", 7.0)]
    assert state.status == "firing"


def test_below_threshold_rules_and_a_zero_for_fire_at_once() -> None:
    events, _ = evaluate(LOW, series([20, 5, 20]), for_s=0, max_gap_s=2)
    assert kinds(events) == [("firing", 1.0), ("resolved", 2.0)]


def test_the_threshold_itself_is_not_a_breach() -> None:
    events, _ = evaluate(LAG, series([5, 5, 5, 5, 5]), for_s=0, max_gap_s=2)
    assert events == []


def test_rules_are_the_capstones_and_unmeasured_ones_carry_a_reason() -> None:
    names = {r.name for r in RULES} | {n.name for n in NEVER_EVALUATED}
    assert {
        "MongoDBReplicationLag",
        "RedisReplicationLag",
        "QueryLatencyP99High",
        "EventProcessingBacklog",
    } <= names
    lag = next(r for r in RULES if r.name == "RedisReplicationLag")
    assert (lag.threshold, lag.for_s, lag.severity) == (5, 120, "warning")
    left = not_evaluated(["redis_replica_lag_s"], {"mongo_repl_lag_s": "no MongoDB plane"})
    by_name = {n.name: n.reason for n in left}
    assert "RedisReplicationLag" not in by_name
    assert by_name["MongoDBReplicationLag"] == "no MongoDB plane"
    assert all(reason for reason in by_name.values())
