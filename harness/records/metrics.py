"""``metrics.json``: per variant, the figures targets are judged on."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from harness.records.base import Number, Record


class MasterLoad(Record):
    node: str | None = None
    ops: int | None = None
    ops_per_s: Number | None = None
    share: Number | None = None
    cpu_cores: Number | None = None


class Percentiles(Record):
    """A latency group's event latencies, ms (``latency_ms.<group>``)."""

    count: int | None = None
    p50: Number | None = None
    p99: Number | None = None
    p999: Number | None = None
    max: Number | None = None


class OpPercentiles(Record):
    """An op type's HdrHistogram summary, ms (``latency_by_op.<op>``)."""

    count: int | None = None
    p50: Number | None = None
    p90: Number | None = None
    p99: Number | None = None
    p999: Number | None = None
    max: Number | None = None


class Outcomes(Record):
    # A driver may count other outcomes: they are kept, and they are counts.
    __pydantic_extra__: dict[str, int] = Field(init=False)

    ok: int | None = None
    fail: int | None = None
    info: int | None = None
    rate_limited: int | None = None
    unsent: int | None = None
    expire_errors: int | None = None
    final_read_failures: int | None = None


class DriverFigures(Record):
    max_lag_ms: Number | None = None
    batches: int | None = None
    elapsed_s: Number | None = None
    settle_s: Number | None = None


class Timeseries(Record):
    t_s: list[Number | None] = Field(default_factory=list)
    offered_ops_per_s: list[Number | None] = Field(default_factory=list)
    achieved_ops_per_s: list[Number | None] = Field(default_factory=list)
    per_master_ops_per_s: dict[str, list[Number | None]] = Field(default_factory=dict)


class ReadFigures(Record):
    offered: int | None = None
    by_kind: dict[str, int] = Field(default_factory=dict)
    not_ok: int | None = None
    max_lag_ms: Number | None = None
    mongo_dropped: int | None = None
    redis_dropped: int | None = None


class CacheFigures(Record):
    """The dashboard cache (``workload.cache``): loads of its origin, grouped per expiry."""

    variant: str | None = None
    origin: str | None = None  # 'redis' or 'mongodb (<server> <version>)': what a load queried
    reader_loads: int | None = None
    refresher_loads: int | None = None
    misses: int | None = None
    lock_timeouts: int | None = None
    early: int | None = None
    expiries: int | None = None  # bursts of loads: one per fill of an empty (or due) key
    loads_per_expiry_mean: Number | None = None  # origin queries per expiry
    max_stampede: int | None = None  # the largest burst


class SessionFigures(Record):
    offered: int | None = None
    due: int | None = None
    sent: int | None = None
    unsent: int | None = None
    admitted: int | None = None
    rate_limited: int | None = None
    outcomes: dict[str, int] = Field(default_factory=dict)
    expire_errors: int | None = None
    max_lag_s: Number | None = None
    elapsed_s: Number | None = None
    batches: int | None = None
    store: str | None = None  # redis | fallback


class QueueFigures(Record):
    offered: int | None = None
    completed: int | None = None
    shed: int | None = None
    expired: int | None = None
    crashed: int | None = None
    max_depth: int | None = None
    blocked_s: Number | None = None
    depth_series: list[tuple[Number, Number]] = Field(default_factory=list)  # (s from start, depth)
    unsent: int | None = None


class IngestFigures(Record):
    batches: int | None = None
    events: int | None = None
    attempts: int | None = None
    outcomes: dict[str, int] = Field(default_factory=dict)  # per attempt
    details: dict[str, Any] = Field(default_factory=dict)
    final: dict[str, int] = Field(default_factory=dict)  # per event, after resends


class MongoFigures(Record):
    ingest: IngestFigures | None = None
    audit_waits: int | None = None
    errors: list[str] = Field(default_factory=list)
    audit: dict[str, Any] | None = None  # the audit chain's own counters
    chunks: dict[str, dict[str, int]] = Field(default_factory=dict)  # namespace -> shard -> chunks


class TenantReadFigures(Record):
    """The tenant_reads workload's reads (:mod:`harness.workload.redis_plane.fanout`)."""

    layout: str | None = None
    reads: int | None = None
    not_ok: int | None = None
    dropped: int | None = None
    nodes_per_read_mean: Number | None = None
    nodes_per_read_max: int | None = None
    slow_ms: Number | None = None
    slow_share: Number | None = None
    read_latency_ms: dict[str, Number | None] = Field(default_factory=dict)


class GrowthFigures(Record):
    """The growth workload's storage over time (:mod:`harness.workload.redis_plane.growth`)."""

    expire: bool | None = None
    retention_ms: int | None = None
    stored: int | None = None
    oom_refusals: int | None = None
    series: list[tuple[float, int, int]] = Field(default_factory=list)  # (s, used_memory, keys)
    bytes_per_key: Number | None = None
    slope_bytes_per_s_second_half: Number | None = None


class StorageFigures(Record):
    """The mongo_growth workload's storage over time (:mod:`harness.workload.mongo_plane.growth`)."""

    retention: str | None = None
    retention_ms: int | None = None
    stored: int | None = None
    cleanup_deleted: int | None = None
    # (s, documents, data bytes, storage bytes, index bytes, oldest document's age in ms)
    series: list[tuple[float, int, int, int, int, float | None]] = Field(default_factory=list)
    documents_end: int | None = None
    bytes_per_event: Number | None = None
    slope_docs_per_s_second_half: Number | None = None
    deletion_lag_ms_max: Number | None = None
    capstone_tb_after_18_months: Number | None = None
    capstone_tb_kept_90_days: Number | None = None


class ShardedFigures(Record):
    """The sharded_events workload's figures (:mod:`harness.workload.mongo_plane.sharded_events`):
    what the report reads is typed, the rest (inserts per second, explain's stages...) kept as written."""

    shard_key: dict[str, Any] = Field(default_factory=dict)
    suffixes: dict[str, int] = Field(default_factory=dict)  # hot tenant -> write-sharding suffixes
    chunks: dict[str, int] = Field(default_factory=dict)  # shard -> chunks after presplitting
    inserts_per_shard: dict[str, int | None] = Field(default_factory=dict)
    share_per_shard: dict[str, Number | None] = Field(default_factory=dict)
    busiest_shard: str | None = None
    busiest_share: Number | None = None
    imbalance_ratio: Number | None = None
    unjudged: str | None = None  # why the shares are withheld
    insert_latency_ms: dict[str, Number | None] = Field(default_factory=dict)
    explain: dict[str, Any] | None = None
    reads: dict[str, Any] | None = None


class WorkloadFigures(Record):
    """A workload's own figures (platform, tenant_reads). Only what the report reads is typed; the
    rest (each side schedule's counters) is kept as it was written, and targets may address any of it."""

    reads: ReadFigures | None = None
    errors: list[str] = Field(default_factory=list)
    cache: CacheFigures | None = None
    sessions: SessionFigures | None = None
    profiles: dict[str, Any] | None = None
    not_run: dict[str, str] = Field(default_factory=dict)  # data path -> why
    notes: dict[str, str] = Field(default_factory=dict)
    queue: QueueFigures | None = None
    mongo: MongoFigures | None = None
    tenant_reads: TenantReadFigures | None = None
    growth: GrowthFigures | None = None
    storage: StorageFigures | None = None
    sharded: ShardedFigures | None = None


class RateWindow(Record):
    seconds: Number | None = None
    ops: int | None = None
    ok_per_s: Number | None = None
    p99_ms: Number | None = None


class DuringCounts(Record):
    ok: int | None = None
    fail: int | None = None
    info: int | None = None


class RecoveryFigures(Record):
    """What one fault cost the workload (``harness.metrics.recovery``)."""

    variant: str | None = None
    index: int | None = None
    fault: str | None = None
    target: str | None = None
    applied: Any = None
    apply_delay_ms: Number | None = None
    heal_delay_ms: Number | None = None
    start_ms: Number | None = None
    heal_ms: Number | None = None
    status: str | None = None
    first_ok_after_start_ms: Number | None = None
    first_ok_after_heal_ms: Number | None = None
    errors_until_ms: Number | None = None
    election_ms: Number | None = None  # a stepdown's: the set had no primary this long
    during_counts: DuringCounts | None = None
    before: RateWindow | None = None
    during: RateWindow | None = None
    after: RateWindow | None = None


class FaultFigures(Record):
    """The worst of each per-fault figure (``faults_summary``, and per fault kind below it)."""

    errors_until_ms: Number | None = None
    first_ok_after_heal_ms: Number | None = None
    election_ms: Number | None = None
    apply_delay_ms: Number | None = None
    heal_delay_ms: Number | None = None


#: The per-fault figures :class:`FaultFigures` summarises.
FAULT_FIGURES = tuple(FaultFigures.model_fields)


class FaultsSummary(FaultFigures):
    # Per fault kind (``-`` spelt ``_``), the same figures: ``faults_summary.kill.errors_until_ms``.
    __pydantic_extra__: dict[str, FaultFigures] = Field(init=False)


class HealthyAgain(Record):
    healthy: bool | None = None
    seconds: Number | None = None
    problem: str | None = None


class HdrRecord(Record):
    unit: str | None = None
    window_ns: int | None = None
    origin_ns: int | None = None
    summary: dict[str, OpPercentiles] = Field(default_factory=dict)
    totals: dict[str, str] = Field(default_factory=dict)  # op -> base64 histogram
    windows: dict[str, dict[str, str]] = Field(default_factory=dict)  # op -> window -> base64


class VariantMetrics(Record):
    """One variant's figures in ``metrics.json``; a target's metric is a path into this."""

    per_master: list[MasterLoad] = Field(default_factory=list)
    imbalance_ratio: Number | None = None
    offered_rate: Number | None = None
    achieved_rate: Number | None = None
    throughput_ratio: Number | None = None
    latency_ms: dict[str, Percentiles] = Field(default_factory=dict)  # group (whale, others) -> ms
    outcomes: Outcomes = Field(default_factory=Outcomes)
    driver: DriverFigures | None = None
    timeseries: Timeseries = Field(default_factory=Timeseries)
    workload: WorkloadFigures | None = None  # platform only
    invariants: dict[str, dict[str, Number | None]] = Field(default_factory=dict)  # checker -> numbers
    latency_by_op: dict[str, OpPercentiles] = Field(default_factory=dict)
    hdr: HdrRecord | None = None
    start_ms: Number | None = None  # with a schedule: the variant's start on the run clock
    recovery: list[RecoveryFigures] = Field(default_factory=list)
    faults_summary: FaultsSummary | None = None
    healthy_again: HealthyAgain | None = None


class RunMetrics(Record):
    """``metrics.json``."""

    variants: dict[str, VariantMetrics] = Field(default_factory=dict)

    def lookup(self, path: str) -> float | None:
        """The number at ``<variant>.<path>`` (``before.latency_ms.whale.p99``), or None when the
        run has no such figure or it is not a finite number."""
        variant, _, rest = path.partition(".")
        node: object = self.variants.get(variant)
        for part in rest.split(".") if rest else []:
            node = _child(node, part)
        return _finite(node)


def _child(node: object, key: str) -> object:
    """``node``'s field or kept key ``key`` (a model), its item (a map), else None."""
    if isinstance(node, BaseModel):
        if key in type(node).model_fields:
            return getattr(node, key)
        return (node.model_extra or {}).get(key)
    if isinstance(node, dict):
        return node.get(key)
    return None


def _finite(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or v != v:  # NaN is not a figure
        return None
    return float(v)
