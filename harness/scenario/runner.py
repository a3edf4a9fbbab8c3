"""One run of one scenario: validate, bring the topology up, play each variant, tear down, then
judge and render the report.

Judging streams the saved ``history.jsonl`` through the checkers once per variant
(:func:`harness.scenario.judge.check_variant`) and taps that same pass into the metric folds
(event latency, throughput, recovery, per-op HdrHistograms); ``metrics.json`` also takes what the
run kept in memory (the driver's figures, per-master load samples, the workload's own figures, the
faults' records and whether the topology was healthy again), and the targets are judged over it.
Only ``harness check`` (:func:`harness.scenario.judge.recheck`) judges from the saved files alone.
The report is rendered from the saved files."""

from __future__ import annotations

import contextlib
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import harness
from harness.clients.redis_stats import StatsSampler, snapshot, wait_idle
from harness.clock import RunClock
from harness.errors import HarnessError
from harness.faults.base import Capability, FaultContext, WorkloadControl
from harness.faults.nemesis import Nemesis, wait_for
from harness.faults.schedule import plan
from harness.history.recorder import HistoryRecorder
from harness.metrics.hdr import OpLatencyFold
from harness.metrics.latency import EventLatencies, Throughput, percentiles
from harness.metrics.load import imbalance_ratio, per_master_load
from harness.metrics.recovery import RecoveryFold
from harness.records import (
    FAULT_FIGURES,
    Capacity,
    DriverFigures,
    FaultRecord,
    FaultsSummary,
    HdrRecord,
    HealthyAgain,
    Invariant,
    MasterLoad,
    NodeInfo,
    OpPercentiles,
    Outcomes,
    Percentiles,
    Plane,
    RecoveryFigures,
    RunMetrics,
    RunOptionsRecord,
    RunResults,
    Substrate,
    TargetResult,
    Timeseries,
    VariantMetrics,
    VariantResult,
    WorkloadFigures,
    write_record,
)
from harness.report.render import render_index, render_run
from harness.scenario.context import VariantContext
from harness.scenario.judge import (
    HISTORY,
    check_variant,
    checking_config,
    evaluate_targets,
    mark_expected,
    overall_verdict,
    plane_skips,
)
from harness.scenario.kinds import Workload, kind_of
from harness.scenario.planes import mongo_plane_facts, plane_reason, runnable_topology
from harness.scenario.spec import ScenarioSpec, VariantSpec
from harness.topology import redis as redis_nodes
from harness.topology.deployment import Deployment, Setting
from harness.topology.local import deploy, run_id_now
from harness.topology.spec import load_topology
from harness.workload.engine import progress as live
from harness.workload.engine.openloop import DriverStats
from harness.workload.engine.progress import Snapshot

Progress = Callable[[str, float, str], None]


@dataclass
class RunOptions:
    reports_dir: Path = Path("reports")
    seed: int | None = None
    hosts: str = "auto"
    duration_s: float | None = None
    rate: float | None = None
    keep_data: bool = False
    progress: Progress | None = None
    log: Callable[[str], None] = print
    scenario_file: str | None = None  # the name or path it was loaded from (for replays)


@dataclass
class VariantRun:
    spec: VariantSpec
    start_ns: int = 0
    stats: DriverStats = field(default_factory=DriverStats)
    per_master: list[dict[str, Any]] = field(default_factory=list)
    per_master_series: dict[str, list[float]] = field(default_factory=dict)
    final_read_failures: int = 0
    settle_s: float = 0.0  # time spent waiting for idle nodes before the variant started
    faults: list[dict[str, Any]] = field(default_factory=list)
    healthy_again: dict[str, Any] | None = None  # after the schedule: healthy in time, or what was not
    workload: dict[str, Any] = field(default_factory=dict)  # the workload's own figures (platform)


def _reproduce_command(name: str, seed: int, opts: RunOptions) -> str:
    cmd = f"harness scenario {name} --seed {seed}"
    if opts.duration_s is not None:
        cmd += f" --duration {opts.duration_s:g}"
    if opts.rate is not None:
        cmd += f" --rate {opts.rate:g}"
    if opts.hosts != "auto":
        cmd += f" --hosts {opts.hosts}"
    return cmd


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _apply_settings(dep: Deployment, settings: dict[str, Setting], opts: RunOptions) -> dict[str, Setting]:
    """A variant's Redis server settings (e.g. min-replicas-to-write) on every node; returns the
    values they replace, so they can be put back."""
    try:
        previous = dep.apply_redis_settings(settings)
    except HarnessError as exc:
        raise HarnessError(f"variant {exc}") from exc
    if settings:
        opts.log("redis settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    return previous


def _prepare(dep: Deployment) -> float:
    """Each variant starts from empty data, zeroed server statistics and idle nodes (the freeing
    of the previous variant's keys done, not landing in this one's first seconds). Returns the
    seconds waited."""
    dep.reset_data()
    return wait_idle({n.name: n.admin() for n in dep.redis})


def _play_variant(ctx: VariantContext, settle_s: float, opts: RunOptions) -> VariantRun:
    run = VariantRun(ctx.variant, settle_s=settle_s)
    kind = kind_of(ctx.spec.workload.kind)
    workload = kind.build(ctx)
    try:
        _run_workload(ctx, workload, run, opts)
        try:
            run.final_read_failures = workload.final_reads()
            run.workload = workload.summary(run.start_ns / 1e9)
        finally:
            workload.close()
    except BaseException:
        workload.close()  # closing twice is harmless; leaving sockets open is not
        raise
    return run


def _run_workload(ctx: VariantContext, workload: Workload, run: VariantRun, opts: RunOptions) -> None:
    """Runs the load with the fault schedule beside it and the per-node load sampled; heals, waits
    for the topology to be healthy again, and records what the masters did."""
    dep, variant, clock = ctx.dep, ctx.variant, ctx.clock
    admin = {n.name: n.admin() for n in dep.redis}
    masters = [n.name for n in dep.current_masters()]
    sampler = StatsSampler(dep.observers())
    before = snapshot(admin)
    sampler.start()
    run.start_ns = clock.now_ns()
    t0 = time.monotonic()
    nemesis = _nemesis(ctx, opts, run.start_ns, workload.control())
    latency = workload.live_latency(run.start_ns)
    shown: list[Snapshot] = []

    def progress(stats: DriverStats, frac: float) -> None:
        if opts.progress is None:
            return
        snap = live.snapshot(stats, latency, (clock.now_ns() - run.start_ns) / 1e9)
        opts.progress(variant.name, frac, live.render(shown[-1] if shown else None, snap, ctx.duration_s))
        shown[:] = [snap]

    try:
        run.stats = workload.run(progress)
    finally:
        sampler.stop()
        if nemesis is not None:  # heal everything, always: a rollback that always runs
            run.faults = [{"variant": variant.name, **r.to_dict()} for r in nemesis.stop()]
        workload.stop_background()
    seconds = time.monotonic() - t0
    if nemesis is not None and ctx.spec.schedule is not None:
        run.healthy_again = _wait_healthy_again(dep, ctx.spec.schedule.heal_timeout_s, opts)
    after = snapshot(admin)
    run.per_master = per_master_load(
        {k: v.data_calls for k, v in before.items()},
        {k: v.data_calls for k, v in after.items()},
        masters,
        seconds,
        cpu_start={k: v.cpu_s for k, v in before.items()},
        cpu_end={k: v.cpu_s for k, v in after.items()},
    )
    run.per_master_series = sampler.per_second(masters)


def _nemesis(
    ctx: VariantContext, opts: RunOptions, origin_ns: int, control: WorkloadControl | None
) -> Nemesis | None:
    """The variant's fault schedule, planned from the seed and started on the workload's clock."""
    schedule = ctx.spec.schedule
    if schedule is None:
        return None
    planned = plan(schedule, ctx.random("schedule"), ctx.duration_s)
    rng = ctx.random("faults")
    nemesis = Nemesis(
        planned,
        ctx.recorder,
        ctx.clock,
        make_ctx=lambda: FaultContext(dep=ctx.dep, rng=rng, workload=control),
        capabilities=frozenset(Capability(c) for c in ctx.dep.capabilities())
        | ({Capability.WORKLOAD} if control is not None else set()),
        variant=ctx.name,
        log=opts.log,
    )
    nemesis.start(origin_ns)
    return nemesis


def _wait_healthy_again(dep: Deployment, timeout_s: float, opts: RunOptions) -> dict[str, Any]:
    """After healing, the topology must be healthy again (bounded) before the final reads."""
    assert dep.topology.redis is not None
    mode = dep.topology.redis.mode

    def check() -> str | None:
        try:
            redis_nodes.wait_healthy(dep.redis, mode, timeout_s=0.5, live_roles=True)
        except HarnessError as exc:
            return str(exc).splitlines()[0]
        return None

    ok, waited, problem = wait_for(check, timeout_s)
    opts.log(f"healthy again after {waited:.1f}s" if ok else f"NOT healthy after {waited:.0f}s: {problem}")
    return {"healthy": ok, "seconds": round(waited, 3), "problem": problem or None}


def _variant_metrics(
    vr: VariantRun, groups: dict[str, list[float]], series: dict[str, Any], rate: float
) -> VariantMetrics:
    st = vr.stats
    completed = st.admitted + st.rate_limited
    achieved = completed / st.elapsed_s if st.elapsed_s > 0 else 0.0
    series["per_master_ops_per_s"] = vr.per_master_series
    per_master = [MasterLoad.model_validate(m) for m in vr.per_master]
    vm = VariantMetrics(
        per_master=per_master,
        imbalance_ratio=imbalance_ratio([m.share or 0.0 for m in per_master]),
        offered_rate=rate,
        achieved_rate=achieved,
        throughput_ratio=achieved / rate if rate else None,
        latency_ms={g: Percentiles.model_validate(percentiles(v)) for g, v in sorted(groups.items())},
        outcomes=Outcomes.model_validate(
            {
                **st.outcomes,
                "rate_limited": st.rate_limited,
                "unsent": st.unsent,
                "expire_errors": st.expire_errors,
                "final_read_failures": vr.final_read_failures,
            }
        ),
        driver=DriverFigures(
            max_lag_ms=st.max_lag_s * 1000, batches=st.batches, elapsed_s=st.elapsed_s, settle_s=vr.settle_s
        ),
        timeseries=Timeseries.model_validate(series),
    )
    if vr.workload:  # the platform's own figures; other workloads write none
        vm.workload = WorkloadFigures.model_validate(vr.workload)
    return vm


def run_scenario(spec: ScenarioSpec, opts: RunOptions) -> tuple[Path, dict[str, Any]]:
    """:func:`run_scenario_record`, its results as the plain mapping written to ``results.json``
    (for callers that still index it by key: the live tests)."""
    run_dir, results = run_scenario_record(spec, opts)
    return run_dir, results.dump()


def run_scenario_record(spec: ScenarioSpec, opts: RunOptions) -> tuple[Path, RunResults]:
    seed = spec.seed if opts.seed is None else opts.seed
    duration = opts.duration_s or spec.workload.duration_s
    profile = spec.workload.rate_profile(opts.rate)
    rate = profile.total(duration) / duration  # the mean offered rate
    runnable = runnable_topology(load_topology(spec.topology))
    topology, mongo_skipped = runnable.topology, runnable.mongo_not_run
    run_id = run_id_now()
    run_dir = opts.reports_dir / spec.name / run_id
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    not_run: dict[str, Plane] = {
        p: Plane(status="not_run", reason=plane_reason(p, r)) for p, r in spec.planes.items()
    }
    results = RunResults(
        scenario=spec.name,
        scenario_file=opts.scenario_file or spec.name,
        title=spec.title,
        description=spec.description,
        case_study=spec.case_study,
        run_id=run_id,
        seed=seed,
        started_at=_now_iso(),
        verdict="error",
        verdict_reason="",
        error=None,
        substrate=Substrate(
            backend="local",
            topology=topology.name,
            versions={"python": platform.python_version(), "harness": harness.__version__},
        ),
        planes={
            "redis": Plane(status="not_run", reason="the run did not get that far"),
            **not_run,
            **({"mongodb": Plane(status="not_run", reason=mongo_skipped)} if mongo_skipped else {}),
        },
        variants=[],
        invariants=[],
        targets=[],
        faults=[],
        options=RunOptionsRecord(duration_s=duration, rate=rate, profile=profile.to_dict(), hosts=opts.hosts),
        reproduce=_reproduce_command(spec.name, seed, opts),
        checking=checking_config(spec),  # so 'harness check' can re-judge this run from its files
    )
    write_record(run_dir / "results.json", results)
    clock = RunClock()
    runs: list[VariantRun] = []
    started = time.monotonic()
    interrupted: BaseException | None = None
    with HistoryRecorder(run_dir / "history.jsonl", clock) as rec:
        try:
            opts.log(f"bringing up {topology.name} (run {run_id})")
            with deploy(topology, run_dir, run_id, hosts=opts.hosts, cpu_limit=spec.node_cpu_limit) as dep:
                opts.log(f"healthy in {dep.up_seconds:.1f}s on {dep.network.kind} hosts")
                cap = dep.capacity
                if cap.get("cpu_limit") is not None:
                    opts.log(
                        f"node capacity: {cap['cpu_limit']:g} core each"
                        if cap["applied"]
                        else f"node capacity NOT limited ({cap['reason']}): saturation targets may not hold"
                    )
                sub = results.substrate
                sub.hosts = dep.network.kind
                sub.partitions_supported = dep.network.partitions_supported
                sub.nodes = [NodeInfo.model_validate(n) for n in dep.endpoints()["nodes"]]
                sub.up_seconds = dep.up_seconds
                sub.capacity = Capacity.model_validate(dep.capacity)
                sub.versions.update(dep.versions)
                if dep.mongo is not None and dep.mongo.features is not None:
                    sub.mongodb = dep.mongo.features.describe()
                for variant in spec.variants:
                    previous = _apply_settings(dep, variant.redis_settings, opts)
                    try:
                        settle_s = _prepare(dep)
                        ctx = VariantContext.start(
                            dep,
                            spec,
                            variant,
                            rec,
                            clock,
                            seed=seed,
                            duration_s=duration,
                            profile=profile,
                            log=opts.log,
                        )
                        runs.append(_play_variant(ctx, settle_s, opts))
                    finally:
                        _apply_settings(dep, previous, opts)  # the next variant starts from the file's
                results.planes["redis"] = Plane(status="ran", reason=None)
                if dep.mongo is not None:
                    results.planes["mongodb"] = Plane.model_validate(
                        mongo_plane_facts(dep, runnable.mongo_note)
                    )
        except HarnessError as exc:
            results.error = str(exc)
        except KeyboardInterrupt as exc:
            results.error = "interrupted (Ctrl-C); everything the run started was torn down"
            interrupted = exc
        except Exception as exc:  # a report with the error beats a traceback alone
            results.error = f"{type(exc).__name__}: {exc}"
            (run_dir / "logs" / "error.txt").write_text(repr(exc))
    if not opts.keep_data:
        shutil.rmtree(run_dir / "data", ignore_errors=True)
    opts.log("checking the history")
    try:
        _judge(spec, results, runs, run_dir, rate)
    except HarnessError as exc:  # e.g. a damaged history: the report says so
        results.error = results.error or str(exc)
    results.finished_at = _now_iso()
    results.duration_s = time.monotonic() - started
    results.verdict, results.verdict_reason = overall_verdict(results)
    write_record(run_dir / "results.json", results)
    render_run(run_dir)
    _link_latest(run_dir)
    render_index(opts.reports_dir)
    if interrupted is not None:
        raise interrupted
    return run_dir, results


def invariant_numbers(verdicts: list[Invariant]) -> dict[str, dict[str, int | float | None]]:
    """Each verdict's violation count and numeric totals, under a name targets can address
    (``<variant>.invariants.acknowledged_increments_survive.lost``)."""
    out: dict[str, dict[str, int | float | None]] = {}
    for v in verdicts:
        numbers = {
            k: val
            for k, val in v.details.items()
            if isinstance(val, int | float) and not isinstance(val, bool)
        }
        out[str(v.name).replace("-", "_")] = {"violations": v.violations, **numbers}
    return out


def faults_summary(figures: list[RecoveryFigures]) -> FaultsSummary:
    """The worst of each per-fault figure, over all faults and per fault kind, for targets
    (``after.faults_summary.errors_until_ms``, ``before.faults_summary.kill.errors_until_ms``)."""

    def worst(figs: list[RecoveryFigures]) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for key in FAULT_FIGURES:
            vals = [v for f in figs if isinstance(v := getattr(f, key), int | float)]
            out[key] = max(vals) if vals else None
        return out

    per_kind = {
        kind.replace("-", "_"): worst([f for f in figures if str(f.fault) == kind])
        for kind in sorted({str(f.fault) for f in figures})
    }
    return FaultsSummary.model_validate(worst(figures) | per_kind)


def _judge(
    spec: ScenarioSpec, results: RunResults, runs: list[VariantRun], run_dir: Path, rate: float
) -> None:
    whale = spec.workload.whale.tenant if spec.workload.whale else None
    metrics = RunMetrics(variants={})  # set, so written even when no variant ran (as before)
    for vr in runs:
        name = vr.spec.name
        kind = kind_of(spec.workload.kind)
        latencies = EventLatencies({whale: "whale"} if whale else {}, kind.latency_ops)
        throughput = Throughput(vr.start_ns, max(1, round(vr.stats.elapsed_s)), f=kind.counted_ops)
        recovery = RecoveryFold()
        by_op = OpLatencyFold(vr.start_ns)
        verdicts = check_variant(
            run_dir / HISTORY,
            name,
            spec.checkers,
            spec.checker_params,
            source=f"scenario {spec.name}",
            sinks=[latencies.observe, throughput.observe, recovery.observe, by_op.observe],
            skip=plane_skips(spec.checkers, results.planes, kind.checker_planes(vr.spec)),
        )
        mark_expected(verdicts, {name: vr.spec.expect_invalid})
        results.invariants += verdicts
        vm = metrics.variants[name] = _variant_metrics(vr, latencies.result(), throughput.result(), rate)
        vm.invariants = invariant_numbers(verdicts)
        vm.latency_by_op = {f: OpPercentiles.model_validate(q) for f, q in by_op.hist.summary().items()}
        vm.hdr = HdrRecord.model_validate(by_op.hist.to_dict())  # per 1 s window too, base64, mergeable
        if spec.schedule is not None:
            figures = [RecoveryFigures.model_validate(f) for f in recovery.finish()]
            vm.start_ms = round(vr.start_ns / 1e6, 3)
            vm.recovery = figures
            vm.faults_summary = faults_summary(figures)
            vm.healthy_again = (
                None if vr.healthy_again is None else HealthyAgain.model_validate(vr.healthy_again)
            )
            results.faults += [FaultRecord.model_validate(f) for f in vr.faults]
        st = vr.stats
        results.variants.append(
            VariantResult(
                name=vr.spec.name,
                description=vr.spec.description,
                offered_rate=rate,
                duration_s=st.elapsed_s,
                events_offered=st.offered,
                events_sent=st.sent,
                achieved_rate=vm.achieved_rate,
                whale_shards=vr.spec.whale_shards,
            )
        )
    write_record(run_dir / "metrics.json", metrics)
    if runs and len(runs) == len(spec.variants):
        results.targets = evaluate_targets(spec.targets, metrics, results.planes)
    else:
        results.targets = [
            TargetResult(
                name=t.name,
                description=t.description,
                metric=t.metric,
                value=None,
                op=t.op,
                threshold=t.threshold,
                status="unknown",
            )
            for t in spec.targets
        ]


def _link_latest(run_dir: Path) -> None:
    latest = run_dir.parent / "latest"
    with contextlib.suppress(OSError):
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(run_dir.name)
