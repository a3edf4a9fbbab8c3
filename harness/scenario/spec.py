"""Typed model of ``scenarios/*.yaml``, validated whole before anything starts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from harness.checkers import CHECKERS, build_checkers, expectation_problem
from harness.errors import HarnessError, SpecError
from harness.faults.nemesis import build_fault  # the package __init__ registers every fault kind
from harness.faults.schedule import ScheduleSpec
from harness.records import KeyRule, MetricKeys, metric_path_problem
from harness.scenario.planes import MONGO_RYW_MODES, requirement_problem
from harness.scenario.spec_sharded import spec_errors, topology_problems, variant_problems
from harness.scenario.spec_workload import Strict, WorkloadSpec
from harness.specload import load_yaml_model, names_in, resolve_spec
from harness.topology.spec import load_topology

SCENARIO_DIR = Path(__file__).resolve().parent.parent.parent / "scenarios"
#: ``scenarios/suites.yaml`` names suites of scenarios for ``harness nightly``: not a scenario itself.
SUITES_FILE = "suites"
KNOWN_CHECKERS = tuple(sorted(CHECKERS))
#: The workload kinds whose summary is written to metrics.json (``workload``), for target paths.
KINDS_WITH_FIGURES = ("platform", "tenant_reads", "growth", "mongo_growth", "sharded_events")
# A target's metric is a path into metrics.json's per-variant data: <variant>.<dotted path>.
METRIC_PATH = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z0-9_]+)+$")


class WriteConcernModel(Strict):
    w: int | Literal["majority"] = 1
    j: bool | None = None
    wtimeout_ms: int | None = Field(default=None, ge=0)

    @field_validator("w")
    @classmethod
    def _acknowledged(cls, w: int | str) -> int | str:
        if isinstance(w, int) and w == 0:
            raise ValueError(
                "w: 0 asks for unacknowledged writes: the server sends no reply, so no insert can be "
                "judged stored or lost; use w: 1 (or more, or 'majority')"
            )
        if isinstance(w, int) and w < 0:
            raise ValueError(f"w: {w} is not a write concern; use w: 1 (or more, or 'majority')")
        return w


class QueueModel(Strict):
    """The platform's bounded ingest queue: when it is full, ``shed`` refuses events (each recorded
    ``rejected: backpressure``) and ``block`` makes the producer wait."""

    capacity: int = Field(ge=1, le=10_000_000, description="events")
    mode: Literal["shed", "block"] = "shed"


class VariantSpec(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    description: str
    whale_shards: int = Field(default=1, ge=1, le=1024)
    wait_replicas: int = Field(
        default=0, ge=0, le=16, description="increments: WAIT for this many replicas after each write batch"
    )
    wait_timeout_ms: int = Field(
        default=100,
        ge=0,
        le=60_000,
        description="the WAIT's timeout: increments after each batch, platform's replica_after_wait reads",
    )
    retries: int = Field(default=0, ge=0, le=10, description="increments: resend a failed/unknown INCR")
    retry_backoff_ms: int = Field(default=50, ge=0, le=10_000)
    redis_settings: dict[str, str | int | bool] = Field(
        default_factory=dict,
        description="CONFIG SET on every Redis node for this variant (put back afterwards)",
    )
    cache: Literal["cache_aside", "mutex", "early_expiration", "background_refresh"] = Field(
        default="cache_aside", description="platform: the dashboard cache's variant (cache-stampede study)"
    )
    ryw_mode: Literal[
        "master", "replica", "replica_after_wait", "secondary", "primary", "causal", "write_through"
    ] = Field(
        default="master",
        description="platform: where a user's read after their own write goes. Redis plane: master, "
        "replica, replica_after_wait (a Redis profile hash); MongoDB plane (platform only): secondary "
        "(w:1, secondaryPreferred: the stale-read bug), primary (w:majority, primary reads), causal (a "
        "causally consistent session per user), write_through (w:majority plus a Redis cache entry)",
    )
    expire: bool = Field(
        default=True,
        description="growth: each event's key gets its retention as a TTL (false: never deleted)",
    )
    mongo_retention: Literal["none", "ttl_index", "batched_cleanup"] = Field(
        default="none",
        description="mongo_growth: how expired events are removed: none (never: the case study's bug), "
        "ttl_index (a TTL index on created_at, the server's TTL monitor) or batched_cleanup (a job "
        "deleting what is past its retention in batches)",
    )
    key_layout: Literal["tagged", "spread"] = Field(
        default="tagged",
        description="tenant_reads: a tenant's bucket keys under one hash tag (one node per read) or "
        "spread over the cluster (a scatter-gather per read)",
    )
    shard_key: dict[str, Literal[1, "hashed"]] | None = Field(
        default=None,
        description="sharded_events: the events collection's shard key for this variant (dropped and "
        "created again with it before the load, its initial chunks made by zones when it is ranged on "
        "tenant_id); shard_suffix in it is the hot tenant's write-sharding suffix over whale_shards values",
    )
    session_store: Literal["redis", "fallback"] = Field(
        default="redis",
        description="platform: the session store: redis (hashes with a sliding TTL) or fallback "
        "(Redis plus a MongoDB copy with a TTL index, reloaded from MongoDB on a Redis miss)",
    )
    write_concern: WriteConcernModel = Field(
        default_factory=WriteConcernModel, description="platform: the events' insert_many write concern"
    )
    queue: QueueModel | None = Field(default=None, description="platform: a bounded ingest queue")
    idempotency_index: bool = Field(
        default=True,
        description="platform: the events' unique idempotency index; false drops it (the "
        "missing-idempotency-key mistake: a resend after an unknown outcome stores a second copy)",
    )
    read_pref: str = Field(
        default="primary",
        pattern=r"^(primary|primaryPreferred|secondary|secondaryPreferred|nearest)$",
        description="platform: the MongoDB queries' read preference",
    )
    expect_invalid: list[str] = Field(
        default_factory=list,
        description="checkers this variant is meant to violate (the case study's failure), each "
        "'checker' (any violation of it is the expected anomaly) or 'checker:kind' (only that anomaly "
        "kind; repeat the entry for several): the run passes when they are invalid with only the kinds "
        "named, and fails when they are valid, unknown, or invalid with another kind",
    )


class TargetSpec(Strict):
    name: str
    description: str = ""
    metric: str
    op: Literal["<", "<=", ">", ">=", "=="]
    threshold: float | None = None
    ref: str | None = Field(default=None, description="compare against another metric instead")
    factor: float = 1.0
    measured_through: str | None = Field(
        default=None,
        pattern=r"^mongodb:[a-z_]+$",
        description=(
            "<plane>:<feature> the measurement passes through: not judged when that plane ran on a "
            "server lacking the feature (mongodb:mongodb_server: timings through FerretDB are "
            "FerretDB's, not MongoDB's); judged as usual when that plane did not run at all"
        ),
    )

    @model_validator(mode="after")
    def _one_of(self) -> TargetSpec:
        if (self.threshold is None) == (self.ref is None):
            raise ValueError(f"target '{self.name}': give exactly one of threshold or ref")
        for path in (self.metric, self.ref):
            if path is not None and not METRIC_PATH.match(path):
                raise ValueError(f"target '{self.name}': '{path}' is not <variant>.<metric path>")
        return self


class ScenarioSpec(Strict):
    name: str
    title: str
    description: str
    case_study: str = ""
    topology: str
    seed: int = 1
    node_cpu_limit: float | None = Field(
        default=None, gt=0, le=64, description="cores each database node may use (overrides the topology)"
    )
    workload: WorkloadSpec
    variants: list[VariantSpec] = Field(min_length=1)
    checkers: list[str] = Field(description="checker names (harness.checkers.CHECKERS), applied per variant")
    checker_params: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="keyword parameters per checker name"
    )
    targets: list[TargetSpec] = Field(default_factory=list)
    checker_needs: dict[str, str] = Field(
        default_factory=dict,
        description="checker -> the plane and server features its evidence needs in this scenario "
        "(mongodb:replication: judged where the MongoDB plane ran with replication, not_run elsewhere)",
    )
    planes: dict[Literal["mongodb"], str] = Field(
        default_factory=dict, description="planes this scenario does not run, with the reason"
    )
    schedule: ScheduleSpec | None = Field(
        default=None, description="faults applied while each variant's workload runs (harness.faults)"
    )

    @field_validator("variants")
    @classmethod
    def _platform_only(cls, variants: list[VariantSpec], info: ValidationInfo) -> list[VariantSpec]:
        """The MongoDB data paths a variant may choose exist in the platform workload only."""
        wl = info.data.get("workload")
        if wl is None or wl.kind == "platform":
            return variants
        for i, v in enumerate(variants):
            if v.ryw_mode in MONGO_RYW_MODES:
                raise ValueError(
                    f"variants.{i}.ryw_mode: '{v.ryw_mode}' is a MongoDB mode; it applies to platform "
                    "workloads only"
                )
            if v.session_store != "redis":
                raise ValueError(f"variants.{i}.session_store: applies to platform workloads only")
            if not v.idempotency_index:
                raise ValueError(f"variants.{i}.idempotency_index: applies to platform workloads only")
        return variants

    @model_validator(mode="after")
    def _shard_keys(self) -> ScenarioSpec:
        """A variant's shard key and whale suffixes fit the workload; raised at the field's place."""
        whale = self.workload.whale.tenant if self.workload.whale is not None else None
        problems = variant_problems(self.workload.kind, self.variants, whale)
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, spec_errors(problems))
        return self

    @model_validator(mode="after")
    def _refs(self) -> ScenarioSpec:
        try:  # builds them once, so an unknown name or parameter fails before anything starts
            build_checkers(self.checkers, self.checker_params)
        except SpecError as exc:
            raise ValueError(f"{exc.field}: {exc.problem}") from exc
        if len(set(self.checkers)) != len(self.checkers):
            raise ValueError(f"checkers: each checker once, got {self.checkers}")
        names = [v.name for v in self.variants]
        for i, v in enumerate(self.variants):
            problem = expectation_problem(v.expect_invalid, self.checkers)
            if problem:
                raise ValueError(f"variants.{i}.expect_invalid: {problem}")
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be unique: {names}")
        for checker, need in self.checker_needs.items():
            problem = None if checker in self.checkers else f"'{checker}' is not in checkers"
            if problem := problem or requirement_problem(need):
                raise ValueError(f"checker_needs.{checker}: {problem}")
        if self.schedule is not None:
            _check_faults(self.schedule)
        self._check_target_paths()
        return self

    def fault_kinds(self) -> set[str]:
        """Every fault kind the schedule may apply."""
        if self.schedule is None:
            return set()
        kinds = {s.fault for s in self.schedule.steps}
        return kinds | ({e.fault for e in self.schedule.random.faults} if self.schedule.random else set())

    def metric_keys(self) -> MetricKeys:
        """What this scenario's metrics.json holds under its maps, for checking target paths."""
        wl = self.workload
        kinds = self.fault_kinds()
        rules = {
            # EventLatencies: the whale's events, and everyone else's as "others".
            "latency_ms": KeyRule(
                frozenset({"others", *(["whale"] if wl.whale else [])}),
                "latency groups: others, and whale when the workload has one",
            ),
            "invariants": KeyRule(
                frozenset(c.replace("-", "_") for c in self.checkers), "its checkers, - as _"
            ),
            "faults_summary": KeyRule(
                frozenset(k.replace("-", "_") for k in kinds), "its fault kinds, - as _"
            ),
        }
        figures = wl.kind in KINDS_WITH_FIGURES
        why_none = f"only {', '.join(KINDS_WITH_FIGURES)} workloads write their own figures"
        absent = {} if figures else {"workload": why_none}
        if self.schedule is None:
            why = "written only for a scenario with a fault schedule"
            absent |= dict.fromkeys(("start_ms", "recovery", "faults_summary", "healthy_again"), why)
        return MetricKeys(rules, free=("workload",) if figures else (), absent=absent)

    def _check_target_paths(self) -> None:
        """Each target's metric (and ref) must lead to a figure metrics.json will hold, so a typo is
        refused now rather than judged unknown after a whole run. Raised with the target's field as
        its place, so the spec error names it."""
        known, names = self.metric_keys(), [v.name for v in self.variants]
        problems = [
            InitErrorDetails(
                type=PydanticCustomError("metric_path", "{problem}", {"problem": problem}),
                loc=("targets", i, key),
                input=path,
            )
            for i, t in enumerate(self.targets)
            for key, path in (("metric", t.metric), ("ref", t.ref))
            if path is not None and (problem := metric_path_problem(path, names, known)) is not None
        ]
        if problems:
            raise ValidationError.from_exception_data(type(self).__name__, problems)


def _check_faults(schedule: ScheduleSpec) -> None:
    """Builds every fault of the schedule once, so an unknown kind or a bad parameter fails before
    anything starts (faults validate their parameters in their constructors)."""
    entries: list[tuple[str, str, str | None, dict[str, Any]]] = [
        (f"schedule.steps.{i}", s.fault, s.target, s.params) for i, s in enumerate(schedule.steps)
    ]
    if schedule.random is not None:
        entries += [
            (f"schedule.random.faults.{i}", e.fault, e.target, e.params)
            for i, e in enumerate(schedule.random.faults)
        ]
    for where, kind, target, params in entries:
        try:
            build_fault(kind, target, params)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {exc}") from exc


def available_scenarios() -> list[str]:
    return [name for name in names_in(SCENARIO_DIR) if name != SUITES_FILE]


def load_scenario(name_or_path: str | Path) -> ScenarioSpec:
    """Loads and validates a scenario and the topology it names, before anything starts."""
    if str(name_or_path) == SUITES_FILE:
        raise HarnessError(
            f"'{SUITES_FILE}' is not a scenario: scenarios/{SUITES_FILE}.yaml lists the suites of "
            "'harness nightly'"
        )
    path = resolve_spec(name_or_path, SCENARIO_DIR, "scenario")
    spec = load_yaml_model(path, ScenarioSpec)
    try:
        topology = load_topology(spec.topology)
    except HarnessError as exc:
        raise SpecError(str(path), "topology", str(exc)) from exc
    for where, problem in topology_problems(spec.workload.kind, spec.variants, topology):
        raise SpecError(str(path), where, problem)
    return spec
