"""Locust headless in distributed mode on this machine (1 master + 2 workers, subprocesses)
against a real redis-server: the rate profile's shape drives the lanes, and every event Locust
reports as done arrived in Redis (counters and limiter entries add up to Locust's counts)."""

from __future__ import annotations

import csv
import json
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from harness.metrics.hdr import LatencyHistograms

ROOT = Path(__file__).resolve().parents[2]
GLUE = str(ROOT / "harness" / "workload" / "redis_plane" / "locust_glue.py")
# locust_glue.INTERRUPTED; importing the module here would monkey-patch pytest's process.
INTERRUPTED = "interrupted: the lane was stopped mid-op"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _locust() -> str:
    exe = shutil.which("locust", path=str(Path(sys.executable).parent)) or shutil.which("locust")
    if exe is None:
        pytest.skip("needs the locust command (pip install -e '.[dev]')")
    return exe


def _in_redis(port: int) -> tuple[int, int, int]:
    """The run's counter total, limiter entries and registered lanes. Keys follow the harness's
    key design (the one ingest path's) under the key prefix, and nothing else is written."""
    r = redis.Redis(port=port, decode_responses=True)
    counters = sum(int(r.get(k) or 0) for k in r.scan_iter("lc:counter:{t:t*}:events:*"))
    limiter = sum(int(r.zcard(k)) for k in r.scan_iter("lc:ratelimit:{t:t*}:events"))
    others = set(r.scan_iter("lc:*")) - set(r.scan_iter("lc:counter:*")) - set(r.scan_iter("lc:ratelimit:*"))
    lanes = int(r.scard("lc:lanes"))
    r.close()
    assert others == {"lc:lanes"}
    return counters, limiter, lanes


def _run(exe: str, tmp_path: Path, redis_port: int) -> tuple[subprocess.Popen[str], str, list[str]]:
    """A master and two workers on this machine, to the end: the master, its output, the workers'."""
    master_port = free_port()
    common = [
        "-f", GLUE, "--loglevel", "WARNING",
        "--redis-seeds", f"127.0.0.1:{redis_port}",
        "--rate-profile", json.dumps({"kind": "steps", "steps": [[0, 40], [0.5, 120]]}),
        "--profile-duration-s", "1.5", "--lane-rate", "20", "--tenants", "5",
        "--hdr-dir", str(tmp_path / "hdr"),
    ]  # fmt: skip
    master = subprocess.Popen(
        [exe, *common, "--headless", "--master", "--expect-workers", "2",
         "--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port),
         "--csv", str(tmp_path / "run"), "--only-summary", "--loglevel", "INFO"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    worker_cmd = [exe, *common, "--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port)]
    workers = [
        subprocess.Popen(
            [*worker_cmd, "--loglevel", "INFO"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    procs = [master, *workers]
    try:
        out, _ = master.communicate(timeout=60)
        worker_out = [w.communicate(timeout=30)[0] for w in workers]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    assert all(w.returncode == 0 for w in workers), worker_out
    return master, out, worker_out


def test_distributed_headless_run_lands_in_redis(tmp_path: Path, redis_port: int) -> None:
    master, out, worker_out = _run(_locust(), tmp_path, redis_port)
    with open(tmp_path / "run_stats.csv") as fh:
        rows = {r["Name"]: r for r in csv.DictReader(fh)}
    with open(tmp_path / "run_failures.csv") as fh:
        failures = list(csv.DictReader(fh))
    # The only failures allowed are lanes killed mid-op, reported as unknown (seen in 1 CI run of
    # about 20: 2 of 155 events). Locust exits 1 when anything was reported failed, so then 1.
    assert all(INTERRUPTED in f["Error"] for f in failures), failures
    assert master.returncode == (1 if failures else 0), out
    assert {"rate_limit", "incr"} <= set(rows), out
    total = {n: int(rows[n]["Request Count"]) for n in ("rate_limit", "incr")}
    ok = {n: total[n] - int(rows[n]["Failure Count"]) for n in total}
    if failures:  # shown only when the test fails: why were lanes killed rather than stopped?
        print("master:", out, *worker_out, sep="\n")
    assert ok["rate_limit"] > 0
    # The limit is far above the load: every admitted event reported its INCR, ok or (a lane killed
    # mid-op, seen in a loaded full-suite run) unknown; none was dropped.
    assert total["incr"] == ok["rate_limit"], (total, ok, failures)

    counters, limiter, lanes = _in_redis(redis_port)
    # Every op that reached Redis was reported: ok ones exactly, unknown ones may or may not
    # have been applied. An applied op nobody reported would push Redis above the total.
    assert ok["rate_limit"] <= limiter <= total["rate_limit"], (limiter, total, ok)
    assert ok["incr"] <= counters <= total["incr"], (counters, total, ok)
    # The shape asked for ceil(rate / 20) lanes: 2 at 40/s, then 6 at 120/s when its tick (one
    # a second) falls inside the step. Lanes asked for late may not start before the end when
    # the machine is starved, so: at least the first step's lanes ran, never more than asked.
    asked = [int(n) for n in re.findall(r"Shape test updating to (\d+) users", out)]
    assert asked[0] == 2 and set(asked) <= {2, 6}
    assert 2 <= lanes <= max(asked)

    # Each worker wrote its histograms (ok ops); merged, they count exactly what Locust counted.
    files = sorted((tmp_path / "hdr").glob("hdr-*.json"))
    assert len(files) == 2
    merged = LatencyHistograms.from_dict(json.loads(files[0].read_text()))
    merged.merge(LatencyHistograms.from_dict(json.loads(files[1].read_text())))
    summary = merged.summary()
    assert summary["rate_limit"]["count"] == ok["rate_limit"] and summary["incr"]["count"] == ok["incr"]
