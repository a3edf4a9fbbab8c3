"""One step of offered load from several processes: each runs the platform's Redis ingest path
(:class:`RedisIngestor`, the limiter then the six side-effect commands per admitted event) open
loop at its share of the step's rate, and reports what it achieved, its latency histogram (from
each event's scheduled time, so queueing counts) and its own CPU.

Several processes because one Python process tops out below what a Redis server can take (README
"Benchmarks"): the knee must be the server's, and each process's CPU per event is reported so the
load's own ceiling can be stated beside it.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.clients.redis_router import SlotRouter
from harness.clock import RunClock, seeded_random
from harness.metrics.hdr import LatencyHistograms
from harness.workload.engine.openloop import DriverStats, run_open_loop
from harness.workload.model.generator import EventGenerator
from harness.workload.model.keys import KeyScheme
from harness.workload.model.tenants import TenantMix, TenantPicker
from harness.workload.redis_plane.ingest import RedisIngestConfig, RedisIngestor

Address = tuple[str, int]
#: the bench's tenant mix: 10,000 tenants, Zipf s = 0.8, a whale sending 40%
MIX = TenantMix(10_000, 0.8, "whale", 0.4)
MAX_BATCH = 500
#: each load process sends what fell due every 30 ms (an ingest service's flush interval): without
#: it a low rate goes out an event or two at a time and costs the server 3x the CPU per event of a
#: high one (measured), so the server's cost would depend on the offered rate, not only its work
TICK_S = 0.03
#: ... unless this many are due already: at a high rate waiting for the tick would only idle the
#: server between bursts (measured: the knee fell from 0.96 to 0.75-0.83 of the pipe's ceiling).
#: Batches this deep cost the server what the pipe's do (19.9 vs 19.4 us an event); batches of 50
#: every 10 ms cost 24.6, and the knee stayed at 0.70-0.72 of the pipe's on a quiet machine.
TICK_BATCH = 150
#: how long a worker may wait at the start barrier or for its result beyond the step's own bound
SLACK_S = 30.0


def runqueue_wait_s() -> float:
    """Seconds this process has waited for a CPU while runnable (``/proc/self/schedstat``, field
    2); 0 where the kernel does not keep it. A load process that waits a lot was starved by the
    machine, not slowed by the server."""
    try:
        return int(Path("/proc/self/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


@dataclass(frozen=True)
class StepLoad:
    addr: Address
    sha: str  # the loaded limiter script
    rate: float  # the whole step's offered events/s, shared evenly by the workers
    seconds: float
    drain_s: float
    workers: int
    seed: int
    step: int  # seeds each step's events apart


def open_loop_share(clock: RunClock, load: Any, stats: DriverStats, send: Any) -> None:
    """One load process's share of the step (``load.rate / load.workers``), open loop, sent in the
    capacity search's ticks (:data:`TICK_S`, :data:`TICK_BATCH`); every plane's worker runs it."""
    run_open_loop(
        clock,
        rate=load.rate / load.workers,
        duration_s=load.seconds,
        drain_s=load.drain_s,
        max_batch=MAX_BATCH,
        stats=stats,
        send=send,
        tick_s=TICK_S,
        tick_batch=TICK_BATCH,
    )


def _worker(load: StepLoad, idx: int, barrier: Any, out: Any) -> None:
    clock = RunClock()
    router = SlotRouter([load.addr], cluster=False, now_ns=clock.now_ns)
    # The limit far above the load: every event does the whole work (the worst case per event).
    ing = RedisIngestor(
        router,
        None,
        clock,
        KeyScheme({}),
        RedisIngestConfig(limit=10**9, window_ms=1000),
        "capacity",
        load.sha,
    )
    stream = f"{load.step}-{idx}"
    gen = EventGenerator(
        TenantPicker(MIX, seeded_random(load.seed, f"tenants-{stream}")),
        seeded_random(load.seed, f"events-{stream}"),
    )
    hdr = LatencyHistograms()
    stats = DriverStats()

    def send(first: int, sched: list[int], _backlog: list[Any]) -> None:
        wall = clock.wall_ms_at
        res = ing.ingest(gen.batch(first, [wall(s) for s in sched]), sched)
        hdr.record_many("event", sched, res.done_ns)

    barrier.wait(timeout=SLACK_S)
    cpu0, wait0 = time.process_time(), runqueue_wait_s()
    open_loop_share(clock, load, stats, send)
    cpu, waited = time.process_time() - cpu0, runqueue_wait_s() - wait0
    router.close()
    s = ing.stats
    out.put(
        {
            "worker": idx,
            "events": s.events,
            "elapsed_s": stats.elapsed_s,
            "unsent": stats.unsent,
            "errors": s.outcomes["fail"] + s.outcomes["info"] + s.effects["fail"] + s.effects["info"],
            "max_lag_s": stats.max_lag_s,
            "cpu_s": cpu,
            "runqueue_wait_s": waited,
            "hdr": hdr.to_dict(),
        }
    )


def run_step(load: Any, on_start: Any, worker: Any = _worker) -> dict[str, Any]:
    """Forks the workers, calls ``on_start()`` as they are released together, and returns the
    step's totals: events, wall seconds (the slowest worker), unsent, errors, merged latency
    summary, and the workers' CPU seconds. ``worker(load, idx, barrier, out)``: :func:`_worker`,
    or another plane's with the same report."""
    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(load.workers + 1), ctx.Queue()
    procs = [
        ctx.Process(target=worker, args=(load, i, barrier, out), daemon=True) for i in range(load.workers)
    ]
    for p in procs:
        p.start()
    try:
        barrier.wait(timeout=SLACK_S)
        on_start()
        bound = load.seconds + load.drain_s + SLACK_S
        results = [out.get(timeout=bound) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():  # a worker stuck past every bound: stopped, never left behind
                p.kill()
                p.join(timeout=5)
    hist = LatencyHistograms()
    for r in results:
        hist.merge(LatencyHistograms.from_dict(r["hdr"]))
    lat = hist.summary().get("event", {})
    return {
        "events": sum(r["events"] for r in results),
        "elapsed_s": max(r["elapsed_s"] for r in results),
        "unsent": sum(r["unsent"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "max_lag_ms": round(max(r["max_lag_s"] for r in results) * 1000, 1),
        "load_cpu_s": sum(r["cpu_s"] for r in results),
        "load_runqueue_wait_s": sum(r["runqueue_wait_s"] for r in results),
        "latency_ms": lat,
    }
