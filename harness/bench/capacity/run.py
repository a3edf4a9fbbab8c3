"""One ``harness capacity`` run: its directory ``reports/capacity/<run-id>/``, the plane's search,
the figures built on it, ``results.json`` and the HTML report (rendered from that file alone)."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.bench.capacity import figures, locust_scaling
from harness.bench.capacity import redis_plane as redis_capacity
from harness.report.capacity import render_capacity
from harness.topology.local import run_id_now

#: why a plane is not measured by this command yet (reported, never faked)
NOT_BUILT = {
    "mongo": (
        "not built yet: the MongoDB plane's knee search is not written (here it would measure "
        "FerretDB 1.24.2 on SQLite, a stand-in, not MongoDB: there is no mongod on this machine)"
    ),
    "platform": "not built yet: the whole-platform knee search (Redis + MongoDB ingest together)",
}


def run(
    plane: str,
    opts: redis_capacity.RedisCapacity,
    reports_dir: Path,
    command: str,
    log: Callable[[str], None] = print,
) -> tuple[Path, dict[str, Any]]:
    """Runs the capacity search of ``plane``; returns the run directory and its results."""
    run_id = run_id_now("capacity-")
    run_dir = reports_dir / "capacity" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {
        "kind": "capacity",
        "run_id": run_id,
        "plane": plane,
        "command": command,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "loadavg_start": os.getloadavg()},
        "settings": {"cpu_limit": opts.cpu_limit, "workers": opts.workers, "seed": opts.seed},
        "status": "error",
    }
    try:
        if plane != "redis":
            res["status"] = "not_run"
            res["reason"] = NOT_BUILT[plane]
            log(f"{plane}: {res['reason']}")
        else:
            res |= redis_capacity.run(opts, run_dir, run_id, log)
            res["status"] = "ran"
            res["per_event"] = figures.per_event(res)
            res["load"] = figures.load_ceiling(res, os.cpu_count() or 1)
            res["comparison"] = figures.comparison(res)
            res["sizing"] = figures.sizing(res, res["per_event"])
            if opts.locust_workers > 0:
                dist = locust_scaling.measure(
                    run_dir / "locust",
                    f"{run_id}-locust",
                    opts.locust_cpu_limit,
                    opts.locust_workers,
                    opts.locust_seconds,
                    log=log,
                    worker_cpu=opts.locust_worker_cpu,
                )
                res["distributed"] = dist | {"figures": figures.scaling(dist)}
    except BaseException as exc:  # recorded in the results and the report, then raised on
        res["status"], res["error"] = "error", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        shutil.rmtree(run_dir / "data", ignore_errors=True)
        shutil.rmtree(run_dir / "locust" / "data", ignore_errors=True)
        res["machine"]["loadavg_end"] = os.getloadavg()
        res["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        (run_dir / "results.json").write_text(json.dumps(res, indent=1, default=str))
        render_capacity(run_dir)
        latest = reports_dir / "capacity" / "latest"
        if latest.is_symlink() or not latest.exists():
            latest.unlink(missing_ok=True)
            latest.symlink_to(run_id)
    return run_dir, res
