"""``harness capacity --plane platform``: the whole ingest per event, the Redis ingest path then
the MongoDB insert of the admitted events (:mod:`harness.bench.capacity.mongo_load`), into one
``redis-server`` and one MongoDB-plane server (``mongod`` where found, else FerretDB on SQLite),
each capped at ``cpu_limit`` cores; the stepped search for the knee of the whole, and which server
saturated first (each one's CPU against its own cap: :mod:`harness.metrics.bottleneck`), named in
the judgement. Redis figures from ``INFO`` (as the Redis plane), MongoDB-plane figures as
:mod:`harness.bench.capacity.mongo_plane` reads them."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import redis

from harness.bench.capacity import mongo_plane
from harness.bench.capacity.load import TICK_S, run_step
from harness.bench.capacity.mongo_load import MongoStepLoad, worker
from harness.bench.capacity.redis_plane import RedisCapacity
from harness.bench.capacity.search import SearchPlan, search, step_figures
from harness.bench.mongo_ingest import standalone_mongo
from harness.bench.suite import standalone_topology
from harness.clients.redis_stats import totals
from harness.metrics.bottleneck import first_saturated, utilisation
from harness.topology.local import deploy
from harness.topology.spec import TopologySpec
from harness.workload.redis_plane.ingest import DEFAULT_DESIGN, ingest_script

SERVERS = ("redis", "mongo")


def caps(cpu_limit: float | None, cpus: int) -> dict[str, float]:
    """Each server's own CPU cap: the cgroup quota, or uncapped one core for Redis (one thread)
    and every core for the MongoDB-plane server (multi-threaded)."""
    if cpu_limit:
        return {"redis": cpu_limit, "mongo": cpu_limit}
    return {"redis": 1.0, "mongo": float(cpus)}


def redis_per_event(d: dict[str, float], events: int) -> dict[str, float]:
    per = max(events, 1)
    return {
        "ops": round(d["data_calls"] / per, 3),
        "net_in_bytes": round(d["net_in_bytes"] / per, 1),
        "net_out_bytes": round(d["net_out_bytes"] / per, 1),
        "server_cpu_us": round(d["cpu_s"] / per * 1e6, 2),
        "memory_bytes": round(d["used_memory"] / per, 1),
        "new_keys": round(d["keys"] / per, 4),
    }


class PlatformSteps:
    """:class:`harness.bench.capacity.search.StepServer` of the whole platform. The judgement sees
    the busier server's share of its own cap, as cores of the plan's cap."""

    def __init__(
        self, admin: redis.Redis, probe: mongo_plane.MongoProbe, caps: dict[str, float], plan: SearchPlan
    ) -> None:
        self.admin, self.probe, self.caps, self.plan = admin, probe, caps, plan

    def warm(self, load: MongoStepLoad) -> None:
        run_step(load, lambda: None, worker=worker)

    def measure(self, load: MongoStepLoad) -> dict[str, Any]:
        res, (dr, dm) = mongo_plane.timed_step(load, [lambda: asdict(totals(self.admin)), self.probe.totals])
        wall = res["elapsed_s"]
        cpu = {
            "redis": dr["cpu_s"] / wall if wall > 0 else 0.0,
            "mongo": dm["cpu_s"] / wall if wall > 0 else 0.0,
        }
        util = utilisation(cpu, self.caps)
        out = step_figures(load, res, max(util.values()) * self.plan.cpu_cap_cores)
        out["servers"] = {
            "redis": {
                "cpu_cores": round(cpu["redis"], 4),
                "cap": self.caps["redis"],
                "utilisation": util["redis"],
            },
            "mongo": {
                "cpu_cores": round(cpu["mongo"], 4),
                "cap": self.caps["mongo"],
                "utilisation": util["mongo"],
            },
        }
        out["per_event"] = {
            "redis": redis_per_event(dr, res["events"]),
            "mongo": mongo_plane.per_event(dm, res["events"]),
        }
        return out


def run(
    opts: RedisCapacity, run_dir: Path, run_id: str, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Brings both servers up, searches, names the server that saturated first, tears down."""
    server, why = mongo_plane.choose_server()
    if server is None:
        raise mongo_plane.NotMeasured(why)
    cap = caps(opts.cpu_limit, os.cpu_count() or 1)
    log(
        f"bringing up one redis-server and one MongoDB-plane server: {server} ({why}; cpu limit "
        f"{opts.cpu_limit or 'none'} cores each)"
    )
    base_redis = standalone_topology().redis
    topo = TopologySpec(
        name=f"capacity-platform-{server}",
        description=f"one redis-server and one {server}",
        redis=base_redis,
        mongo=standalone_mongo(server),
    )
    with deploy(topo, run_dir, run_id, cpu_limit=opts.cpu_limit, hosts="loopback") as dep:
        mongo_plane.check_cap(opts, dep.capacity)
        assert dep.mongo is not None and dep.mongo.standalone is not None
        node = dep.mongo.standalone
        ident = mongo_plane.identity(node)
        r = dep.redis[0]
        admin = redis.Redis(host=r.host.address, port=r.port, socket_timeout=60, decode_responses=True)
        probe = mongo_plane.MongoProbe(node)
        try:
            version = str(admin.info("server")["redis_version"])
            log(f"servers: redis-server {version}; {ident.label}")
            names = {"redis": f"redis-server {version}", "mongo": ident.label}
            out = _measure(admin, (r.host.address, r.port), probe, cap, opts, log, names)
            out["storage"] = mongo_plane.storage(
                node, probe.client, dep.mongo.spec.load_collections().database
            )
        finally:
            probe.close()
            admin.close()
        return out | {
            "server": f"redis-server {version} + {ident.label}",
            "servers": {"redis": f"redis-server {version}", "mongo": ident.label},
            "identity": asdict(ident) | {"is_mongodb": ident.is_mongodb},
            "caps": cap,
            "capacity": dep.capacity,
            "address": "direct addresses on loopback (no Toxiproxy, no network namespace)",
            "tick_ms": TICK_S * 1000,
            "stream": STREAM,
            "plan": asdict(opts.plan),
        }


STREAM = (
    "the platform's ingest per event: the Redis ingest path "
    f"(harness.workload.redis_plane.ingest, design {DEFAULT_DESIGN}: limiter script, counter, "
    "HyperLogLog, timeline; every event admitted), then the admitted events through MongoIngestor "
    "(unordered insert_many into events with the platform's indexes, w:1), as the platform's "
    "ingestion service does; latency until the MongoDB insert returned; 10,000 tenants, Zipf 0.8, "
    "a whale at 40%"
)


def _measure(
    admin: redis.Redis,
    addr: tuple[str, int],
    probe: mongo_plane.MongoProbe,
    cap: dict[str, float],
    opts: RedisCapacity,
    log: Callable[[str], None],
    names: dict[str, str],
) -> dict[str, Any]:
    """The search, the bottleneck named in the knee's note, and the flat-out ceiling."""
    admin.flushall()
    admin.config_resetstat()
    sha = str(admin.script_load(ingest_script(DEFAULT_DESIGN)))
    base = MongoStepLoad(
        probe.node.direct, 0.0, 0.0, opts.plan.step_seconds, opts.workers, opts.seed, 0, redis=addr, sha=sha
    )
    steps_server = PlatformSteps(admin, probe, cap, opts.plan)
    steps, knee = search(steps_server, base, opts.plan, log)
    neck = first_saturated(steps, cap, names=names)
    log(f"bottleneck: {neck['note']}")
    ceil = mongo_plane.ceiling(steps_server, base, opts.plan, log, "Redis path + insert_many")
    kd = knee.to_dict()
    kd["note"] = (kd["note"] + "; " if kd["note"] else "") + neck["note"]
    return {"steps": steps, "knee": kd, "bottleneck": neck, "ceiling": ceil}
