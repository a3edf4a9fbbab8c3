"""``harness check`` on a rehearsal's directory: its checkers run again over the saved history and
its checkpoints judged again against the alert events it saved, then ``rehearsal.json`` and the
timeline report rewritten. What is judged again, and what is not:

* the invariants: the same checkers and parameters a rehearsal runs (:func:`rehearsal_spec` from
  the saved options), over ``history.jsonl``, with the planes that did not run saved as such; a
  history that is not the one the rehearsal wrote (its saved digest) is an error, never judged;
* the checkpoints: each expected alert against the first time it fired in the saved events;
* the alerts themselves are **not** evaluated again: the sampler keeps only the charted series,
  not every series the rules read, so they are taken as recorded (the page says so).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.records import Plane
from harness.records.results import HistoryDigest
from harness.rehearsal.finish import RESULTS, checkpoint_results, invariants_of, verdict, write
from harness.rehearsal.plan import RehearsalOptions, rehearsal_spec
from harness.rehearsal.script import Checkpoint
from harness.scenario.judge import verify_history


def is_rehearsal(run_dir: Path) -> bool:
    return (run_dir / RESULTS).is_file()


def _load(run_dir: Path) -> dict[str, Any]:
    path = run_dir / RESULTS
    try:
        saved: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise HarnessError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from exc
    missing = [k for k in ("options", "topology", "planes") if not isinstance(saved, dict) or k not in saved]
    if missing:
        raise HarnessError(f"{path}: not a rehearsal's results (no {', '.join(missing)})")
    return saved


def recheck(run_dir: Path) -> dict[str, Any]:
    """Judges the rehearsal in ``run_dir`` again; returns the rewritten results."""
    saved = _load(run_dir)
    o = saved["options"]
    opts = RehearsalOptions(
        topology=saved["topology"],
        rate=float(o["rate"]),
        seed=int(o["seed"]),
        for_scale=float(o["for_scale"]),
    )
    spec = rehearsal_spec(opts, float(o["max_duration_s"]))
    planes = {k: Plane.model_validate(v) for k, v in saved["planes"].items()}
    history = run_dir / "history.jsonl"
    # a rehearsal that never started (its operator never came up) had no invariants to judge
    started = bool(saved.get("invariants"))
    if started and not history.is_file():
        raise HarnessError(f"{history}: missing; the rehearsal's checkers need it")
    notes = []
    if started:
        recorded = saved.get("history")
        note = verify_history(history, HistoryDigest.model_validate(recorded) if recorded else None)
        notes += [note] if note else []
    invariants = invariants_of(spec, run_dir, planes) if started else []
    try:
        checkpoints = [
            Checkpoint(by_s=float(c["by_s"]), expect_alert=str(c["expect_alert"]))
            for c in saved.get("checkpoints", [])
        ]
    except (KeyError, TypeError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
        raise HarnessError(f"{run_dir / RESULTS}: checkpoints: {exc}") from exc
    checks = checkpoint_results(checkpoints, (saved.get("alerts") or {}).get("events", []))
    verdict_, reason = verdict(saved.get("error"), invariants, checks)
    saved.update(
        invariants=invariants,
        checkpoints=checks,
        verdict=verdict_,
        verdict_reason=reason,
        rechecked_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        check_notes=notes,
    )
    write(run_dir, saved)
    return saved
