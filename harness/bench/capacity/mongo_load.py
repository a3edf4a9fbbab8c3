"""One step of MongoDB-plane (or whole-platform) load from several processes, run by
:func:`harness.bench.capacity.load.run_step` with :func:`worker`: each process sends open loop at
its share of the step's rate, every 30 ms tick (or sooner when ``TICK_BATCH`` are due, as the Redis
plane's load does), and each batch goes

* ``mongo``: through the platform's MongoDB ingest path, :class:`MongoIngestor` (unordered
  ``insert_many`` into ``events`` with the platform's indexes, ``w: 1``);
* ``platform``: through the Redis ingest path first (:class:`RedisIngestor`, as the Redis plane's
  load), then the admitted events through :class:`MongoIngestor`, as the platform's ingestion
  service does (``harness.workload.platform.driver``). An event's latency runs from its scheduled
  time until its batch's MongoDB insert returned.

``closed``: flat out instead, batches of ``closed_batch`` (500, the largest the open loop sends
when behind) back to back for ``seconds`` (the ceiling a knee is compared with). The ingestor's
ops go to a history recorder writing to ``/dev/null``: its cost is the load's, reported as the
load's CPU."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from harness.bench.capacity.load import MAX_BATCH, MIX, SLACK_S, Address, open_loop_share, runqueue_wait_s
from harness.clients.redis_router import SlotRouter
from harness.clock import RunClock, seeded_random
from harness.history.recorder import HistoryRecorder
from harness.metrics.hdr import LatencyHistograms
from harness.workload.engine.openloop import DriverStats
from harness.workload.model.generator import EventGenerator
from harness.workload.model.keys import KeyScheme
from harness.workload.model.tenants import TenantPicker
from harness.workload.mongo_plane.ingest import MongoIngestConfig, MongoIngestor
from harness.workload.redis_plane.ingest import RedisIngestConfig, RedisIngestor


@dataclass(frozen=True)
class MongoStepLoad:
    mongo: str  # "host:port" of the MongoDB-plane server, direct (no proxy)
    rate: float  # the whole step's offered events/s, shared evenly by the workers
    seconds: float
    drain_s: float
    workers: int
    seed: int
    step: int
    redis: Address | None = None  # platform: the Redis ingest path first, at this address
    sha: str = ""  # the loaded limiter script (platform)
    closed: bool = False  # flat out: batches of ``closed_batch`` back to back
    closed_batch: int = MAX_BATCH  # the largest batch the open loop sends when behind


@dataclass
class _Paths:
    """A load process's clients: the MongoDB ingest path and, for the platform, the Redis one."""

    client: MongoClient[dict[str, Any]]
    rec: HistoryRecorder
    mongo: MongoIngestor
    router: SlotRouter | None = None
    ring: RedisIngestor | None = None

    def close(self) -> None:
        self.rec.close()
        self.client.close()
        if self.router is not None:
            self.router.close()

    def errors(self) -> int:
        n = self.mongo.stats.final["fail"] + self.mongo.stats.final["info"]
        if self.ring is not None:
            s = self.ring.stats
            n += s.outcomes["fail"] + s.outcomes["info"] + s.effects["fail"] + s.effects["info"]
        return n


def _paths(load: MongoStepLoad, clock: RunClock) -> _Paths:
    client: MongoClient[dict[str, Any]] = MongoClient(
        load.mongo, directConnection=True, serverSelectionTimeoutMS=10_000, socketTimeoutMS=120_000
    )
    rec = HistoryRecorder(Path(os.devnull), clock, flush_every=1 << 16)
    mongo = MongoIngestor(
        client, rec, clock, MongoIngestConfig(batch_size=MAX_BATCH, record_docs=False), "capacity"
    )
    if load.redis is None:
        return _Paths(client, rec, mongo)
    router = SlotRouter([load.redis], cluster=False, now_ns=clock.now_ns)
    # The limit far above the load: every event does the whole work (the worst case per event).
    ring = RedisIngestor(
        router,
        None,
        clock,
        KeyScheme({}),
        RedisIngestConfig(limit=10**9, window_ms=1000),
        "capacity",
        load.sha,
    )
    return _Paths(client, rec, mongo, router, ring)


def worker(load: MongoStepLoad, idx: int, barrier: Any, out: Any) -> None:
    """One load process (:func:`harness.bench.capacity.load.run_step` forks them): open loop at its
    share of the rate (or flat out when ``load.closed``); reports as the Redis plane's worker."""
    clock = RunClock()
    paths = _paths(load, clock)
    stream = f"{load.step}-{idx}"
    gen = EventGenerator(
        TenantPicker(MIX, seeded_random(load.seed, f"tenants-{stream}")),
        seeded_random(load.seed, f"events-{stream}"),
    )
    hdr = LatencyHistograms()
    stats = DriverStats()
    sent = 0

    def send(first: int, sched: list[int], _backlog: list[Any]) -> None:
        nonlocal sent
        wall = clock.wall_ms_at
        events = gen.batch(first, [wall(s) for s in sched])
        ring = paths.ring
        admitted = range(len(events)) if ring is None else ring.ingest(events, sched).admitted()
        paths.mongo.write([events[i] for i in admitted], [sched[i] for i in admitted])
        done = clock.now_ns()
        hdr.record_many("event", sched, [done] * len(sched))
        sent += len(events)

    barrier.wait(timeout=SLACK_S)
    cpu0, wait0 = time.process_time(), runqueue_wait_s()
    if load.closed:
        t0 = time.monotonic()
        while time.monotonic() - t0 < load.seconds:
            send(sent, [clock.now_ns()] * load.closed_batch, [])
        stats.elapsed_s = time.monotonic() - t0
    else:
        open_loop_share(clock, load, stats, send)
    cpu, waited = time.process_time() - cpu0, runqueue_wait_s() - wait0
    paths.close()
    out.put(
        {
            "worker": idx,
            "events": sent,
            "mongo_inserted": paths.mongo.stats.final["ok"],
            "elapsed_s": stats.elapsed_s,
            "unsent": stats.unsent,
            "errors": paths.errors(),
            "max_lag_s": stats.max_lag_s,
            "cpu_s": cpu,
            "runqueue_wait_s": waited,
            "hdr": hdr.to_dict(),
        }
    )
