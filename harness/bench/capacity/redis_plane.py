"""``harness capacity --plane redis``: one standalone ``redis-server``, capped at ``cpu_limit`` cores
(cgroup quota) so that it saturates below what the load processes can offer; the stepped search
(:mod:`harness.bench.capacity.search`) for its knee; the memory of each key class; and
``redis-cli --pipe`` replaying the same command stream into the same server at the same cap (the
ceiling the knee is compared with). Load and pipe reach the server at its own address, not through
Toxiproxy: the proxy's CPU would share this machine's cores with the load and the server.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis

from harness.bench import ingest as bench_ingest
from harness.bench.capacity.load import TICK_S, StepLoad
from harness.bench.capacity.search import SearchPlan, search
from harness.bench.suite import standalone_topology
from harness.clients.redis_keyspace import prefill, tables
from harness.clients.redis_stats import key_memory
from harness.errors import HarnessError
from harness.topology.local import deploy
from harness.topology.spec import TopologySpec
from harness.workload.redis_plane.ingest import DEFAULT_DESIGN, ingest_script

#: the key classes of the ingest path (harness.workload.model.keys), for MEMORY USAGE sampling
KEY_CLASSES = {
    "counter": "counter:*",
    "hll": "unique:*",
    "timeline": "timeline:*",
    "limiter": "ratelimit:*",
}
PIPE_RUNS = 5  # the pipe's own rate varied 23.5k-25.7k events/s run to run at 0.5 core (filled keyspace)
#: filler keys before the search: past 2^20, so both keyspace tables grow to 2^21 buckets while
#: filling and a search and pipe at the defaults (about 320k new keys, measured) never double them
#: (:mod:`harness.clients.redis_keyspace` says why that matters)
PREFILL_KEYS = 1_100_000
FILLER_TTL_S = 86_400  # outlives any run; the filler must not expire (and cost) during the steps
#: the topologies' 512 MB (sized for fault scenarios) is below a search's dataset plus the filler:
#: 537 MB was seen, the pipe's commands were refused with OOM, cost the server 18% less and put its
#: 'ceiling' at 30k events/s. 4 GB is far above a run at the defaults (about 0.55 GB) and well
#: inside this machine's 24 GB; noeviction stays, so running out still shows as errors
MAXMEMORY = "4gb"


@dataclass(frozen=True)
class RedisCapacity:
    cpu_limit: float | None  # cores; None: uncapped (one Redis thread: a cap of 1.0 in the judgement)
    workers: int
    seed: int
    plan: SearchPlan
    locust_workers: int = 0  # measure Locust's scaling with 1..this many workers (0: not)
    locust_seconds: float = 5.0
    locust_cpu_limit: float = 1.0  # the server's cap then: far above what the workers can offer
    locust_worker_cpu: float | None = 0.4  # each Locust worker's cap (one machine's worth); None: none
    prefill_keys: int = PREFILL_KEYS  # filler keys before the search (0: start empty)


def run(
    opts: RedisCapacity, run_dir: Path, run_id: str, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Brings the server up, searches, measures memory and the pipe ceiling, tears down."""
    log(f"bringing up one redis-server (cpu limit {opts.cpu_limit or 'none'} cores)")
    # Loopback, no network namespace: a capacity run needs no partitions. Seen twice here at a run
    # bridge's address while other runs came and went: a step's INFO answered with the server's CPU
    # going backwards, then an HTTP reply (cause not found; none of the later runs on loopback did).
    with deploy(capacity_topology(), run_dir, run_id, cpu_limit=opts.cpu_limit, hosts="loopback") as dep:
        if opts.cpu_limit is not None and not dep.capacity.get("applied"):
            raise HarnessError(
                f"--cpu-limit {opts.cpu_limit:g}: cgroup CPU limits are not available here "
                f"({dep.capacity.get('reason')}); run as root with cgroups, or give --cpu-limit 0 for none"
            )
        node = dep.redis[0]
        addr = (node.host.address, node.port)
        admin = redis.Redis(host=addr[0], port=addr[1], socket_timeout=60, decode_responses=True)
        try:
            return _measure(admin, addr, opts, dep.capacity, log)
        finally:
            admin.close()


def capacity_topology() -> TopologySpec:
    """The bench's standalone server with room for the search's dataset and the filler."""
    spec = standalone_topology()
    assert spec.redis is not None
    settings = dict(spec.redis.settings) | {"maxmemory": MAXMEMORY}
    return spec.model_copy(update={"redis": spec.redis.model_copy(update={"settings": settings})})


def _measure(
    admin: redis.Redis,
    addr: tuple[str, int],
    opts: RedisCapacity,
    capacity: dict[str, Any],
    log: Callable[[str], None],
) -> dict[str, Any]:
    version = str(admin.info("server")["redis_version"])
    admin.flushall()
    filler = _prefill(admin, opts.prefill_keys, log)
    admin.config_resetstat()
    sha = str(admin.script_load(ingest_script(DEFAULT_DESIGN)))
    base = StepLoad(addr, sha, 0.0, 0.0, opts.plan.step_seconds, opts.workers, opts.seed, 0)
    steps, knee = search(admin, base, opts.plan, log)
    memory = key_memory(admin, KEY_CLASSES)
    info = admin.info("memory")
    memory["dataset"] = {  # the workload's own: the filler's keys and memory taken out
        "used_memory": int(info["used_memory"]) - int(filler.get("used_memory", 0)),
        "keys": int(admin.dbsize()) - int(filler.get("keys", 0)),
    }
    # error replies by kind (OOM, NOSCRIPT...): the steps count errors but not why. Not ERR: every
    # redis-py connection sends CLIENT SETINFO twice, which Redis 7.0 answers with ERR (4 a step)
    stats = admin.info("errorstats")
    search_errors = {k.removeprefix("errorstat_"): v for k, v in stats.items() if k != "errorstat_ERR"}
    if search_errors:
        log(f"the server replied with errors during the search: {search_errors}")
    pipe = pipe_ceiling(admin, addr, opts.plan, log)
    return {
        "search_errors": search_errors,
        "keyspace": keyspace_end(admin, filler),
        "server": f"redis-server {version}",
        "capacity": capacity,
        "address": "direct address on loopback (no Toxiproxy, no network namespace)",
        "tick_ms": TICK_S * 1000,
        "stream": (
            "the platform's Redis ingest path per event (harness.workload.redis_plane.ingest, design "
            f"{DEFAULT_DESIGN}): the limiter script, then INCR+EXPIRE counter, PFADD hourly users, "
            "ZADD+ZREMRANGEBYRANK+EXPIRE timeline; every event admitted; 10,000 tenants, Zipf 0.8, "
            "a whale at 40%"
        ),
        "steps": steps,
        "knee": knee.to_dict(),
        "memory": memory,
        "pipe": pipe,
        "plan": asdict(opts.plan),
    }


def _prefill(admin: redis.Redis, keys: int, log: Callable[[str], None]) -> dict[str, Any]:
    if keys <= 0:
        return {
            "keys": 0,
            "note": "started empty (--prefill-keys 0): the keyspace's tables double during the search",
        }
    log(f"filling the keyspace with {keys:,} filler keys (TTL {FILLER_TTL_S // 3600} h) before the search")
    filler = prefill(admin, keys, FILLER_TTL_S)
    main = filler["tables"]["main"]["buckets"]
    state = {True: "settled", False: "STILL REHASHING", None: "state unknown on this version"}[
        filler["settled"]
    ]
    log(
        f"filled in {filler['seconds']:g} s: {filler['used_memory'] / 1e6:,.0f} MB, "
        f"main table {main or '?'} buckets, {state} after {filler['sweeps']} sweep(s)"
    )
    return filler


def keyspace_end(admin: redis.Redis, filler: dict[str, Any]) -> dict[str, Any]:
    """The filler and the tables at the end: whether they grew during the measured run (then one
    step's or pipe run's CPU per event includes a rehash, and the results say so)."""
    end = {k: t.to_dict() for k, t in tables(admin).items()}
    before = (filler.get("tables") or {}).get("main", {}).get("buckets")
    after = end["main"]["buckets"]
    grew = None if before is None or after is None else after > before
    note = ""
    if grew:
        note = (
            f"the main table grew from {before:,} to {after:,} buckets during the run: a step or pipe "
            "run paid its rehash; raise --prefill-keys past the next power of two"
        )
    return {"filler": filler, "end": {"keys": int(admin.dbsize()), "tables": end}, "grew": grew, "note": note}


def pipe_ceiling(
    admin: redis.Redis, addr: tuple[str, int], plan: SearchPlan, log: Callable[[str], None]
) -> dict[str, Any]:
    """``redis-cli --pipe`` replaying the same stream (one worker's, every event admitted) into the
    same server at the same cap, ``PIPE_RUNS`` times: every run's events/s and the median. The
    server keeps the search's keys (no flush), so both meet the same keyspace rather than the pipe
    an empty one."""
    events = max(20_000, int(plan.max_rate * 3))
    runs = []
    for i in range(PIPE_RUNS):
        path = Path(os.environ.get("TMPDIR", "/tmp")) / f"capacity-pipe-{os.getpid()}-{i}.resp"
        r = bench_ingest.redis_cli_pipe(
            admin,
            addr,
            events,
            bench_ingest.ingest_stream(admin, addr, 1, events),
            path,
            timeout_s=600,
            flush=False,
        )
        if "events_per_s" not in r:
            log(f"redis-cli --pipe: {r.get('reason')}")
            return {"status": "not_run", "reason": r.get("reason"), "events": events}
        log(f"redis-cli --pipe run {i + 1}/{PIPE_RUNS}: {r['events_per_s']:,.0f} events/s ({r['output']})")
        if r["first_errors"]:
            log(f"  its first error replies: {r['first_errors']}")
        runs.append(r)
    rates = [float(r["events_per_s"]) for r in runs]
    return {
        "status": "ran",
        "events": events,
        "runs_events_per_s": rates,
        "events_per_s": statistics.median(rates),
        "errors_free": all(r["errors_free"] for r in runs),
        "first_errors": next((r["first_errors"] for r in runs if r["first_errors"]), []),
        "server_cpu_us_per_event": statistics.median(float(r["server_cpu_us_per_event"]) for r in runs),
    }
