"""One rehearsal while the topology is up: the platform workload on a thread, the nemesis taking
the operator's faults, the sampler and alert board once a second, the dashboard a few times a
second; then, however it ends (``q``, Ctrl-C, the script's end, the maximum duration, a terminal's
``--end``), every fault healed, the workload stopped and its final reads done."""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live

from harness.clock import RunClock
from harness.errors import HarnessError
from harness.faults.base import Capability, FaultContext
from harness.faults.nemesis import Nemesis
from harness.history.recorder import HistoryRecorder
from harness.metrics.alerts import scaled
from harness.metrics.live import LiveFigures
from harness.rehearsal.board import Board
from harness.rehearsal.dashboard import View, render
from harness.rehearsal.keys import keys
from harness.rehearsal.operator import Operator
from harness.rehearsal.plan import RehearsalOptions
from harness.rehearsal.sampler import Sampler, why_not_measured
from harness.scenario.context import VariantContext
from harness.scenario.kinds import Workload, kind_of
from harness.scenario.play import prepare
from harness.scenario.spec import ScenarioSpec
from harness.topology import redis as redis_nodes
from harness.topology.deployment import Deployment
from harness.workload.engine.openloop import DriverStats

REFRESH_S = 0.25


@dataclass
class Played:
    """What the rehearsal did, for judging and the report."""

    board: Board
    operator: Operator | None = None
    stats: DriverStats | None = None
    end_reason: str = "not started"
    end_s: float = 0.0
    faults: list[dict[str, Any]] = field(default_factory=list)
    healthy_again: str | None = None
    final_read_failures: int = 0
    workload: dict[str, Any] = field(default_factory=dict)


@dataclass
class Loop:
    """The parts of a running rehearsal the main loop steps."""

    opts: RehearsalOptions
    dep: Deployment
    clock: RunClock
    operator: Operator
    sampler: Sampler
    board: Board
    played: Played
    duration_s: float
    run_id: str
    workload_done: threading.Event
    steps_done: int = 0

    def view(self, now: float) -> View:
        live = self.sampler.live
        t_run = self.clock.now_s()
        last = self.board.series[-1] if self.board.series else {}
        return View(
            topology=self.dep.topology.name,
            run_id=self.run_id,
            t_s=now,
            end_s=self.duration_s,
            offered=self.opts.rate,
            ingest_rate=live.rate("ingest", "ingest_rl", t_run, 1),
            query_p99_s=live.latency_p99(("query", "cache", "ryw"), t_run, 1),
            errors=live.by_op(t_run, 5),
            lag=dict(last.get("redis_replica_lag_s", {})),
            firing=self.board.firing(),
            pending=self.board.pending(),
            rules=len(self.board.rules),
            for_scale=self.opts.for_scale,
            active=[
                f"{r.planned.fault} {r.planned.target or ''}".strip() for r in self.operator.nemesis.active()
            ],
            actions=self.operator.actions,
            scripted=self.opts.script is not None,
        )

    def step(self, typed: str) -> str | None:
        """One pass: requests, due script steps, keys. Returns why to end, if so."""
        op, now = self.operator, self.operator.now_s()
        op.serve()
        script = self.opts.script
        while (
            script is not None
            and self.steps_done < len(script.steps)
            and script.steps[self.steps_done].at_s <= now
        ):
            s = script.steps[self.steps_done]
            self.steps_done += 1
            if s.heal:
                op.heal("script")
            else:
                op.fault(str(s.fault), s.target, dict(s.params), "script")
        if "q" in typed.lower():
            return "ended by the operator (q)"
        if op.end_requested:
            return op.end_requested
        if script is not None and now >= script.end_s:
            return f"the rehearsal file's end ({script.end_s:g} s)"
        if self.workload_done.is_set():
            return f"the maximum duration ({self.duration_s:g} s)"
        return None


def sample_loop(loop: Loop, stop: threading.Event) -> None:
    """Once a second: a sample, fed to the alert board. On a thread of its own: a paused node's
    INFO waits for its socket timeout (2 s), which must not freeze the dashboard or the control."""
    next_at = time.monotonic()
    while not stop.is_set():
        try:
            loop.board.feed(loop.operator.now_s(), loop.sampler.tick(loop.clock.now_s()))
        except Exception as exc:  # a sample not taken is missing, and the report says why
            loop.board.errors.append(f"{loop.operator.now_s():.1f} s: {type(exc).__name__}: {exc}")
        next_at += 1.0
        stop.wait(max(0.0, next_at - time.monotonic()))


def run_loop(loop: Loop, console: Console) -> None:
    """Steps ``loop`` and redraws the dashboard until it says to end, or Ctrl-C."""
    played = loop.played
    played.end_reason = "interrupted (Ctrl-C)"  # unless the loop ends by itself
    with (
        keys() as k,
        Live(render(loop.view(0.0)), console=console, refresh_per_second=4, transient=False) as screen,
    ):
        while True:
            why = loop.step(k.read())
            screen.update(render(loop.view(loop.operator.now_s())))
            if why is not None:
                played.end_reason = why
                return
            time.sleep(REFRESH_S)


def play(
    opts: RehearsalOptions,
    spec: ScenarioSpec,
    dep: Deployment,
    rec: HistoryRecorder,
    clock: RunClock,
    live: LiveFigures,
    control_dir: Path,
    run_id: str,
    duration_s: float,
    console: Console,
    played: Played,
) -> None:
    """Plays the rehearsal into ``played`` (filled as it goes, so an interrupted one keeps what it did)."""
    played.board.why_not = why_not_measured(dep)
    prepare(dep)
    variant = spec.variants[0]
    ctx = VariantContext.start(
        dep,
        spec,
        variant,
        rec,
        clock,
        seed=opts.seed,
        duration_s=duration_s,
        profile=spec.workload.rate_profile(None),
        log=lambda _m: None,
    )
    workload = kind_of(spec.workload.kind).build(ctx)
    try:
        _play_built(opts, ctx, workload, played, live, control_dir, run_id, console)
    finally:
        workload.close()


def _play_built(
    opts: RehearsalOptions,
    ctx: VariantContext,
    workload: Workload,
    played: Played,
    live: LiveFigures,
    control_dir: Path,
    run_id: str,
    console: Console,
) -> None:
    dep, clock = ctx.dep, ctx.clock
    control = workload.control()
    rng = ctx.random("faults")
    caps = frozenset(Capability(c) for c in dep.capabilities()) | (
        {Capability.WORKLOAD} if control else set()
    )
    nemesis = Nemesis(
        [],
        ctx.recorder,
        clock,
        make_ctx=lambda: FaultContext(dep=dep, rng=rng, workload=control),
        capabilities=caps,
        variant=ctx.name,
    )
    done = threading.Event()

    def run() -> None:
        try:
            played.stats = workload.run(lambda _s, _f: None)
        finally:
            done.set()

    nemesis.start()
    played.operator = operator = Operator(nemesis, dep, control_dir)
    sampler = Sampler(dep, live, opts.rate, max(1.0, scaled(300, opts.for_scale)))
    thread = threading.Thread(target=run, name="rehearsal-workload", daemon=True)
    thread.start()
    loop = Loop(opts, dep, clock, operator, sampler, played.board, played, ctx.duration_s, run_id, done)
    stop_sampling = threading.Event()
    sampling = threading.Thread(target=sample_loop, args=(loop, stop_sampling), name="sampler", daemon=True)
    sampling.start()
    try:
        run_loop(loop, console)
    finally:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut this short
        try:
            stop_sampling.set()
            sampling.join(timeout=30)
            _wind_down(played, operator, nemesis, workload, sampler, clock, thread, dep)
        finally:
            signal.signal(signal.SIGINT, previous)


def _wind_down(
    played: Played,
    operator: Operator,
    nemesis: Nemesis,
    workload: Workload,
    sampler: Sampler,
    clock: RunClock,
    thread: threading.Thread,
    dep: Deployment,
) -> None:
    """Every fault healed, the workload stopped, the topology healthy again, the final reads."""
    played.end_s = operator.now_s()
    if nemesis.active():
        operator.heal("end")  # always healed, and the timeline says when
    clock.halt.set()
    thread.join(timeout=120)
    played.faults = [r.to_dict() for r in nemesis.stop()]
    workload.stop_background()
    sampler.close()
    played.healthy_again = _healthy_again(dep)
    played.final_read_failures = workload.final_reads()
    played.workload = workload.summary(0.0)


def _healthy_again(dep: Deployment, timeout_s: float = 60.0) -> str | None:
    """None once the Redis plane is healthy by the roles its nodes have now, else what is wrong."""
    if dep.topology.redis is None:
        return None
    try:
        redis_nodes.wait_healthy(dep.redis, dep.topology.redis.mode, timeout_s=timeout_s, live_roles=True)
    except HarnessError as exc:
        return str(exc).splitlines()[0]
    return None
