"""The CI workflow cannot run here: its shape is checked instead (schedule, `make setup`, `make nightly`,
the job summary, the baselines carried across runs, the reports kept), and it is linted with
actionlint (+ shellcheck)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "nightly.yml"


def _workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def _steps() -> list[dict[str, Any]]:
    jobs = _workflow()["jobs"]
    assert list(jobs) == ["nightly"]
    steps = jobs["nightly"]["steps"]
    assert isinstance(steps, list)
    return steps


def _runs() -> list[str]:
    return [str(s["run"]) for s in _steps() if "run" in s]


def test_it_runs_nightly_and_by_hand() -> None:
    on = _workflow()[True]  # YAML 1.1 reads the key 'on' as true
    assert on["schedule"] and on["schedule"][0]["cron"].count(" ") == 4
    assert "workflow_dispatch" in on


def test_it_runs_make_setup_then_make_nightly() -> None:
    runs = _runs()
    setup = next(i for i, r in enumerate(runs) if "make setup" in r)
    nightly = next(i for i, r in enumerate(runs) if "make nightly" in r)
    assert setup < nightly


def test_the_summary_goes_to_the_job_summary_even_when_the_nightly_fails() -> None:
    step = next(s for s in _steps() if "GITHUB_STEP_SUMMARY" in str(s.get("run", "")))
    assert "reports/nightly/latest/summary.md" in step["run"] and step.get("if") == "always()"


def test_the_reports_are_uploaded_as_an_artifact() -> None:
    upload = next(s for s in _steps() if str(s.get("uses", "")).startswith("actions/upload-artifact@"))
    paths = str(upload["with"]["path"]).split()
    assert "reports/" in paths and upload.get("if") == "always()"


def test_the_baselines_are_carried_to_the_next_run() -> None:
    steps = _steps()
    uses = [str(s.get("uses", "")) for s in steps]
    restore = uses.index(next(u for u in uses if u.startswith("actions/cache/restore@")))
    save = uses.index(next(u for u in uses if u.startswith("actions/cache/save@")))
    nightly = next(i for i, s in enumerate(steps) if "make nightly" in str(s.get("run", "")))
    assert restore < nightly < save
    assert steps[restore]["with"]["path"] == steps[save]["with"]["path"] == "reports/baselines"
    assert steps[restore]["with"]["restore-keys"] and steps[save].get("if") == "always()"


def test_the_workflow_passes_actionlint() -> None:
    # actionlint knows GitHub's schema, the expressions' contexts and the actions' inputs, and runs
    # shellcheck over every run: script: the closest this file gets to running before it runs
    tools = Path(os.environ.get("HARNESS_TOOLS_DIR", WORKFLOW.parents[2] / "tools" / "bin"))
    actionlint = shutil.which("actionlint", path=str(tools)) or shutil.which("actionlint")
    if actionlint is None:
        pytest.fail(f"no actionlint in {tools} or on PATH: make setup builds it (Go)")
    assert shutil.which("shellcheck"), "shellcheck: apt-get install shellcheck (make setup does)"
    proc = subprocess.run(
        [actionlint, "-no-color", str(WORKFLOW)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
