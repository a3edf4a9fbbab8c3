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

import redis

import harness
from harness.clients.redis_router import SlotRouter
from harness.clients.redis_stats import StatsSampler, snapshot, wait_idle
from harness.clock import RunClock, seeded_random
from harness.doctor import find_binary
from harness.errors import HarnessError
from harness.faults.base import Capability, FaultContext
from harness.faults.nemesis import Nemesis, wait_for
from harness.faults.schedule import plan
from harness.history.recorder import HistoryRecorder
from harness.metrics.hdr import LatencyHistograms, OpLatencyFold
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
from harness.scenario.judge import (
    HISTORY,
    check_variant,
    checking_config,
    evaluate_targets,
    mark_expected,
    overall_verdict,
    plane_skips,
    variant_planes,
)
from harness.scenario.parts import load_script, tenants_and_keys
from harness.scenario.platform_run import PlatformRun, build_platform, platform_final_reads, platform_summary
from harness.scenario.spec import ScenarioSpec, VariantSpec
from harness.topology import mongo as mongo_nodes
from harness.topology import redis as redis_nodes
from harness.topology.local import Deployment, deploy, run_id_now
from harness.topology.mongo_spec import MongoSpec
from harness.topology.spec import TopologySpec, load_topology
from harness.workload.engine import progress as live
from harness.workload.engine.openloop import DriverStats
from harness.workload.engine.profile import RateProfile
from harness.workload.engine.progress import Snapshot
from harness.workload.model.tenants import TenantPicker
from harness.workload.platform.driver import PlatformDriver
from harness.workload.redis_plane.events import DriverConfig, EventDriver, final_reads, limiter_script
from harness.workload.redis_plane.increments import IncrementConfig, IncrementDriver
from harness.workload.redis_plane.sessions import SessionConfig, SessionDriver, final_sessions

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


@dataclass(frozen=True)
class Runnable:
    """What of a topology this machine can bring up."""

    topology: TopologySpec
    mongo_not_run: str | None = None  # why the MongoDB plane is left out
    mongo_note: str | None = None  # what stands in for the topology's MongoDB servers, and what that means


def runnable_topology(topology: TopologySpec) -> Runnable:
    """The part of ``topology`` this machine can bring up. Without the mongod (and mongos) it asks
    for, the MongoDB plane runs on one FerretDB server where ``make setup`` built it (and says so:
    what needs replication or sharding is then not_run), else it is left out with the reason, and
    a scenario on ``platform`` still runs its Redis plane."""
    if topology.mongo is None:
        return Runnable(topology)
    missing = mongo_nodes.missing_mongo_binaries(topology.mongo)
    if not missing:
        return Runnable(topology)
    if missing != ["ferretdb"] and mongo_nodes.ferretdb_available():
        mongo = topology.mongo
        ferret = MongoSpec(
            mode="standalone", server="ferretdb", collections=mongo.collections, cpu_limit=mongo.cpu_limit
        )
        note = (
            f"no {missing[0]}: the topology's {mongo.mode} MongoDB runs as one FerretDB server; "
            "checks that need replication, sharding or the TTL monitor are not_run"
        )
        return Runnable(topology.model_copy(update={"mongo": ferret}), mongo_note=note)
    reason = (
        f"no {missing[0]} (put mongod/mongos 7.0+ on PATH or set MONGODB_BIN_DIR, or run 'make setup' to "
        "build FerretDB; see 'harness doctor')"
    )
    if topology.redis is None:
        raise HarnessError(f"topology '{topology.name}' has only a MongoDB plane and {reason}")
    return Runnable(topology.model_copy(update={"mongo": None}), mongo_not_run=reason)


def mongo_plane_facts(dep: Deployment, note: str | None) -> dict[str, Any]:
    """The MongoDB plane as results.json reports it once it ran: the server (never FerretDB called
    MongoDB), what it lacks and what of the collections it refused, in the server's words."""
    assert dep.mongo is not None
    features = dep.mongo.features
    facts: dict[str, Any] = {"status": "ran", "reason": None}
    if features is not None:
        facts |= {"server": features.name, "substrate": features.describe(), "lacks": dict(features.lacks)}
    if dep.mongo.left_out:
        facts["left_out"] = list(dep.mongo.left_out)
    if note:
        facts["note"] = note
    return facts


def _plane_reason(plane: str, declared: str) -> str:
    """Why a plane does not run: a missing server binary first (what a user can fix), then the
    scenario's own reason."""
    if plane == "mongodb" and find_binary("mongod") is None:
        return f"no mongod; {declared}"
    return declared


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


def _apply_settings(
    dep: Deployment, settings: dict[str, str | int | bool], opts: RunOptions
) -> dict[str, str | int | bool]:
    """``CONFIG SET`` on every Redis node (a variant's server settings, e.g. min-replicas-to-write);
    returns the values they replace, read with ``CONFIG GET``, so they can be put back."""
    previous: dict[str, str | int | bool] = {}
    for name, value in settings.items():
        text = ("yes" if value else "no") if isinstance(value, bool) else str(value)
        for node in dep.redis:
            try:
                old = node.admin().config_get(name).get(name)
                if old is not None:
                    previous.setdefault(name, str(old))
                node.admin().config_set(name, text)
            except redis.RedisError as exc:
                raise HarnessError(f"variant setting {name}={text} refused by {node.name}: {exc}") from exc
    for node in dep.redis if settings else []:
        # CONFIG REWRITE, as the persistence case's fix does: a node restarted by a fault must come
        # back with this variant's settings (appendonly yes is what makes it load its AOF).
        try:
            node.admin().execute_command("CONFIG", "REWRITE")
        except redis.RedisError as exc:
            raise HarnessError(f"CONFIG REWRITE refused by {node.name}: {exc}") from exc
    if settings:
        opts.log("redis settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    return previous


def _prepare(dep: Deployment) -> float:
    """Each variant starts from empty data, zeroed server statistics and idle nodes.

    Freeing the previous variant's keys costs CPU after FLUSHALL returns (the allocator purges in
    the background); under a CPU cap that work would land in the next variant's first seconds.
    MEMORY PURGE does it now, then we wait for steady state. Returns the seconds waited."""
    for node in dep.current_masters():
        node.admin().flushall()
    for node in dep.redis:
        node.admin().execute_command("MEMORY", "PURGE")
        node.admin().config_resetstat()
    return wait_idle({n.name: n.admin() for n in dep.redis})


def _play_variant(
    dep: Deployment,
    spec: ScenarioSpec,
    variant: VariantSpec,
    rec: HistoryRecorder,
    clock: RunClock,
    seed: int,
    opts: RunOptions,
    duration: float,
    profile: RateProfile,
) -> VariantRun:
    settle_s = _prepare(dep)
    run = VariantRun(variant, settle_s=settle_s)
    seeds = [(n.client_proxy.listen_host, n.client_proxy.listen_port) for n in dep.redis]
    cluster = dep.topology.redis is not None and dep.topology.redis.mode == "cluster"
    if not cluster:  # one primary serves every key: route to the node that is master now
        seeds = [
            (n.client_proxy.listen_host, n.client_proxy.listen_port) for n in dep.current_masters()
        ] or seeds
    router = SlotRouter(seeds, cluster=cluster, now_ns=clock.now_ns)
    platform_run: PlatformRun | None = None
    driver: EventDriver | IncrementDriver | SessionDriver | PlatformDriver
    if spec.workload.kind == "platform":
        platform_run = build_platform(dep, spec, variant, seeds, cluster, rec, clock, seed, duration, profile)
        assert platform_run.driver is not None
        driver = platform_run.driver
    else:
        driver = _make_driver(dep, spec, variant, router, rec, clock, seed, duration, profile)
    admin = {n.name: n.admin() for n in dep.redis}
    masters = [n.name for n in dep.current_masters()]
    sampler = StatsSampler(
        {
            n.name: redis.Redis(
                host=n.host.address, port=n.port, socket_timeout=2, retry=redis_nodes.no_retry()
            )
            for n in dep.redis
        }
    )
    before = snapshot(admin)
    sampler.start()
    run.start_ns = clock.now_ns()
    t0 = time.monotonic()
    nemesis = _nemesis(dep, spec, variant, rec, clock, seed, opts, duration, run.start_ns, driver)

    if isinstance(driver, EventDriver):  # live p99 for the progress line (cheap: a deque append)
        driver.latency = LatencyHistograms(origin_ns=run.start_ns)
    shown: list[Snapshot] = []

    def progress(stats: DriverStats, frac: float) -> None:
        if opts.progress is None:
            return
        snap = live.snapshot(stats, getattr(driver, "latency", None), (clock.now_ns() - run.start_ns) / 1e9)
        opts.progress(variant.name, frac, live.render(shown[-1] if shown else None, snap, duration))
        shown[:] = [snap]

    try:
        run.stats = driver.run(progress)
    finally:
        sampler.stop()
        if nemesis is not None:  # heal everything, always: a rollback that always runs
            run.faults = [{"variant": variant.name, **r.to_dict()} for r in nemesis.stop()]
        if platform_run is not None and platform_run.cache is not None:
            platform_run.cache.close()  # its refresher stops with the workload
    seconds = time.monotonic() - t0
    if nemesis is not None and spec.schedule is not None:
        run.healthy_again = _wait_healthy_again(dep, spec.schedule.heal_timeout_s, opts)
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
    try:
        if platform_run is not None:
            run.final_read_failures = platform_final_reads(platform_run, router, rec, clock, variant.name)
            run.workload = platform_summary(platform_run, run.start_ns / 1e9)
        elif isinstance(driver, SessionDriver):
            run.final_read_failures = final_sessions(
                router, rec, clock, sorted(driver.counter_keys), variant.name
            )
        else:
            run.final_read_failures = final_reads(router, rec, sorted(driver.counter_keys), variant.name)
    finally:
        router.close()
        if platform_run is not None:
            platform_run.close()
    return run


def _make_driver(
    dep: Deployment,
    spec: ScenarioSpec,
    variant: VariantSpec,
    router: SlotRouter,
    rec: HistoryRecorder,
    clock: RunClock,
    seed: int,
    duration: float,
    profile: RateProfile,
) -> EventDriver | IncrementDriver | SessionDriver:
    wl = spec.workload
    rate = profile.peak()  # unused by the drivers when a profile is given
    if wl.kind == "sessions":
        scfg = SessionConfig(
            profile=profile,
            rate=rate,
            duration_s=duration,
            sessions=wl.sessions,
            ttl_s=wl.session_ttl_s,
            max_batch=wl.max_batch,
        )
        return SessionDriver(
            router, rec, clock, scfg, variant.name, seeded_random(seed, f"sessions:{variant.name}")
        )
    if wl.kind == "increments":
        icfg = IncrementConfig(
            profile=profile,
            rate=rate,
            duration_s=duration,
            keys=wl.keys,
            max_batch=wl.max_batch,
            wait_replicas=variant.wait_replicas,
            wait_timeout_ms=variant.wait_timeout_ms,
            retries=variant.retries,
            retry_backoff_ms=variant.retry_backoff_ms,
        )
        return IncrementDriver(
            router, rec, clock, icfg, variant.name, seeded_random(seed, f"keys:{variant.name}")
        )
    assert wl.limit is not None and wl.window_ms is not None  # validated with the scenario
    whale = wl.whale
    mix, keys = tenants_and_keys(spec, variant)
    sha = load_script(dep, limiter_script())
    cfg = DriverConfig(
        profile=profile,
        rate=rate,
        duration_s=duration,
        limit=wl.limit,
        window_ms=wl.window_ms,
        tenant_limits={whale.tenant: whale.limit} if whale else {},
        max_batch=wl.max_batch,
    )
    return EventDriver(
        router,
        rec,
        clock,
        keys,
        TenantPicker(mix, seeded_random(seed, f"tenants:{variant.name}")),
        cfg,
        variant.name,
        seeded_random(seed, f"shards:{variant.name}"),
        sha,
    )


def _nemesis(
    dep: Deployment,
    spec: ScenarioSpec,
    variant: VariantSpec,
    rec: HistoryRecorder,
    clock: RunClock,
    seed: int,
    opts: RunOptions,
    duration: float,
    origin_ns: int,
    driver: object = None,
) -> Nemesis | None:
    """The variant's fault schedule, planned from the seed and started on the workload's clock."""
    if spec.schedule is None:
        return None
    planned = plan(spec.schedule, seeded_random(seed, f"schedule:{variant.name}"), duration)
    rng = seeded_random(seed, f"faults:{variant.name}")
    nemesis = Nemesis(
        planned,
        rec,
        clock,
        make_ctx=lambda: FaultContext(dep=dep, rng=rng, workload=driver),
        capabilities=frozenset(Capability(c) for c in dep.capabilities())
        | ({Capability.WORKLOAD} if hasattr(driver, "surge") else set()),
        variant=variant.name,
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
        p: Plane(status="not_run", reason=_plane_reason(p, r)) for p, r in spec.planes.items()
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
                        runs.append(
                            _play_variant(dep, spec, variant, rec, clock, seed, opts, duration, profile)
                        )
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
        kind = spec.workload.kind
        session_fs = frozenset({"session_create", "session_touch"})
        latencies = EventLatencies(
            {whale: "whale"} if whale else {},
            session_fs if kind == "sessions" else frozenset({"rate_limit", "incr"}),
        )
        counted: str | frozenset[str] = (
            session_fs if kind == "sessions" else "incr" if kind == "increments" else "rate_limit"
        )
        if kind == "platform":
            counted = frozenset({"rate_limit", "shed"})  # a shed event was offered, never achieved
        throughput = Throughput(vr.start_ns, max(1, round(vr.stats.elapsed_s)), f=counted)
        recovery = RecoveryFold()
        by_op = OpLatencyFold(vr.start_ns)
        verdicts = check_variant(
            run_dir / HISTORY,
            name,
            spec.checkers,
            spec.checker_params,
            source=f"scenario {spec.name}",
            sinks=[latencies.observe, throughput.observe, recovery.observe, by_op.observe],
            skip=plane_skips(spec.checkers, results.planes, variant_planes(vr.spec)),
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
