"""Typed models of a run directory's two record files: ``results.json`` (what was run and how it was
judged) and ``metrics.json`` (per variant, the figures targets are judged on).

The files stay what they were: every model keeps unknown keys (``extra="allow"``, so a run written
by an older or newer harness loads and is written back whole), and :meth:`Record.dump` writes only
the keys that were set, so a key the runner leaves out (``workload`` outside the platform, a
target's ``reason``) stays out. Numbers that may be ints on disk are typed ``int | float`` so that
``4000`` is not written back as ``4000.0``.

:func:`salvage` loads a file that may be damaged or hand-edited, as the report must: what does not
fit the model is dropped (and named) instead of failing the whole file.
:func:`metric_path_problem` checks a target's metric path against :class:`VariantMetrics`.

A leaf of the harness: of it, it imports only :mod:`harness.errors`.
"""

from __future__ import annotations

import copy
import json
import types
import typing
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import HarnessError

Number = int | float
R = TypeVar("R", bound="Record")


class Record(BaseModel):
    """A part of a record file: unknown keys are kept, and only the keys set are written."""

    model_config = ConfigDict(extra="allow")

    def dump(self) -> dict[str, Any]:
        """The JSON object as the runner writes it (python values; ``json.dumps`` does the rest)."""
        return self.model_dump(mode="python", exclude_unset=True)


# ----------------------------------------------------------------------------------- results.json
class Capacity(Record):
    cpu_limit: Number | None = None
    applied: bool | None = None
    reason: str | None = None


class NodeInfo(Record):
    name: str | None = None
    role: str | None = None
    replica_of: str | None = None
    address: str | None = None
    proxy: str | None = None
    bus_proxy: str | None = None
    netns: str | None = None
    pid: int | None = None


class Substrate(Record):
    backend: str | None = None
    topology: str | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    hosts: str | None = None
    partitions_supported: bool | None = None
    nodes: list[NodeInfo] = Field(default_factory=list)
    up_seconds: Number | None = None
    capacity: Capacity | None = None
    mongodb: str | None = None  # the server the MongoDB plane ran on, in one line


class Plane(Record):
    """A plane of the platform (redis, mongodb): whether it ran, and on what."""

    status: str | None = None  # ran | not_run
    reason: str | None = None
    server: str | None = None
    substrate: str | None = None
    lacks: dict[str, str] = Field(default_factory=dict)  # feature -> what the server did instead
    left_out: list[str] = Field(default_factory=list)
    note: str | None = None


class VariantResult(Record):
    name: str | None = None
    description: str | None = None
    offered_rate: Number | None = None
    duration_s: Number | None = None
    events_offered: int | None = None
    events_sent: int | None = None
    achieved_rate: Number | None = None
    whale_shards: int | None = None


class Invariant(Record):
    """One checker's verdict on one variant."""

    variant: str | None = None
    name: str | None = None
    status: str | None = None  # valid | invalid | unknown | not_run
    violations: int | None = None
    summary: str | None = None
    examples: list[dict[str, Any]] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)  # the checker's own totals: open
    expected: str | None = None  # "invalid": the variant is meant to show this anomaly


class TargetResult(Record):
    name: str | None = None
    description: str | None = None
    metric: str | None = None
    value: Number | None = None
    op: str | None = None
    threshold: Number | None = None
    threshold_from: str | None = None
    status: str | None = None  # pass | fail | unknown | not_run
    reason: str | None = None  # why not judged (not_run)


class FaultRecord(Record):
    """A planned fault and what the nemesis did with it."""

    variant: str | None = None
    index: int | None = None
    at_s: Number | None = None
    duration_s: Number | None = None
    fault: str | None = None
    target: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    origin: str | None = None
    status: str | None = None
    reason: str | None = None
    applied: dict[str, Any] | None = None  # each fault kind's own account: open
    healed: dict[str, Any] | None = None
    start_delay_ms: Number | None = None
    heal_delay_ms: Number | None = None


class RunOptionsRecord(Record):
    duration_s: Number | None = None
    rate: Number | None = None
    profile: dict[str, Any] = Field(default_factory=dict)
    hosts: str | None = None


class Checking(Record):
    """What re-judging a run needs beyond its files (``harness check``)."""

    checkers: list[str] = Field(default_factory=list)
    checker_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    targets: list[dict[str, Any]] = Field(default_factory=list)  # TargetSpec dumps, validated by judge
    expect_invalid: dict[str, list[str]] = Field(default_factory=dict)
    needs_plane: dict[str, dict[str, str]] = Field(default_factory=dict)


class RunResults(Record):
    """``results.json``."""

    scenario: str | None = None
    scenario_file: str | None = None
    title: str | None = None
    description: str | None = None
    case_study: str | None = None
    run_id: str | None = None
    seed: int | None = None
    started_at: str | None = None
    verdict: str | None = None  # pass | fail | error
    verdict_reason: str | None = None
    error: str | None = None
    substrate: Substrate = Field(default_factory=Substrate)
    planes: dict[str, Plane] = Field(default_factory=dict)
    variants: list[VariantResult] = Field(default_factory=list)
    invariants: list[Invariant] = Field(default_factory=list)
    targets: list[TargetResult] = Field(default_factory=list)
    faults: list[FaultRecord] = Field(default_factory=list)
    options: RunOptionsRecord | None = None
    reproduce: str | None = None
    checking: Checking | None = None
    finished_at: str | None = None
    duration_s: Number | None = None
    check_notes: list[str] = Field(default_factory=list)
    rechecked_at: str | None = None


# ----------------------------------------------------------------------------------- metrics.json
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


class CacheFigures(Record):
    variant: str | None = None
    reader_loads: int | None = None
    refresher_loads: int | None = None
    misses: int | None = None
    lock_timeouts: int | None = None
    early: int | None = None
    max_stampede: int | None = None


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


class WorkloadFigures(Record):
    """The platform workload's own figures. Only what the report reads is typed; the rest (each
    side schedule's counters) is kept as it was written, and targets may address any of it."""

    reads: ReadFigures | None = None
    errors: list[str] = Field(default_factory=list)
    cache: CacheFigures | None = None
    sessions: SessionFigures | None = None
    profiles: dict[str, Any] | None = None
    not_run: dict[str, str] = Field(default_factory=dict)  # data path -> why
    notes: dict[str, str] = Field(default_factory=dict)
    queue: QueueFigures | None = None
    mongo: MongoFigures | None = None


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
    during_counts: DuringCounts | None = None
    before: RateWindow | None = None
    during: RateWindow | None = None
    after: RateWindow | None = None


class FaultFigures(Record):
    """The worst of each per-fault figure (``faults_summary``, and per fault kind below it)."""

    errors_until_ms: Number | None = None
    first_ok_after_heal_ms: Number | None = None
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


# ------------------------------------------------------------------------------ loading leniently
class _Gone:
    """Marks a part of a file that did not fit its model, to be taken out."""


_GONE = _Gone()


def salvage(model: type[R], data: object) -> tuple[R, list[str]]:
    """``data`` as ``model``, keeping all that fits: each part that does not (a string where a
    number belongs, a list where a map does) is dropped, so its default shows, and its place is
    named in the list returned. For the report, which must render a damaged run too."""
    if not isinstance(data, dict):
        return model(), ["(the whole file: not a JSON object)"]
    data = copy.deepcopy(data)
    dropped: list[str] = []
    while True:  # each round drops at least one part, so this ends
        try:
            return model.model_validate(data), dropped
        except ValidationError as exc:
            places = {_mark_point(data, e["loc"]) for e in exc.errors()}
            if () in places:
                return model(), [*dropped, "(the whole file)"]
            for place in places:
                _mark(data, place)
                dropped.append(".".join(str(p) for p in place))
            data = _purge(data)


def _mark_point(data: object, loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """The longest prefix of an error's ``loc`` that is a real place in ``data`` (the rest can be a
    union member's name or a key that is missing)."""
    node, real = data, 0
    for part in loc:
        inside_map = isinstance(node, dict) and part in node
        inside_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (inside_map or inside_list):
            break
        node = node[part]  # type: ignore[index]
        real += 1
    return tuple(loc[:real])


def _mark(data: Any, place: tuple[int | str, ...]) -> None:
    node = data
    for part in place[:-1]:
        node = node[part]
    node[place[-1]] = _GONE


def _purge(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _purge(v) for k, v in node.items() if v is not _GONE}
    if isinstance(node, list):
        return [_purge(v) for v in node if v is not _GONE]
    return node


def load_record(path: Path, model: type[R], what: str) -> R:
    """``path`` as ``model``, strictly: a missing, unreadable or ill-fitting file raises a
    :class:`HarnessError` naming the file (and the field), then ``what`` to do about it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise HarnessError(f"{path}: not found; {what}") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HarnessError(f"{path}: unreadable ({exc}); {what}") from exc
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: not a JSON object; {what}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in _mark_point(data, first["loc"])) or "-"  # no union member names
        raise HarnessError(f"{path}: field '{where}': {first['msg']}; {what}") from exc


def write_record(path: Path, record: Record) -> None:
    """Writes ``record`` as the runner always wrote its files (indent 1; odd values as strings)."""
    path.write_text(json.dumps(record.dump(), indent=1, default=str))


# ---------------------------------------------------------------------------- target metric paths
@dataclass(frozen=True)
class KeyRule:
    """The keys a map (or a model's kept keys) of :class:`VariantMetrics` has in one scenario."""

    keys: frozenset[str]
    what: str  # where they come from, for the error message


@dataclass(frozen=True)
class MetricKeys:
    """What one scenario's ``metrics.json`` holds beyond the model's fixed fields. Places are
    written with ``*`` for a key of a map (``invariants.*``)."""

    rules: Mapping[str, KeyRule]  # place -> the keys it has (a place without a rule: any key)
    free: Collection[str] = ()  # places below which anything goes (the platform's workload)
    absent: Mapping[str, str] = dataclass_field(default_factory=dict)  # place -> why it is never written


def _options(tp: Any) -> Any:
    """``X | None`` as ``X``; ``int | float`` as itself."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else typing.Union[tuple(args)]  # noqa: UP007
    return tp


def _is_number(tp: Any) -> bool:
    args = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
    return bool(args) and all(a in (int, float) for a in args)


def _kept_type(model: type[BaseModel]) -> Any:
    """The type of a model's kept keys when it names one (``__pydantic_extra__``), else None."""
    hint = typing.get_type_hints(model, globals()).get("__pydantic_extra__")
    args = typing.get_args(hint)
    return args[1] if len(args) == 2 else None


def metric_path_problem(path: str, variants: Sequence[str], known: MetricKeys) -> str | None:
    """What is wrong with a target's ``<variant>.<path>`` for a scenario, or None: the variant must
    be one of ``variants``, and the path must lead through :class:`VariantMetrics` to a number."""
    variant, _, rest = path.partition(".")
    if variant not in variants:
        return f"'{variant}' names no variant; use one of {', '.join(variants)}"
    tp: Any = VariantMetrics
    place: list[str] = []  # the path so far, a map's keys as '*'
    shown: list[str] = [variant]
    for part in rest.split("."):
        here = ".".join(place)
        if here in known.free or tp is Any:
            return None
        tp = _options(tp)
        rule = known.rules.get(here)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = list(tp.model_fields)
            kept = _kept_type(tp)
            if part in fields:
                name = ".".join([*place, part])
                if name in known.absent:
                    return f"'{'.'.join([*shown, part])}': {known.absent[name]}"
                tp, place = tp.model_fields[part].annotation, [*place, part]
            elif kept is not None and rule is not None and part in rule.keys:
                tp, place = kept, [*place, "*"]
            else:
                others = fields + (sorted(rule.keys) if kept is not None and rule is not None else [])
                return f"'{'.'.join(shown)}' has no '{part}'; use one of {', '.join(others)}"
        elif typing.get_origin(tp) is dict:
            if rule is not None and part not in rule.keys:
                have = ", ".join(sorted(rule.keys)) or "none"
                return f"'{'.'.join(shown)}' has no '{part}' in this scenario ({rule.what}: {have})"
            tp, place = typing.get_args(tp)[1], [*place, "*"]
        elif typing.get_origin(tp) is list:
            return f"'{'.'.join(shown)}' is a list: a target can address only named figures"
        else:
            return f"'{'.'.join(shown)}' is a single figure: nothing is below it"
        shown.append(part)
    last = _options(tp)
    if ".".join(place) in known.free or last is Any or _is_number(last):
        return None
    if (isinstance(last, type) and issubclass(last, BaseModel)) or typing.get_origin(last) in (dict, list):
        return f"'{path}' is a group of figures, not one: name one below it"
    return f"'{path}' is not a number (a {getattr(last, '__name__', last)}): a target compares numbers"
