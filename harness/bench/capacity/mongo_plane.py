"""``harness capacity --plane mongo``: one standalone MongoDB-plane server, capped at ``cpu_limit``
cores (the deploy's cgroup quota), real ``mongod`` where it is found and else FerretDB (SQLite);
the stepped open-loop search (:mod:`harness.bench.capacity.search`) for its knee, with the
platform's MongoDB ingest path per event (:mod:`harness.bench.capacity.mongo_load`); the storage
each event takes; and a closed-loop flat-out run on the same server and cap (the ceiling).

Every figure comes from the server's own statistics (``serverStatus``, ``collStats``), the
kernel's count for the server process (``/proc/<pid>/stat`` CPU, ``/proc/<pid>/io``), or the
server's data files on disk; what the server does not give is ``None`` (not measured). The server
is named by its own ``buildInfo`` answer (:func:`harness.clients.mongo_stats.identify`): FerretDB
is labelled ``FerretDB <version> on SQLite, not MongoDB`` everywhere its figures go."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from harness.bench.capacity.load import TICK_S, run_step
from harness.bench.capacity.mongo_load import MongoStepLoad, worker
from harness.bench.capacity.redis_plane import RedisCapacity
from harness.bench.capacity.search import SearchPlan, bounded_step, search, step_figures
from harness.bench.mongo_ingest import standalone_mongo
from harness.clients import mongo_stats, proc_stats
from harness.doctor import find_binary
from harness.errors import HarnessError
from harness.topology.local import deploy
from harness.topology.mongo_plane import MongoNode
from harness.topology.spec import TopologySpec

Client = MongoClient[dict[str, Any]]
CEILING_RUNS = 2
#: the MongoDB plane's default highest offered rate (the CLI's --max-rate is the Redis plane's)
DEFAULT_MAX_RATE = {"mongo": 3000.0, "platform": 3000.0}


def choose_server(find: Callable[[str], str | None] | None = None) -> tuple[str | None, str]:
    """``mongod`` where found, else ``ferretdb``, else ``None`` with the reason."""
    find = find or find_binary
    if find("mongod") is not None:
        return "mongod", "mongod found"
    if find("ferretdb") is not None:
        return "ferretdb", "no mongod on this machine (PATH, $MONGODB_BIN_DIR, tools/bin): FerretDB instead"
    return None, (
        "no mongod and no FerretDB on this machine: put mongod on PATH or in $MONGODB_BIN_DIR, or "
        "build tools/bin/ferretdb ('make setup')"
    )


def identity(node: MongoNode) -> mongo_stats.ServerIdentity:
    """The server as it names itself (``buildInfo``; a mongod's storage engine from
    ``serverStatus``), and whether its data directory holds SQLite files."""
    admin = node.admin()
    info = admin.admin.command("buildInfo")
    engine = None
    if not info.get("ferretdbVersion"):
        engine = (mongo_stats.server_status(admin).get("storageEngine") or {}).get("name")
    return mongo_stats.identify(info, any(node.data_dir.glob("*.sqlite")), engine)


class MongoProbe:
    """The cumulative counters of one MongoDB-plane server: ``serverStatus``, its process's CPU and
    I/O (``/proc``)."""

    def __init__(self, node: MongoNode) -> None:
        if node.process is None:
            raise HarnessError(f"{node.name}: no server process to measure")
        self.node = node
        self.pid = node.process.pid
        self.client: Client = MongoClient(node.direct, directConnection=True, socketTimeoutMS=60_000)
        # The CPU read from /proc must be the answering server's own: its serverStatus names its pid.
        said = mongo_stats.server_status(self.client).get("pid")
        if said is not None and int(said) != self.pid:
            self.client.close()
            raise HarnessError(
                f"{node.name}: the server at {node.direct} says it is pid {said}, not {self.pid} "
                "(the process started): its CPU would be another process's"
            )

    def totals(self) -> dict[str, Any]:
        counters = mongo_stats.server_counters(mongo_stats.server_status(self.client))
        io = proc_stats.io(self.pid)
        return counters | {
            "cpu_s": proc_stats.cpu_s(self.pid),
            "write_bytes": None if io is None else io.get("write_bytes"),
            "write_syscalls": None if io is None else io.get("syscw"),
        }

    def close(self) -> None:
        self.client.close()


def delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """``after - before`` per counter; ``None`` where either side is not measured."""
    return {k: None if v is None or before.get(k) is None else v - before[k] for k, v in after.items()}


def per_event(d: dict[str, Any], events: int) -> dict[str, Any]:
    """A step's MongoDB-side figures per event (``None``: not measured)."""
    per = max(events, 1)

    def each(key: str, digits: int) -> float | None:
        v = d.get(key)
        return None if v is None else round(v / per, digits)

    return {
        "insert_commands": each("insert_commands", 4),
        "docs_inserted": each("docs_inserted", 4),
        "net_in_bytes": each("net_in_bytes", 1),
        "net_out_bytes": each("net_out_bytes", 1),
        "server_cpu_us": round(d["cpu_s"] / per * 1e6, 2),
        "write_bytes": each("write_bytes", 1),
        "write_syscalls": each("write_syscalls", 4),
    }


def timed_step(load: Any, probes: list[Callable[[], dict[str, Any]]]) -> tuple[dict[str, Any], list[Any]]:
    """One step of ``load`` with :func:`mongo_load.worker`; each probe's totals before (as the
    workers are released together) and after; returns the merged result and the deltas."""
    before: list[dict[str, Any]] = []
    res = bounded_step(load, lambda: before.extend(p() for p in probes), worker=worker)
    return res, [delta(p(), b) for p, b in zip(probes, before, strict=True)]


class MongoSteps:
    """:class:`harness.bench.capacity.search.StepServer` of the MongoDB plane."""

    def __init__(self, probe: MongoProbe) -> None:
        self.probe = probe

    def warm(self, load: MongoStepLoad) -> None:
        run_step(load, lambda: None, worker=worker)

    def measure(self, load: MongoStepLoad) -> dict[str, Any]:
        res, (d,) = timed_step(load, [self.probe.totals])
        wall = res["elapsed_s"]
        out = step_figures(load, res, d["cpu_s"] / wall if wall > 0 else 0.0)
        out["per_event"] = per_event(d, res["events"])
        return out


def storage(node: MongoNode, client: Client, database: str) -> dict[str, Any]:
    """What the ``events`` collection holds and takes: ``collStats`` (data, storage, indexes),
    ``dbStats``, and the sizes of the server's data files (FerretDB: its SQLite files)."""
    db = client[database]
    coll = mongo_stats.storage(db.command("collStats", "events"))
    dbs = db.command("dbStats")
    files = {p.name: p.stat().st_size for p in sorted(node.data_dir.rglob("*")) if p.is_file()}
    sqlite = {k: v for k, v in files.items() if ".sqlite" in k and k.startswith(database)}
    return {
        "collection": coll,
        "db": {k: dbs.get(k) for k in ("objects", "dataSize", "storageSize", "indexSize", "totalSize")},
        "data_dir_bytes": sum(files.values()),
        "data_dir_files": len(files),
        "sqlite_files": sqlite,
        "sqlite_bytes": sum(sqlite.values()) if sqlite else None,
    }


def ceiling(
    steps: MongoSteps | Any, base: Any, plan: SearchPlan, log: Callable[[str], None], label: str
) -> dict[str, Any]:
    """Closed loop, flat out: every load process sends batches of ``closed_batch`` (500) back to
    back for a step's seconds, ``CEILING_RUNS`` times, on the same server and cap. Honest only when the server
    was at its cap (``server_bound``); otherwise the load was the limit and it says so."""
    runs = []
    for i in range(CEILING_RUNS):
        s = steps.measure(replace(base, closed=True, rate=0.0, seconds=plan.step_seconds, step=100 + i))
        log(
            f"flat-out run {i + 1}/{CEILING_RUNS} ({label}): {s['achieved']:,.0f} events/s, "
            f"server CPU {s['server_cpu_cores']:.3f} of {plan.cpu_cap_cores:g} cores, load busy "
            f"{s['load_busy']:.0%}"
        )
        runs.append(s)
    rates = sorted(float(r["achieved"]) for r in runs)
    bound = all(r["server_cpu_cores"] >= 0.85 * plan.cpu_cap_cores for r in runs)
    return {
        "status": "ran",
        "how": (
            f"closed loop: {base.workers} load processes each sending batches of {base.closed_batch} events "
            f"({label}) back to back (no schedule, no latency judged)"
        ),
        "runs": runs,
        "runs_events_per_s": rates,
        "events_per_s": rates[len(rates) // 2] if len(rates) % 2 else sum(rates) / len(rates),
        "server_bound": bound,
        "note": ""
        if bound
        else "the server stayed below 85% of its cap: the load's ceiling, not the server's",
    }


def run(
    opts: RedisCapacity, run_dir: Path, run_id: str, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Brings the server up, searches, measures storage and the ceiling, tears down. Raises
    :class:`NotMeasured` when neither mongod nor FerretDB is here."""
    server, why = choose_server()
    if server is None:
        raise NotMeasured(why)
    log(f"bringing up one MongoDB-plane server: {server} ({why}; cpu limit {opts.cpu_limit or 'none'} cores)")
    topo = TopologySpec(
        name=f"capacity-{server}", description=f"one {server}", mongo=standalone_mongo(server)
    )
    with deploy(topo, run_dir, run_id, cpu_limit=opts.cpu_limit, hosts="loopback") as dep:
        check_cap(opts, dep.capacity)
        assert dep.mongo is not None and dep.mongo.standalone is not None
        node = dep.mongo.standalone
        ident = identity(node)
        log(f"server: {ident.label}")
        probe = MongoProbe(node)
        try:
            database = dep.mongo.spec.load_collections().database
            base = MongoStepLoad(node.direct, 0.0, 0.0, opts.plan.step_seconds, opts.workers, opts.seed, 0)
            steps_server = MongoSteps(probe)
            steps, knee = search(steps_server, base, opts.plan, log)
            stored = storage(node, probe.client, database)
            ceil = ceiling(steps_server, base, opts.plan, log, f"insert_many into {ident.label}")
        finally:
            probe.close()
        return {
            "server": ident.label,
            "identity": asdict(ident) | {"is_mongodb": ident.is_mongodb},
            "capacity": dep.capacity,
            "address": "direct address on loopback (no Toxiproxy, no network namespace)",
            "tick_ms": TICK_S * 1000,
            "stream": (
                "the platform's MongoDB ingest path per event (harness.workload.mongo_plane.ingest "
                "MongoIngestor): unordered insert_many into events (the platform's indexes: "
                f"{', '.join(index_names(probe_client(node), database))}), w:1; 10,000 tenants, Zipf 0.8, "
                "a whale at 40%"
            ),
            "steps": steps,
            "knee": knee.to_dict(),
            "storage": stored,
            "ceiling": ceil,
            "plan": asdict(opts.plan),
        }


def probe_client(node: MongoNode) -> Client:
    return node.admin()


def index_names(client: Client, database: str) -> list[str]:
    return [str(ix["name"]) for ix in client[database]["events"].list_indexes()]


def check_cap(opts: RedisCapacity, capacity: dict[str, Any]) -> None:
    if opts.cpu_limit is not None and not capacity.get("applied"):
        raise HarnessError(
            f"--cpu-limit {opts.cpu_limit:g}: cgroup CPU limits are not available here "
            f"({capacity.get('reason')}); run as root with cgroups, or give --cpu-limit 0 for none"
        )


class NotMeasured(Exception):
    """The plane cannot be measured on this machine (the reason is the message): exit 3."""


def cap_cores(cpu_limit: float | None) -> float:
    """The judgement's cap: the cgroup quota, or every core of the machine uncapped (mongod and
    FerretDB are multi-threaded, unlike Redis)."""
    return cpu_limit if cpu_limit else float(os.cpu_count() or 1)
