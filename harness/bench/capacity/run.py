"""One ``harness capacity`` run: its directory ``reports/capacity/<run-id>/``, the plane's search,
the figures built on it, ``results.json`` and the HTML report (rendered from that file alone)."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.bench.capacity import figures, figures_mongo, locust_scaling, mongo_plane, platform_plane
from harness.bench.capacity import redis_plane as redis_capacity
from harness.report.capacity import render_capacity
from harness.topology.local import run_id_now


def _run_mongo(
    plane: str,
    opts: redis_capacity.RedisCapacity,
    run_dir: Path,
    run_id: str,
    res: dict[str, Any],
    log: Callable[[str], None],
) -> None:
    """The MongoDB plane or the whole platform into ``res``; ``not_run`` where neither mongod nor
    FerretDB is here. Uncapped, the judgement's cap is every core (both servers are multi-threaded)."""
    opts = replace(opts, plan=replace(opts.plan, cpu_cap_cores=mongo_plane.cap_cores(opts.cpu_limit)))
    res["settings"]["cpu_cap_cores"] = opts.plan.cpu_cap_cores
    measure = mongo_plane.run if plane == "mongo" else platform_plane.run
    try:
        res |= measure(opts, run_dir, run_id, log)
    except mongo_plane.NotMeasured as exc:
        res["status"], res["reason"] = "not_run", str(exc)
        log(f"{plane}: not measured here: {exc}")
        return
    res["status"] = "ran"
    res |= figures_mongo.figures(res, os.cpu_count() or 1)


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
        if plane in ("mongo", "platform"):
            _run_mongo(plane, opts, run_dir, run_id, res, log)
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
