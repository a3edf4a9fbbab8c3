"""The stepped open-loop search: offered rates rising in coarse steps until two steps in a row fail,
then finer steps between the last pass and the first failure, then repeats of the knee's rate, of
each failure below it and of the first failure above it until each has ``confirm_runs`` runs (a
rate passes by majority); each step measured from the server's own statistics (``INFO`` deltas ÷
events applied) and judged by :func:`judge_knee`."""

from __future__ import annotations

import math
import queue
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import redis

from harness.bench.capacity.load import StepLoad, run_step
from harness.clients.redis_stats import Totals, totals
from harness.errors import HarnessError
from harness.metrics.knee import Knee, Step, judge_knee, step_failures


@dataclass(frozen=True)
class SearchPlan:
    max_rate: float
    step_seconds: float
    slo_p99_ms: float
    cpu_cap_cores: float  # the server's cgroup quota, or 1.0 (one Redis thread) uncapped
    coarse_steps: int = 10
    refine_steps: int = 4
    warmup_s: float = 2.0
    confirm_runs: int = 3  # runs the knee's rate, each transient failure and the first failure need
    confirm_rounds: int = 3  # repeat rounds at most (a rate that fails on repeat moves the knee)


def step_figures(load: Any, res: dict[str, Any], cpu_cores: float) -> dict[str, Any]:
    """What every plane's step reports, from the merged load result ``res`` (:func:`measure_step`
    adds the Redis server's figures per event); ``cpu_cores``: the server CPU the judgement sees."""
    events, wall = res["events"], res["elapsed_s"]
    per = max(events, 1)
    lat = res["latency_ms"]
    return {
        "step": load.step,
        "offered": round(load.rate, 1),
        "achieved": round(events / wall, 1) if wall > 0 else 0.0,
        "p50_ms": lat.get("p50"),
        "p99_ms": lat.get("p99"),
        "max_ms": lat.get("max"),
        "server_cpu_cores": round(cpu_cores, 4),
        "events": events,
        "seconds": round(wall, 3),
        "unsent": res["unsent"],
        "errors": res["errors"],
        "max_lag_ms": res["max_lag_ms"],
        "workers": load.workers,
        "load_cpu_us_per_event": round(res["load_cpu_s"] / per * 1e6, 2),
        "load_starved": round(res["load_runqueue_wait_s"] / (load.workers * wall), 3) if wall > 0 else 0.0,
        "load_busy": round(res["load_cpu_s"] / (load.workers * wall), 3) if wall > 0 else 0.0,
    }


def bounded_step(load: Any, on_start: Callable[[], None], worker: Any = None) -> dict[str, Any]:
    """:func:`run_step` (with ``worker``, another plane's, when given), a worker that never reports
    within the step's bound an error naming the step."""
    try:
        return run_step(load, on_start) if worker is None else run_step(load, on_start, worker=worker)
    except queue.Empty as exc:
        raise HarnessError(
            f"capacity step {load.step}: a load worker did not report within its bound "
            f"({load.seconds + load.drain_s:g} s + slack); see its traceback above"
        ) from exc


def measure_step(admin: redis.Redis, load: StepLoad) -> dict[str, Any]:
    """One step of ``load``; its figures per event from the server's counters around it."""
    before: list[Totals] = []
    res = bounded_step(load, lambda: before.append(totals(admin)))
    delta = totals(admin).minus(before[0])
    wall = res["elapsed_s"]
    per = max(res["events"], 1)
    return step_figures(load, res, delta["cpu_s"] / wall if wall > 0 else 0.0) | {
        "per_event": {
            "ops": round(delta["data_calls"] / per, 3),
            "net_in_bytes": round(delta["net_in_bytes"] / per, 1),
            "net_out_bytes": round(delta["net_out_bytes"] / per, 1),
            "server_cpu_us": round(delta["cpu_s"] / per * 1e6, 2),
            "memory_bytes": round(delta["used_memory"] / per, 1),
            "new_keys": round(delta["keys"] / per, 4),
        },
    }


class StepServer(Protocol):
    """What the search needs of a plane: an unmeasured warm-up step, and one measured step's
    figures (the keys :func:`measure_step` returns) from that plane's own server statistics."""

    def warm(self, load: Any) -> None: ...

    def measure(self, load: Any) -> dict[str, Any]: ...


@dataclass(frozen=True)
class RedisSteps:
    admin: redis.Redis

    def warm(self, load: StepLoad) -> None:
        run_step(load, lambda: None)

    def measure(self, load: StepLoad) -> dict[str, Any]:
        return measure_step(self.admin, load)


def _failed(step: dict[str, Any], plan: SearchPlan) -> bool:
    return bool(step_failures(Step.from_dict(step), plan.slo_p99_ms))


def search(
    admin: redis.Redis | StepServer, base: Any, plan: SearchPlan, log: Callable[[str], None] = print
) -> tuple[list[dict[str, Any]], Knee]:
    """Runs the search; ``base`` gives everything of a step but its rate and number; ``admin``: a
    Redis server's admin client, or another plane's :class:`StepServer`."""
    server = RedisSteps(admin) if isinstance(admin, redis.Redis) else admin
    if plan.warmup_s > 0:  # connections, script cache and first keys: not measured
        server.warm(replace(base, rate=plan.max_rate / plan.coarse_steps, seconds=plan.warmup_s, step=0))
    steps: list[dict[str, Any]] = []

    def step(rate: float) -> dict[str, Any]:
        s = server.measure(replace(base, rate=rate, seconds=plan.step_seconds, step=len(steps) + 1))
        steps.append(s)
        why = step_failures(Step.from_dict(s), plan.slo_p99_ms)
        log(
            f"step {s['step']}: offered {s['offered']:,.0f}/s, achieved {s['achieved']:,.0f}/s, "
            f"p99 {s['p99_ms']} ms, server CPU {s['server_cpu_cores']:.3f} of {plan.cpu_cap_cores:g} "
            f"cores, load waited {s['load_starved']:.0%} for a CPU: "
            f"{'pass' if not why else 'FAIL (' + '; '.join(why) + ')'}"
        )
        return s

    for i in range(1, plan.coarse_steps + 1):
        step(plan.max_rate * i / plan.coarse_steps)
        if len(steps) >= 2 and _failed(steps[-1], plan) and _failed(steps[-2], plan):
            break
    knee = judge(steps, plan)
    # Refining again after each round of repeats: a knee that fails on repeat falls to the rate
    # below, which may be a coarse step away from the first failure (seen: 24,000 failed 2 of 3
    # after the fine steps had gone above it, and the knee fell to 20,000 with nothing between).
    for rnd in range(plan.confirm_rounds + 1):
        gap = gap_rates(knee, plan)
        for rate in gap:
            step(rate)
        knee = judge(steps, plan) if gap else knee
        if not knee.unconfirmed or rnd == plan.confirm_rounds:
            break
        for need in knee.unconfirmed:
            log(f"repeating {need['offered']:,.0f}/s {need['missing']} more time(s) to confirm the knee")
            for _ in range(need["missing"]):
                step(float(need["offered"]))
        knee = judge(steps, plan)
    if knee.unconfirmed:
        short = ", ".join(f"{u['offered']:,.0f}/s" for u in knee.unconfirmed)
        knee.note = (knee.note + "; " if knee.note else "") + (
            f"not confirmed: rates short of {plan.confirm_runs} runs after {plan.confirm_rounds} "
            f"rounds of repeats: {short}"
        )
    return steps, knee


def gap_rates(knee: Knee, plan: SearchPlan) -> list[float]:
    """Rates to run between a found knee and the first failure above it when they are further
    apart than the fine spacing (a coarse step ÷ (``refine_steps`` + 1)): evenly spaced, at most
    ``refine_steps`` of them. Empty when they are adjacent at that spacing."""
    if knee.status != "found" or knee.knee_rate is None or knee.first_failure is None:
        return []
    lo, hi = knee.knee_rate, float(knee.first_failure["offered"])
    spacing = plan.max_rate / plan.coarse_steps / (plan.refine_steps + 1)
    n = min(plan.refine_steps, math.ceil((hi - lo) / spacing - 1e-6) - 1)
    return [lo + (hi - lo) * j / (n + 1) for j in range(1, n + 1)]


def judge(steps: list[dict[str, Any]], plan: SearchPlan) -> Knee:
    return judge_knee(
        [Step.from_dict(s) for s in steps],
        slo_p99_ms=plan.slo_p99_ms,
        cpu_cap_cores=plan.cpu_cap_cores,
        confirm_runs=plan.confirm_runs,
    )
