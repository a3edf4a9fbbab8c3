"""Distributed load: how the events/s Locust delivers grows per added worker process.

Against one standalone ``redis-server`` capped at ``cpu_limit`` cores (so its ceiling stays far
above what the workers offer and the workers are what is measured), for 1, 2, ... ``max_workers``
workers: a Locust master and that many workers (subprocesses of this machine, the glue
:mod:`harness.workload.redis_plane.locust_glue` with ``--effects full``: the platform's whole
Redis ingest work per event), each worker offered ``per_worker_rate`` events/s, more than one can
send, so each runs flat out. Once every lane has started (each registers itself in Redis), the
server's own count of limiter calls (``INFO commandstats`` ``cmdstat_eval``, one per event) over
``seconds`` gives the events/s achieved; the workers' CPU (``psutil``) and the server's
(``INFO cpu``) over the same window say who was busy. Efficiency with n workers = achieved(n) ÷
(n × achieved(1)).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import redis

import harness
from harness.bench.suite import standalone_topology
from harness.errors import HarnessError
from harness.topology.cgroups import cpu_limits_supported, group_path, limit_cpu, throttled_s
from harness.topology.lifecycle import creating
from harness.topology.local import LocalDeployment, deploy, run_tag

GLUE = Path(harness.__file__).parent / "workload" / "redis_plane" / "locust_glue.py"
PREFIX = "cap:"
LANE_RATE = 100.0
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


def locust_binary() -> str | None:
    return shutil.which("locust", path=str(Path(sys.executable).parent)) or shutil.which("locust")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _evals_and_cpu(admin: redis.Redis) -> tuple[int, float]:
    info = admin.info("commandstats", "cpu")
    calls = int((info.get("cmdstat_eval") or {}).get("calls", 0))
    return calls, float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _waited_s(procs: list[psutil.Process]) -> float:
    """Seconds the processes' main threads spent runnable but waiting for a CPU
    (``/proc/<pid>/schedstat``; a Locust worker runs its lanes on that one thread)."""
    total = 0.0
    for p in procs:
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int(Path(f"/proc/{p.pid}/schedstat").read_text().split()[1]) / 1e9
    return total


def _cpu_s(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def _start(
    exe: str, n: int, addr: tuple[str, int], rate: float, duration_s: float
) -> list[subprocess.Popen[bytes]]:
    port = _free_port()
    common = [
        "-f", str(GLUE), "--loglevel", "WARNING", "--redis-seeds", f"{addr[0]}:{addr[1]}",
        "--rate-profile", json.dumps({"kind": "constant", "rate": rate}),
        "--profile-duration-s", str(duration_s), "--lane-rate", str(LANE_RATE), "--effects", "full",
        "--tenants", "10000", "--key-prefix", PREFIX,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(Path(harness.__file__).parents[1])}
    master = [exe, *common, "--headless", "--master", "--expect-workers", str(n), "--only-summary",
              "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)]  # fmt: skip
    worker = [exe, *common, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    return [subprocess.Popen(master, **quiet)] + [subprocess.Popen(worker, **quiet) for _ in range(n)]  # type: ignore[call-overload]


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """Every process asked to stop, then waited for, bounded. The workers too: a master ended by
    SIGTERM exits at once without telling them, and they would wait out their heartbeat timeout
    (measured: 30 s per worker count before this)."""
    for p in procs:
        p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def cap_worker(dep: LocalDeployment, name: str, pid: int, cores: float) -> str:
    """Caps a load worker at ``cores`` in a cgroup recorded with the run's resources (a crash of the
    run leaves no group behind: the next bring-up's reap removes it); returns the group."""
    ok, reason = cpu_limits_supported()
    if not ok:
        raise HarnessError(f"--locust-worker-cpu {cores:g}: {reason}; give --locust-worker-cpu 0 for none")
    group = f"{run_tag(dep.run_id)}-{name}"
    with creating():  # another run's reap removes empty our-named groups no run claims
        dep.res.add_cgroup(group_path(group))
        return limit_cpu(group, pid, cores)


def one(
    exe: str,
    admin: redis.Redis,
    addr: tuple[str, int],
    n: int,
    per_worker: float,
    seconds: float,
    cap: Callable[[str, int], str | None] = lambda _name, _pid: None,
) -> dict[str, Any]:
    """``n`` workers flat out for a window of ``seconds`` once every lane runs; ``cap(name, pid)``
    is given each worker as it starts (its CPU cap) and returns its cgroup, if it made one."""
    admin.flushall()
    rate = n * per_worker
    lanes = math.ceil(rate / LANE_RATE)
    procs = _start(exe, n, addr, rate, START_TIMEOUT_S + seconds + 10)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while int(admin.scard(f"{PREFIX}lanes")) < lanes:
            if time.monotonic() > deadline or procs[0].poll() is not None:
                raise HarnessError(
                    f"locust with {n} workers: {admin.scard(f'{PREFIX}lanes')} of {lanes} lanes started "
                    f"within {START_TIMEOUT_S:g} s (master exit code {procs[0].poll()})"
                )
            time.sleep(0.2)
        workers = [psutil.Process(p.pid) for p in procs[1:]]
        # capped once every lane runs: the window measures a capped worker's sending, and Python
        # and Locust starting up at a fifth of a core would only make the test slow
        groups = [g for i, p in enumerate(procs[1:]) if (g := cap(f"locust-{n}w{i}", p.pid))]
        calls0, cpu0 = _evals_and_cpu(admin)
        capped0 = sum(throttled_s(g) for g in groups)
        load0, wait0, t0 = _cpu_s(workers), _waited_s(workers), time.monotonic()
        time.sleep(seconds)  # the measurement window itself, not a wait for readiness
        calls1, cpu1 = _evals_and_cpu(admin)
        load1, wait1, wall = _cpu_s(workers), _waited_s(workers), time.monotonic() - t0
        capped = sum(throttled_s(g) for g in groups) - capped0
    finally:
        _stop(procs)
    achieved = (calls1 - calls0) / wall
    return {
        "workers": n,
        "offered": rate,
        "lanes": lanes,
        "achieved": round(achieved, 1),
        "per_worker": round(achieved / n, 1),
        "server_cpu_cores": round((cpu1 - cpu0) / wall, 3),
        "load_cpu_cores": round((load1 - load0) / wall, 3),
        # the share of the window each worker spent waiting for a CPU (the machine, not Locust),
        # less what its own cap held it back: that wait is the machine size it stands for
        "load_starved": round(max(0.0, wait1 - wait0 - capped) / (n * wall), 3),
        "load_capped": round(capped / (n * wall), 3),
        "seconds": round(wall, 2),
    }


def measure(
    run_dir: Path,
    run_id: str,
    cpu_limit: float,
    max_workers: int,
    seconds: float,
    per_worker_rate: float = 6000.0,
    log: Callable[[str], None] = print,
    worker_cpu: float | None = None,
) -> dict[str, Any]:
    """Locust with 1..``max_workers`` workers against one server capped at ``cpu_limit`` cores;
    each worker capped at ``worker_cpu`` cores (its own cgroup) when given: a worker then stands
    for one machine of that size, so adding one adds the same CPU and the efficiency measured is
    Locust's distribution, not the workers' fight with the server for this machine's two cores."""
    exe = locust_binary()
    if exe is None:
        return {"status": "not_run", "reason": "no locust command (pip install -e '.[dev]')"}
    rows: list[dict[str, Any]] = []
    with deploy(standalone_topology(), run_dir, run_id, cpu_limit=cpu_limit, hosts="loopback") as dep:
        node = dep.redis[0]
        addr = (node.host.address, node.port)
        admin = redis.Redis(host=addr[0], port=addr[1], socket_timeout=30, decode_responses=True)

        def cap(name: str, pid: int) -> str | None:
            return None if worker_cpu is None else cap_worker(dep, name, pid, worker_cpu)

        try:
            for n in range(1, max_workers + 1):
                r = one(exe, admin, addr, n, per_worker_rate, seconds, cap)
                r["efficiency"] = round(r["achieved"] / (n * rows[0]["achieved"]), 3) if rows else 1.0
                log(
                    f"locust {n} worker(s): {r['achieved']:,.0f} events/s "
                    f"({r['per_worker']:,.0f} per worker, efficiency {r['efficiency']}), "
                    f"server {r['server_cpu_cores']} of {cpu_limit:g} cores, "
                    f"workers {r['load_cpu_cores']} cores, waited {r['load_starved']:.0%} for a CPU"
                    + (f" (and {r['load_capped']:.0%} held by their cap)" if worker_cpu else "")
                )
                rows.append(r)
        finally:
            admin.flushall()
            admin.close()
    return {
        "status": "ran",
        "cpu_limit": cpu_limit,
        "worker_cpu_limit": worker_cpu,
        "per_worker_offered": per_worker_rate,
        "rows": rows,
    }
