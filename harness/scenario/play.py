"""One variant played: its server settings and a clean start, the workload built from its kind,
the fault schedule beside it, healing and the wait for health, and the final reads; what the
variant did is kept in a :class:`VariantRun` for judging."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from harness.clients.redis_stats import StatsSampler, snapshot, wait_idle
from harness.errors import HarnessError
from harness.faults.base import Capability, FaultContext, WorkloadControl
from harness.faults.nemesis import Nemesis, wait_for
from harness.faults.schedule import plan
from harness.metrics.load import per_master_load
from harness.scenario.context import RunOptions, VariantContext
from harness.scenario.kinds import Workload, kind_of
from harness.scenario.spec import VariantSpec
from harness.topology import redis as redis_nodes
from harness.topology.deployment import Deployment, Setting
from harness.topology.mongo_health import health_problem
from harness.workload.engine import progress as live
from harness.workload.engine.openloop import DriverStats
from harness.workload.engine.progress import Snapshot


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


def apply_settings(dep: Deployment, settings: dict[str, Setting], opts: RunOptions) -> dict[str, Setting]:
    """A variant's Redis server settings (e.g. min-replicas-to-write) on every node; returns the
    values they replace, so they can be put back."""
    try:
        previous = dep.apply_redis_settings(settings)
    except HarnessError as exc:
        raise HarnessError(f"variant {exc}") from exc
    if settings:
        opts.log("redis settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
    return previous


def prepare(dep: Deployment) -> float:
    """Each variant starts from empty data, zeroed server statistics and idle nodes (the freeing
    of the previous variant's keys done, not landing in this one's first seconds). Returns the
    seconds waited."""
    dep.reset_data()
    return wait_idle({n.name: n.admin() for n in dep.redis})


def play_variant(ctx: VariantContext, settle_s: float, opts: RunOptions) -> VariantRun:
    run = VariantRun(ctx.variant, settle_s=settle_s)
    kind = kind_of(ctx.spec.workload.kind)
    workload = kind.build(ctx)
    try:
        _run_workload(ctx, workload, run, opts)
        run.final_read_failures = workload.final_reads()
        run.workload = workload.summary(run.start_ns / 1e9)
    finally:
        workload.close()  # whatever happened: nothing the variant opened is left open
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
    """After healing, the topology must be healthy again (bounded) before the final reads: the
    Redis plane by the roles its nodes have now, the MongoDB plane answering with a primary in
    every replica set (:func:`harness.topology.mongo_health.health_problem`)."""
    redis_mode = dep.topology.redis.mode if dep.topology.redis is not None else None

    def check() -> str | None:
        if redis_mode is not None:
            try:
                redis_nodes.wait_healthy(dep.redis, redis_mode, timeout_s=0.5, live_roles=True)
            except HarnessError as exc:
                return str(exc).splitlines()[0]
        return None if dep.mongo is None else health_problem(dep.mongo)

    ok, waited, problem = wait_for(check, timeout_s)
    opts.log(f"healthy again after {waited:.1f}s" if ok else f"NOT healthy after {waited:.0f}s: {problem}")
    return {"healthy": ok, "seconds": round(waited, 3), "problem": problem or None}
