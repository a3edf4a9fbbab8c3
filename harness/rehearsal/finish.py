"""After a rehearsal: the checkers over its saved history, the checkpoints of its file, time to
detect and to recover, a verdict; ``rehearsal.json`` and the timeline report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.metrics.incident import incidents
from harness.records import Plane
from harness.rehearsal.plan import VARIANT
from harness.rehearsal.session import Played
from harness.report.rehearsal import render_rehearsal
from harness.scenario.judge import check_variant
from harness.scenario.kinds import kind_of
from harness.scenario.planes import plane_skips, with_scenario_needs
from harness.scenario.spec import ScenarioSpec

RESULTS = "rehearsal.json"


def invariants_of(spec: ScenarioSpec, run_dir: Path, planes: dict[str, Plane]) -> list[dict[str, Any]]:
    variant = spec.variants[0]
    needs = with_scenario_needs(kind_of(spec.workload.kind).checker_planes(variant), spec.checker_needs)
    verdicts = check_variant(
        run_dir / "history.jsonl",
        VARIANT,
        spec.checkers,
        spec.checker_params,
        source="rehearsal",
        skip=plane_skips(spec.checkers, planes, needs),
    )
    return [v.model_dump(mode="json") for v in verdicts]


def _rate(board: dict[str, Any]) -> list[tuple[float, float | None]]:
    return [(s["t_s"], s.get("ingest_rate", {}).get("")) for s in board["series"]]


def checkpoint_results(checkpoints: list[Any], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each checkpoint met when its alert began firing by its time."""
    out = []
    for c in checkpoints:
        fired = [e["t_s"] for e in events if e["kind"] == "firing" and e["rule"] == c.expect_alert]
        first = min(fired) if fired else None
        met = first is not None and first <= c.by_s
        out.append({"by_s": c.by_s, "expect_alert": c.expect_alert, "fired_at_s": first, "met": met})
    return out


def verdict(
    error: str | None, invariants: list[dict[str, Any]], checks: list[dict[str, Any]]
) -> tuple[str, str]:
    if error:
        return "error", error
    missed = [c for c in checks if not c["met"]]
    if missed:
        c = missed[0]
        when = "never" if c["fired_at_s"] is None else f"only at {c['fired_at_s']:.1f} s"
        return "fail", f"{c['expect_alert']} expected by {c['by_s']:g} s, fired {when}"
    invalid = [i["name"] for i in invariants if i["status"] == "invalid"]
    if invalid:
        return "fail", f"invariants violated: {', '.join(invalid)}"
    return "pass", "every checkpoint met and no invariant violated"


def judge(
    spec: ScenarioSpec,
    run_dir: Path,
    planes: dict[str, Plane],
    played: Played,
    error: str | None,
    checkpoints: list[Any] | None = None,
) -> dict[str, Any]:
    board = played.board.to_dict()
    actions = played.operator.actions if played.operator else []
    timeline = played.operator.timeline_actions() if played.operator else []
    invariants = invariants_of(spec, run_dir, planes) if played.operator else []
    checks = checkpoint_results(checkpoints or [], board["events"])
    verdict_, reason = verdict(error, invariants, checks)
    return {
        "verdict": verdict_,
        "verdict_reason": reason,
        "error": error,
        "end_reason": played.end_reason,
        "end_s": round(played.end_s, 3),
        "actions": actions,
        "alerts": board,
        "incidents": [i.to_dict() for i in incidents(timeline, board["events"], played.end_s, _rate(board))],
        "checkpoints": checks,
        "invariants": invariants,
        "planes": {k: v.model_dump(mode="json") for k, v in planes.items()},
        "faults": played.faults,
        "healthy_again": played.healthy_again or "healthy",
        "final_read_failures": played.final_read_failures,
        "workload": {"stats": played.stats.to_dict() if played.stats else None, **played.workload},
    }


def write(run_dir: Path, result: dict[str, Any]) -> None:
    (run_dir / RESULTS).write_text(json.dumps(result, indent=1, default=str))
    render_rehearsal(run_dir)
