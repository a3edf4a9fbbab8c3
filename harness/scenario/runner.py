"""One run of one scenario: validate, bring the topology up, play each variant, tear down, then
judge and render the report.

Judging streams the saved ``history.jsonl`` through the checkers once per variant
(:func:`harness.scenario.judge.check_variant`) and taps that same pass into the metric folds
(event latency, throughput, recovery, per-op HdrHistograms); ``metrics.json`` also takes what the
run kept in memory (the driver's figures, per-master load samples, the workload's own figures, the
faults' records and whether the topology was healthy again), and the targets are judged over it.
Only ``harness check`` (:func:`harness.scenario.judge.recheck_record`) judges from the saved files alone.
The report is rendered from the saved files."""

from __future__ import annotations

import contextlib
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import harness
from harness.clock import RunClock
from harness.errors import HarnessError
from harness.history.recorder import HistoryRecorder
from harness.records import (
    Capacity,
    HistoryDigest,
    NodeInfo,
    Plane,
    RunOptionsRecord,
    RunResults,
    Substrate,
    write_record,
)
from harness.report.render import render_index, render_run
from harness.scenario.context import RunOptions, VariantContext
from harness.scenario.judge import (
    checking_config,
    overall_verdict,
)
from harness.scenario.measure import judge_run
from harness.scenario.planes import (
    Runnable,
    mongo_plane_facts,
    plane_reason,
    runnable_topology,
    with_fail_points,
)
from harness.scenario.play import VariantRun, apply_settings, play_variant, prepare
from harness.scenario.spec import ScenarioSpec
from harness.topology.deployment import Deployment
from harness.topology.local import deploy, run_id_now
from harness.topology.spec import load_topology
from harness.workload.engine.profile import RateProfile


def _reproduce_command(name: str, seed: int, opts: RunOptions) -> str:
    cmd = f"harness scenario {name} --seed {seed}"
    if opts.duration_s is not None:
        cmd += f" --duration {opts.duration_s:g}"
    if opts.rate is not None:
        cmd += f" --rate {opts.rate:g}"
    if opts.hosts != "auto":
        cmd += f" --hosts {opts.hosts}"
    if opts.backend != "local":
        cmd += f" --backend {opts.backend}"
    return cmd


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class RunPlan:
    """What one run will do, settled before anything starts."""

    spec: ScenarioSpec
    opts: RunOptions
    seed: int
    duration_s: float
    profile: RateProfile
    runnable: Runnable
    run_id: str
    run_dir: Path

    @classmethod
    def of(cls, spec: ScenarioSpec, opts: RunOptions) -> RunPlan:
        run_id = run_id_now()
        return cls(
            spec,
            opts,
            seed=spec.seed if opts.seed is None else opts.seed,
            duration_s=opts.duration_s or spec.workload.duration_s,
            profile=spec.workload.rate_profile(opts.rate),
            runnable=runnable_topology(
                with_fail_points(load_topology(spec.topology), spec.fault_kinds()), opts.backend
            ),
            run_id=run_id,
            run_dir=opts.reports_dir / spec.name / run_id,
        )

    @property
    def rate(self) -> float:
        """The mean offered rate."""
        return self.profile.total(self.duration_s) / self.duration_s


def _new_results(plan: RunPlan) -> RunResults:
    """results.json as it stands before anything starts: an error until the run says otherwise."""
    spec, opts, mongo_skipped = plan.spec, plan.opts, plan.runnable.mongo_not_run
    topology = plan.runnable.topology
    # A topology without Redis (mongo-sharded) never runs that plane: say so, not "did not get that far".
    redis_why = (
        "the run did not get that far" if topology.redis else f"topology {topology.name} has no Redis plane"
    )
    not_run: dict[str, Plane] = {
        p: Plane(status="not_run", reason=plane_reason(p, r)) for p, r in spec.planes.items()
    }
    return RunResults(
        scenario=spec.name,
        scenario_file=opts.scenario_file or spec.name,
        title=spec.title,
        description=spec.description,
        case_study=spec.case_study,
        run_id=plan.run_id,
        seed=plan.seed,
        started_at=_now_iso(),
        verdict="error",
        verdict_reason="",
        error=None,
        substrate=Substrate(
            backend=opts.backend,
            topology=plan.runnable.topology.name,
            versions={"python": platform.python_version(), "harness": harness.__version__},
        ),
        planes={
            "redis": Plane(status="not_run", reason=redis_why),
            **not_run,
            **({"mongodb": Plane(status="not_run", reason=mongo_skipped)} if mongo_skipped else {}),
        },
        variants=[],
        invariants=[],
        targets=[],
        faults=[],
        options=RunOptionsRecord(
            duration_s=plan.duration_s, rate=plan.rate, profile=plan.profile.to_dict(), hosts=opts.hosts
        ),
        reproduce=_reproduce_command(spec.name, plan.seed, opts),
        checking=checking_config(spec),  # so 'harness check' can re-judge this run from its files
    )


def _note_substrate(results: RunResults, dep: Deployment, log: Callable[[str], None]) -> None:
    log(f"healthy in {dep.up_seconds:.1f}s on {dep.network.kind} hosts")
    cap = dep.capacity
    if cap.get("cpu_limit") is not None:
        log(
            f"node capacity: {cap['cpu_limit']:g} core each ({cap.get('how', 'cgroup CPU quota')})"
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


def _play_variants(
    plan: RunPlan, dep: Deployment, rec: HistoryRecorder, clock: RunClock, runs: list[VariantRun]
) -> None:
    """Each variant in turn on the one deployment, its server settings put back after it."""
    opts = plan.opts
    for variant in plan.spec.variants:
        previous = apply_settings(dep, variant.redis_settings, opts)
        try:
            settle_s = prepare(dep)
            ctx = VariantContext.start(
                dep,
                plan.spec,
                variant,
                rec,
                clock,
                seed=plan.seed,
                duration_s=plan.duration_s,
                profile=plan.profile,
                log=opts.log,
            )
            runs.append(play_variant(ctx, settle_s, opts))
        finally:
            apply_settings(dep, previous, opts)  # the next variant starts from the file's


def _deploy_and_play(plan: RunPlan, results: RunResults, runs: list[VariantRun]) -> BaseException | None:
    """Brings the topology up, plays the variants and tears down (always); an error lands in
    ``results``. Returns a Ctrl-C to raise once the report is written. Once the history is closed,
    ``results.history`` records what it holds, for ``harness check`` to compare."""
    topology, opts, run_dir = plan.runnable.topology, plan.opts, plan.run_dir
    clock = RunClock()
    interrupted: BaseException | None = None
    with HistoryRecorder(run_dir / "history.jsonl", clock) as rec:
        try:
            opts.log(f"bringing up {topology.name} (run {plan.run_id})")
            with deploy(
                topology,
                run_dir,
                plan.run_id,
                hosts=opts.hosts,
                backend=opts.backend,
                cpu_limit=plan.spec.node_cpu_limit,
            ) as dep:
                _note_substrate(results, dep, opts.log)
                _play_variants(plan, dep, rec, clock, runs)
                if dep.topology.redis is not None:
                    results.planes["redis"] = Plane(status="ran", reason=None)
                if dep.mongo is not None:
                    facts = mongo_plane_facts(dep, plan.runnable.mongo_note)
                    results.planes["mongodb"] = Plane.model_validate(facts)
        except HarnessError as exc:
            results.error = str(exc)
        except KeyboardInterrupt as exc:
            results.error = "interrupted (Ctrl-C); everything the run started was torn down"
            interrupted = exc
        except Exception as exc:  # a report with the error beats a traceback alone
            results.error = f"{type(exc).__name__}: {exc}"
            (run_dir / "logs" / "error.txt").write_text(repr(exc))
    summary = rec.summary()
    results.history = None if summary is None else HistoryDigest.model_validate(summary)
    return interrupted


def run_scenario_record(spec: ScenarioSpec, opts: RunOptions) -> tuple[Path, RunResults]:
    plan = RunPlan.of(spec, opts)
    run_dir = plan.run_dir
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    results = _new_results(plan)
    write_record(run_dir / "results.json", results)
    runs: list[VariantRun] = []
    started = time.monotonic()
    interrupted = _deploy_and_play(plan, results, runs)
    if not opts.keep_data:
        shutil.rmtree(run_dir / "data", ignore_errors=True)
    opts.log("checking the history")
    try:
        judge_run(spec, results, runs, run_dir, plan.rate)
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


def _link_latest(run_dir: Path) -> None:
    latest = run_dir.parent / "latest"
    with contextlib.suppress(OSError):
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(run_dir.name)


__all__ = ["RunOptions", "RunPlan", "run_scenario_record"]
