"""``make bench``: bring-up/teardown times and Redis-plane driver throughput, written to
``reports/bench/<stamp>.json``. Targets are reported beside each figure, never asserted in tests.

Measured:
- ``harness up redis-cluster`` to healthy, and teardown, over a few repetitions;
- the open-loop driver (rate limit + counter per event) at the target rate and at saturation, into
  the cluster and into one standalone ``redis-server`` started the same way (behind Toxiproxy);
- ``redis-cli --pipe`` replaying the same commands into that same standalone server, and the
  driver/pipe ratio;
- every registered checker, streaming over a synthetic 1,000,000-op history in every checker's
  vocabulary: each verdict (all must be valid), wall time and peak RSS against 30 s and 1 GiB, and
  the linearizability checker's search bound apart (:mod:`harness.bench.checkers`; needs no server).

- the full per-event ingest work (limiter, counter, HyperLogLog, timeline) into one standalone
  server, 1, 2 and 4 driver processes, direct and through Toxiproxy, against ``redis-cli --pipe``
  and with/without recording (:mod:`harness.bench.ingest`); MongoDB ingestion events/s with
  ``w:1`` / ``w:majority`` and batches 1/100/1000 where mongod exists, and ``w:1`` on FerretDB
  where ``make setup`` built it, labelled as such (:mod:`harness.bench.mongo_ingest`; a missing
  server is "not measured").

``--only checkers`` runs just the checker benchmark, ``--only ingest`` just the ingest benchmark,
``--only servers`` the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from harness.bench import checkers as bench_checkers
from harness.bench import ingest as bench_ingest
from harness.bench import mongo as bench_mongo
from harness.bench import mongo_ingest as bench_mongo_ingest
from harness.clients.redis_router import SlotRouter
from harness.clock import RunClock, seeded_random
from harness.errors import HarnessError
from harness.history.recorder import HistoryRecorder
from harness.topology.deployment import Deployment
from harness.topology.local import deploy, run_id_now
from harness.topology.spec import RedisNodeSpec, RedisSpec, TopologySpec, load_topology
from harness.workload.model.keys import KeyScheme
from harness.workload.model.tenants import TenantMix, TenantPicker
from harness.workload.redis_plane.events import DriverConfig, EventDriver, limiter_script
from harness.workload.redis_plane.ingest_pack import Packer, RedisIngestConfig

TARGET_UP_S, TARGET_DOWN_S, TARGET_RATE = 10.0, 5.0, 15_000
TARGET_DOCKER_UP_S = 20.0  # issue 15: up redis-cluster on the docker backend, images present


def standalone_topology() -> TopologySpec:
    base = load_topology("redis-replicated").redis
    assert base is not None
    return TopologySpec(
        name="redis-standalone",
        description="one redis-server, no replica",
        redis=RedisSpec(
            mode="replicated", settings=base.settings, nodes=[RedisNodeSpec(name="r1", role="master")]
        ),
    )


def drive(dep: Deployment, cluster: bool, rate: float, seconds: float, work: Path) -> dict[str, Any]:
    """Runs the driver open loop at ``rate``; returns what it achieved."""
    clock = RunClock()
    seeds = [(n.client_proxy.listen_host, n.client_proxy.listen_port) for n in dep.redis]
    router = SlotRouter(seeds[:1] if not cluster else seeds, cluster=cluster, now_ns=clock.now_ns)
    sha = ""
    for n in dep.current_masters():
        sha = str(dep.client(n.name).script_load(limiter_script()))
    cfg = DriverConfig(
        rate=rate, duration_s=seconds, limit=1_000_000, window_ms=1000, max_batch=1000, drain_s=seconds
    )
    hist = work / f"bench-{time.monotonic_ns()}.jsonl"
    with HistoryRecorder(hist, clock) as rec:
        driver = EventDriver(
            router,
            rec,
            clock,
            KeyScheme({}),
            TenantPicker(TenantMix(10_000, 0.8, "whale", 0.4), seeded_random(1, "bench")),
            cfg,
            "bench",
            seeded_random(1, "shards"),
            sha,
        )
        st = driver.run()
    router.close()
    hist.unlink()
    done = st.admitted + st.rate_limited
    return {
        "offered_rate": rate,
        "seconds": seconds,
        "events": done,
        "achieved_rate": round(done / st.elapsed_s, 1),
        "elapsed_s": round(st.elapsed_s, 2),
        "max_lag_ms": round(st.max_lag_s * 1000, 1),
        "unsent": st.unsent,
        "errors": st.outcomes["fail"] + st.outcomes["info"],
    }


def driver_stream(dep: Deployment, events: int) -> Callable[[BinaryIO], None]:
    """Writes the driver's commands for ``events`` events (the limiter script, the counter's
    ``INCR`` and ``EXPIRE``, packed by the one ingest path's :class:`Packer`), for
    :func:`harness.bench.ingest.redis_cli_pipe`."""
    node = dep.redis[0]

    def write(fh: BinaryIO) -> None:
        sha = str(dep.client(node.name).script_load(limiter_script()))
        packer = Packer(KeyScheme({}), RedisIngestConfig(limit=1_000_000, window_ms=1000), sha)
        tenants = TenantPicker(TenantMix(10_000, 0.8, "whale", 0.4), seeded_random(1, "bench")).draw(events)
        now = int(time.time() * 1000)
        p = packer.pack_counts(0, tenants, [0] * events, [now + i // 15 for i in range(events)], "p-")
        fx = packer.counter_commands(p.k_cnt)  # INCR, EXPIRE per event
        for i, cmd in enumerate(p.cmd):
            fh.write(cmd + fx[2 * i] + fx[2 * i + 1])

    return write


def saturate(dep: Deployment, cluster: bool, work: Path, seconds: float) -> dict[str, Any]:
    """Offers far more than the driver can send: what it achieves is its ceiling."""
    return drive(dep, cluster, rate=200_000, seconds=seconds, work=work)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per throughput measurement")
    parser.add_argument("--repeat", type=int, default=3, help="bring-up repetitions")
    parser.add_argument("--out", type=Path, default=Path("reports/bench"))
    parser.add_argument("--only", choices=["checkers", "servers", "ingest"], help="run only this part")
    parser.add_argument("--checker-ops", type=int, default=1_000_000, help="ops in the checkers' history")
    parser.add_argument(
        "--ingest-events", type=int, default=150_000, help="events per driver process in the ingest benchmark"
    )
    parser.add_argument("--per-checker", action="store_true", help="also time each checker alone")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-", dir=args.out))
    result: dict[str, Any] = {
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    try:
        if args.only in (None, "checkers"):
            result["checkers"] = bench_checkers.bench(work, args.checker_ops, per_checker=args.per_checker)
        if args.only in (None, "servers"):
            servers(args, work, result)
        if args.only in (None, "ingest"):
            result["ingest"] = bench_ingest.measure(standalone_topology(), work, args.ingest_events)
            result["mongo_ingest"] = bench_mongo_ingest.measure(work)
            print(f"mongo ingest: {_mongo_line(result['mongo_ingest'])}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    text = json.dumps(result, indent=1)
    (args.out / f"{stamp}.json").write_text(text)
    (args.out / "latest.json").write_text(text)
    print(f"written: {args.out / (stamp + '.json')}")
    return 0


def _mongo_line(servers: dict[str, Any]) -> str:
    parts = []
    for server, res in servers.items():
        cells = res.get("cells") or {}
        figures = ", ".join(f"{k} {v.get('events_per_s')}/s" for k, v in cells.items())
        parts.append(f"{server}: {figures or res.get('reason')}")
    return "; ".join(parts)


def bring_up(work: Path, repeat: int, backend: str) -> dict[str, Any]:
    """``redis-cluster`` up and down ``repeat`` times on ``backend``; on docker, with the images
    present (a missing engine or image is reported not measured, with why)."""
    target = TARGET_UP_S if backend == "local" else TARGET_DOCKER_UP_S
    ups: list[float] = []
    downs: list[float] = []
    hosts = ""
    try:
        for i in range(repeat):
            run_id = run_id_now("bench-")
            with deploy(load_topology("redis-cluster"), work / run_id, run_id, backend=backend) as dep:
                ups.append(round(dep.up_seconds, 2))
                hosts = dep.network.kind
                t0 = time.monotonic()
            downs.append(round(time.monotonic() - t0, 2))
            print(f"{backend} up/down {i + 1}/{repeat}: {ups[-1]} s / {downs[-1]} s", flush=True)
    except HarnessError as exc:
        print(f"{backend} bring-up not measured: {exc}", flush=True)
        return {"topology": "redis-cluster", "backend": backend, "not_measured": str(exc)}
    return {
        "topology": "redis-cluster",
        "backend": backend,
        "hosts": hosts,
        "up_s": ups,
        "down_s": downs,
        "target_up_s": target,
        "target_down_s": TARGET_DOWN_S,
        "pass": max(ups) <= target and max(downs) <= TARGET_DOWN_S,
    }


def servers(args: argparse.Namespace, work: Path, result: dict[str, Any]) -> None:
    """Bring-up and driver throughput (needs redis-server and toxiproxy-server)."""
    result["bring_up"] = bring_up(work, args.repeat, "local")
    result["bring_up_docker"] = bring_up(work, args.repeat, "docker")
    run_id = run_id_now("bench-")
    with deploy(load_topology("redis-cluster"), work / run_id, run_id) as dep:
        at = drive(dep, True, TARGET_RATE, args.seconds, work)
        print(f"cluster @ {TARGET_RATE}/s: {at}", flush=True)
        sat = saturate(dep, True, work, args.seconds)
        print(f"cluster saturation: {sat}", flush=True)
        result["cluster"] = {
            "at_target": at,
            "saturation": sat,
            "target_rate": TARGET_RATE,
            "pass": at["achieved_rate"] >= 0.98 * TARGET_RATE and at["unsent"] == 0,
        }
    run_id = run_id_now("bench-")
    with deploy(standalone_topology(), work / run_id, run_id) as dep:
        at = drive(dep, False, TARGET_RATE, args.seconds, work)
        print(f"standalone @ {TARGET_RATE}/s: {at}", flush=True)
        sat = saturate(dep, False, work, args.seconds)
        print(f"standalone saturation: {sat}", flush=True)
        node, events = dep.redis[0], max(50_000, int(sat["events"]))
        proxy = (node.client_proxy.listen_host, node.client_proxy.listen_port)
        stream = driver_stream(dep, events)
        pipe = bench_ingest.redis_cli_pipe(
            dep.client(node.name), proxy, events, stream, work / "pipe.resp", 600
        )
        print(f"redis-cli --pipe: {pipe}", flush=True)
        ratio = sat["achieved_rate"] / pipe["events_per_s"] if "events_per_s" in pipe else None
        result["standalone"] = {
            "at_target": at,
            "saturation": sat,
            "redis_cli_pipe": pipe,
            "driver_to_pipe_ratio": round(ratio, 3) if ratio else None,
            "target_rate": TARGET_RATE,
            "pass": at["achieved_rate"] >= 0.98 * TARGET_RATE and at["unsent"] == 0,
        }
    result["mongo_bring_up"] = bench_mongo.measure(work, args.repeat)
    print(f"mongo bring-up: {result['mongo_bring_up']}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
