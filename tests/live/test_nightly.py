"""`harness nightly` for real: scenarios run as `harness scenario` processes, a trend across two
nightlies, and Ctrl-C stopping the running scenario with nothing left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.nightly import read_history
from harness.topology.lifecycle import RunResources
from tests.conftest import needs_ferretdb, needs_servers
from tests.live.backend import chosen
from tests.live.leftovers import assert_nothing_left_after_faults

ROOT = Path(__file__).resolve().parents[2]


def nightly(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "nightly", "--backend", chosen, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.live
@needs_servers
@needs_ferretdb
def test_two_nightlies_of_a_not_run_scenario_make_a_trend(tmp_path: Path) -> None:
    """hot-partition-mongo is not_run here (FerretDB cannot shard) in a few seconds: shown as not
    run, never as a pass, and its run time is trended across the two nightlies."""
    reports = tmp_path / "reports"
    for _ in range(2):
        done = nightly("--scenarios", "hot-partition-mongo", "--reports-dir", str(reports))
        assert done.returncode == 0, done.stderr  # not_run only: nothing failed
        assert "hot-partition-mongo" in done.stderr and "not_run" in done.stderr
    second = reports / "nightly" / "latest"
    record = json.loads((second / "nightly.json").read_text())
    (sc,) = record["scenarios"]
    assert sc["verdict"] == "not_run" and sc["run_dir"].startswith("../../hot-partition-mongo/")
    run_time = next(f for f in sc["figures"] if f["name"] == "run time")
    assert len(run_time["history"]) == 1 and run_time["trend"] == "learning"
    html = (second / "index.html").read_text()
    assert "<polyline" in html and "not run" in html
    assert (second / sc["run_dir"] / "index.html").is_file()  # the link to the run's own report
    suites = ET.parse(second / "junit.xml").getroot().findall("testsuite")
    assert [s.get("name") for s in suites] == ["hot-partition-mongo"]
    history = read_history(reports / "baselines" / "history.csv")
    assert history["nightly"].nunique() == 2


@pytest.mark.live
@needs_servers
def test_ctrl_c_stops_the_scenario_and_the_nightly(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    cmd = [sys.executable, "-m", "harness.cli", "nightly", "--backend", chosen, "--reports-dir", str(reports)]
    proc = subprocess.Popen(
        [*cmd, "--scenarios", "stale-reads,hot-partition-mongo", "--duration", "30"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        resources: list[Path] = []
        while time.monotonic() < deadline and not resources:  # the scenario's servers are up
            resources = [
                p
                for p in (reports / "stale-reads").glob("*/resources.json")
                if RunResources.load(p).processes
            ]
            time.sleep(0.5)
        assert resources, "the scenario never brought its topology up"
        time.sleep(3)
        proc.send_signal(signal.SIGINT)  # as a terminal's Ctrl-C
        _, err = proc.communicate(timeout=150)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    record = json.loads((reports / "nightly" / "latest" / "nightly.json").read_text())
    assert record["state"] == "interrupted" and record["verdict"] == "interrupted"
    assert [s["verdict"] for s in record["scenarios"]] == ["error", "pending"]
    assert "not started" in (reports / "nightly" / "latest" / "index.html").read_text()
    assert not (reports / "baselines" / "history.csv").exists()
    assert_nothing_left_after_faults(RunResources.load(resources[0]))
