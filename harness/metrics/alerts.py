"""The capstone's Prometheus alert rules (Part XIII, "Monitoring and Alerting Specification") as
data, and a pure evaluator of one rule over a sampled series.

A rule is the measured series, a comparison with a threshold, a ``for:`` duration and a severity.
The evaluator is Prometheus's state machine with two deliberate choices where a sample is missing
(``None``, or two samples further apart than ``max_gap_s``): the condition was not *seen* to hold
throughout, so a pending alert starts over (a gap never completes a ``for:``); and nothing was seen
to recover, so a firing alert stays firing (a gap never resolves one). Prometheus instead drops an
alert whose series vanished, which is how a replica that disconnected would silence its own lag alert.

``for_scale`` shortens every ``for:`` (and a rule's rate window) for a rehearsal of seconds rather
than minutes; the caller shows the factor wherever an alert is shown, never applies it silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Op = Literal[">", "<"]
Sample = tuple[float, float | None]  # (seconds since the start, value or None: not sampled)


@dataclass(frozen=True)
class AlertRule:
    """One rule: ``series op threshold`` held for ``for_s`` (seconds, unscaled) fires it."""

    name: str
    expr: str  # the capstone's PromQL, as written there
    series: str  # what the harness samples for it (see ``harness.rehearsal.sampler``)
    op: Op
    threshold: float
    for_s: float
    severity: str
    window_s: float = 0.0  # the rule's rate()/increase() window, 0 when it has none
    note: str = ""  # how the harness measures it, when that differs from the expression


@dataclass(frozen=True)
class NotEvaluated:
    """A rule whose series the harness cannot measure (here, or at all), with the reason."""

    name: str
    expr: str
    reason: str


RULES: tuple[AlertRule, ...] = (
    AlertRule(
        "MongoDBReplicationLag",
        "mongodb_replset_member_replication_lag_seconds > 10",
        "mongo_repl_lag_s",
        ">",
        10,
        120,
        "warning",
    ),
    AlertRule(
        "MongoDBReplicationLagCritical",
        "mongodb_replset_member_replication_lag_seconds > 60",
        "mongo_repl_lag_s",
        ">",
        60,
        60,
        "critical",
    ),
    AlertRule(
        "RedisMemoryHigh",
        "redis_memory_used_bytes / redis_memory_max_bytes > 0.85",
        "redis_memory_ratio",
        ">",
        0.85,
        300,
        "warning",
        note="INFO memory used_memory / maxmemory per node; no sample when maxmemory is 0 (unlimited)",
    ),
    AlertRule(
        "RedisMemoryCritical",
        "redis_memory_used_bytes / redis_memory_max_bytes > 0.95",
        "redis_memory_ratio",
        ">",
        0.95,
        120,
        "critical",
    ),
    AlertRule(
        "RedisReplicationLag",
        "redis_connected_slave_lag_seconds > 5",
        "redis_replica_lag_s",
        ">",
        5,
        120,
        "warning",
        note="INFO replication of each master: slaveN lag (seconds since that replica's last ACK)",
    ),
    AlertRule(
        "RedisConnectionsHigh",
        "redis_connected_clients > 8000",
        "redis_connected_clients",
        ">",
        8000,
        300,
        "warning",
    ),
    AlertRule(
        "RedisCommandLatencyHigh",
        "rate(redis_commands_duration_seconds_total[5m]) / rate(redis_commands_total[5m]) > 0.01",
        "redis_command_mean_s",
        ">",
        0.01,
        300,
        "warning",
        window_s=300,
        note="INFO commandstats usec / calls over the window, per node",
    ),
    AlertRule(
        "EventIngestionRateDropped",
        "rate(events_ingested_total[5m]) < 50000",
        "ingest_rate_ratio",
        "<",
        0.625,
        300,
        "warning",
        window_s=300,
        note="events acknowledged per second over the window / the rehearsal's offered rate: the "
        "capstone's 50,000 against its expected 80,000/s, 0.625, scaled to this machine's load",
    ),
    AlertRule(
        "QueryLatencyP99High",
        "histogram_quantile(0.99, rate(query_duration_seconds_bucket[5m])) > 0.5",
        "query_p99_s",
        ">",
        0.5,
        600,
        "warning",
        window_s=300,
        note="p99 of the query service's reads (invoke to completion) over the window",
    ),
)

#: Rules of the capstone the harness cannot measure at all, with why.
NEVER_EVALUATED: tuple[NotEvaluated, ...] = (
    NotEvaluated(
        "MongoDBHighQueryTime",
        'rate(mongodb_op_latencies_latency_total{type="query"}[5m]) / rate(...ops_total...) > 100',
        "serverStatus opLatencies is not sampled live by the harness",
    ),
    NotEvaluated(
        "MongoDBConnectionsHigh",
        "mongodb_connections_current / mongodb_connections_available > 0.8",
        "serverStatus connections is not sampled live by the harness",
    ),
    NotEvaluated(
        "MongoDBHotPartition",
        "max(mongodb_chunks_total) by (shard) / avg(mongodb_chunks_total) by (shard) > 2",
        "chunks are presplit once at bring-up and never move during a run (no balancer rounds)",
    ),
    NotEvaluated(
        "MongoDBDiskSpaceWarning",
        "mongodb_dbstats_storage_size / mongodb_dbstats_fs_total_size > 0.75",
        "the run directory's filesystem is shared with everything else on this machine",
    ),
    NotEvaluated(
        "EventProcessingBacklog",
        "kafka_consumer_lag_sum > 1000000",
        "the harness's platform has no Kafka: events are ingested directly",
    ),
    NotEvaluated(
        "TenantRateLimitTriggered",
        "increase(tenant_rate_limit_exceeded_total[5m]) > 100",
        "rejections are counted live in total only, not per tenant (the rule is per tenant)",
    ),
)


def scaled(seconds: float, for_scale: float) -> float:
    """A rule's duration as a rehearsal uses it."""
    return seconds * for_scale


def breached(rule: AlertRule, value: float) -> bool:
    return value > rule.threshold if rule.op == ">" else value < rule.threshold


@dataclass(frozen=True)
class AlertState:
    """Where one alert stands: ``inactive``, ``pending`` since ``since_s``, or ``firing``."""

    status: Literal["inactive", "pending", "firing"] = "inactive"
    since_s: float | None = None  # pending: when the condition was first seen; firing: when it fired
    last_t_s: float | None = None  # the last sample's time (a gap is measured from it)


@dataclass(frozen=True)
class AlertEvent:
    """An alert began firing or resolved at ``t_s`` with the sample's ``value``."""

    rule: str
    instance: str
    kind: Literal["firing", "resolved"]
    t_s: float
    value: float | None


def step(
    rule: AlertRule,
    state: AlertState,
    t_s: float,
    value: float | None,
    for_s: float,
    max_gap_s: float,
    instance: str = "",
) -> tuple[AlertState, AlertEvent | None]:
    """One evaluation: the state after the sample ``(t_s, value)``, and the event it caused."""
    gap = state.last_t_s is not None and t_s - state.last_t_s > max_gap_s
    if value is None:
        # Not seen: a pending alert starts over, a firing one stays (nothing seen to recover).
        if state.status == "pending":
            return AlertState(last_t_s=t_s), None
        return AlertState(state.status, state.since_s, t_s), None
    if not breached(rule, value):
        if state.status == "firing":
            return AlertState(last_t_s=t_s), AlertEvent(rule.name, instance, "resolved", t_s, value)
        return AlertState(last_t_s=t_s), None
    if state.status == "firing":
        return AlertState("firing", state.since_s, t_s), None
    since = t_s if state.status == "inactive" or gap or state.since_s is None else state.since_s
    if t_s - since >= for_s:
        return AlertState("firing", t_s, t_s), AlertEvent(rule.name, instance, "firing", t_s, value)
    return AlertState("pending", since, t_s), None


def evaluate(
    rule: AlertRule, samples: Iterable[Sample], for_s: float, max_gap_s: float, instance: str = ""
) -> tuple[list[AlertEvent], AlertState]:
    """Every firing and resolution of ``rule`` over ``samples`` (in time order), and the state
    at the end."""
    state = AlertState()
    events: list[AlertEvent] = []
    for t_s, value in samples:
        state, event = step(rule, state, t_s, value, for_s, max_gap_s, instance)
        if event is not None:
            events.append(event)
    return events, state


def not_evaluated(measured: Sequence[str], why_not: dict[str, str]) -> list[NotEvaluated]:
    """The rules not evaluated on this run: the ones never measured, and those whose series
    (``why_not``: series -> reason) this topology does not have."""
    out = list(NEVER_EVALUATED)
    for rule in RULES:
        if rule.series not in measured:
            out.append(NotEvaluated(rule.name, rule.expr, why_not.get(rule.series, "not sampled here")))
    return out
