"""``harness rehearse``: settle and validate, bring the topology up (registered with its control
directory, so ``harness fault`` finds it), play the rehearsal, tear down (always), then judge the
history and write ``reports/rehearsal/<run-id>/``."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.clock import RunClock
from harness.errors import HarnessError
from harness.metrics.live import LiveFigures
from harness.records import Plane
from harness.rehearsal.board import Board
from harness.rehearsal.finish import judge, write
from harness.rehearsal.plan import RehearsalOptions, settle
from harness.rehearsal.session import Played, play
from harness.rehearsal.tap import TappedRecorder
from harness.scenario.planes import Runnable, mongo_plane_facts
from harness.topology.deployment import Deployment
from harness.topology.local import deploy, run_id_now
from harness.topology.spec import TopologySpec


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _planes(dep: Deployment | None, runnable: Runnable) -> dict[str, Plane]:
    topo: TopologySpec = runnable.topology
    planes = {"redis": Plane(status="ran" if dep is not None and topo.redis else "not_run", reason=None)}
    if dep is not None and dep.mongo is not None:
        planes["mongodb"] = Plane.model_validate(mongo_plane_facts(dep, runnable.mongo_note))
    else:
        why = runnable.mongo_not_run or f"topology {topo.name} has no MongoDB plane"
        planes["mongodb"] = Plane(status="not_run", reason=why)
    return planes


def rehearse(opts: RehearsalOptions, console: Console) -> tuple[Path, dict[str, Any]]:
    spec, runnable, duration = settle(opts)  # every problem before anything starts
    run_id = run_id_now("rehearse-")
    run_dir = opts.reports_dir / "rehearsal" / run_id
    control_dir = run_dir / "control"
    control_dir.mkdir(parents=True)
    (run_dir / "logs").mkdir()
    clock, live = RunClock(), LiveFigures()
    started, t0 = _now_iso(), time.monotonic()
    played = Played(Board(opts.for_scale, {}))
    planes = _planes(None, runnable)
    error: str | None = None
    with TappedRecorder(run_dir / "history.jsonl", clock, live) as rec:
        try:
            console.print(f"bringing up {runnable.topology.name} (run {run_id})")
            with deploy(runnable.topology, run_dir, run_id, hosts=opts.hosts, backend=opts.backend) as dep:
                dep.res.info["rehearsal"] = {"control": str(control_dir)}  # how 'harness fault' finds it
                dep.res.save()
                planes = _planes(dep, runnable)
                play(opts, spec, dep, rec, clock, live, control_dir, run_id, duration, console, played)
        except HarnessError as exc:
            error = str(exc)
        except KeyboardInterrupt:
            if played.operator is None:
                error = "interrupted (Ctrl-C) before the rehearsal started"
        finally:
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # judging is not cut short
    try:
        console.print("torn down; checking the history")
        checkpoints = list(opts.script.checkpoints) if opts.script else []
        result = judge(spec, run_dir, planes, played, error, checkpoints)
        result.update(
            run_id=run_id,
            topology=runnable.topology.name,
            started_at=started,
            finished_at=_now_iso(),
            duration_s=round(time.monotonic() - t0, 1),
            options=_options(opts, duration),
            versions={},
            # what the recorder wrote: `harness check` refuses a history changed since (as for a run)
            history=rec.summary(),
        )
        write(run_dir, result)
    finally:
        signal.signal(signal.SIGINT, previous)
    return run_dir, result


def _options(opts: RehearsalOptions, duration: float) -> dict[str, Any]:
    return {
        "rate": opts.rate,
        "seed": opts.seed,
        "for_scale": opts.for_scale,
        "max_duration_s": duration,
        "hosts": opts.hosts,
        "backend": opts.backend,
        "script": opts.script_file,
    }
