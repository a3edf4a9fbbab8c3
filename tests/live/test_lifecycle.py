"""Nothing is left behind: on normal exit, on an exception, on Ctrl-C, and after a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.topology.lifecycle import RunResources, reap
from harness.topology.local import run_id_now
from harness.topology.spec import load_topology
from tests.conftest import needs_servers
from tests.live.backend import deploy
from tests.live.leftovers import assert_nothing_left

pytestmark = [pytest.mark.live, needs_servers]
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_teardown_on_exception_and_ctrl_c(tmp_path: Path, exc: type[BaseException]) -> None:
    run_id = run_id_now("test-")
    seen: list[RunResources] = []
    with pytest.raises(exc), deploy(load_topology("redis-replicated"), tmp_path / run_id, run_id) as dep:
        seen.append(dep.res)
        assert len(dep.res.processes) == 3  # toxiproxy + 2 redis
        raise exc()
    assert_nothing_left(seen[0])


def test_crashed_run_is_reaped(tmp_path: Path) -> None:
    """A run killed with SIGKILL leaves servers behind; reap() finds and removes them."""
    run_dir = tmp_path / "crash"
    script = (
        "import os,sys,signal\n"
        "from pathlib import Path\n"
        "from tests.live.backend import deploy\n"
        "from harness.topology.spec import load_topology\n"
        f"run_dir = Path({str(run_dir)!r})\n"
        f"with deploy(load_topology('redis-replicated'), run_dir, 'test-crash-{os.getpid()}'):\n"
        "    print('up', flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    res = RunResources.load(run_dir / "resources.json")
    assert any(os.path.exists(f"/proc/{p.pid}") for p in res.processes), "the crash should leave servers"
    removed = reap(include_detached=False)
    assert any(str(p.pid) in item for item in removed for p in res.processes)
    assert_nothing_left(res)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_cli_interrupted_mid_scenario_tears_down(tmp_path: Path, sig: signal.Signals) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "scenario",
            "hot-partition",
            "--duration",
            "60",
            "--rate",
            "500",
            "--reports-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 90
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "healthy in" in line or time.monotonic() > deadline:
            break
    # The interrupt should land mid-variant: wait until the workload has written ops to the history.
    while time.monotonic() < deadline and not any(
        h.stat().st_size > 0 for h in tmp_path.glob("hot-partition/*/history.jsonl")
    ):
        time.sleep(0.05)
    assert any(h.stat().st_size > 0 for h in tmp_path.glob("hot-partition/*/history.jsonl")), "".join(lines)
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, "".join(lines) + out
    run_dir = next((tmp_path / "hot-partition").glob("2*"))
    results = json.loads((run_dir / "results.json").read_text())
    assert results["verdict"] == "error" and "interrupted" in results["error"]
    assert (run_dir / "index.html").exists()
    assert_nothing_left(RunResources.load(run_dir / "resources.json"))
