"""The CLI by hand: up, status, down, clean, and its errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.doctor import find_binary
from harness.topology.lifecycle import RunResources, registered_runs
from harness.topology.pids import pid_exists
from tests.conftest import needs_ferretdb, needs_servers
from tests.live.leftovers import assert_nothing_left

ROOT = Path(__file__).resolve().parents[2]


def harness(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.live
@needs_servers
def test_up_status_down() -> None:
    if any(r.detached for r in registered_runs()):
        pytest.skip("a topology is already up on this machine ('harness down' it to run this test)")
    up = harness("up", "redis-replicated")
    assert up.returncode == 0, up.stderr
    try:
        assert "healthy in" in up.stderr and "r1" in up.stdout and "toxiproxy API" in up.stdout
        again = harness("up", "redis-cluster")
        assert again.returncode == 2 and "already up" in again.stderr and "harness down" in again.stderr
        status = harness("status", "--json")
        assert status.returncode == 0, status.stderr
        info = json.loads(status.stdout)
        assert info["topology"] == "redis-replicated"
        assert info["health"]["r1"] == "master"
        assert info["health"]["r2"] == "replica, link up"
        res = next(r for r in registered_runs() if r.run_id == info["run_id"])
    finally:
        down = harness("down")
    assert down.returncode == 0 and "took down redis-replicated" in down.stderr
    assert_nothing_left(RunResources.load(Path(res.run_dir) / "resources.json"))
    assert "nothing is up" in harness("status").stderr


@pytest.mark.live
@needs_servers
def test_down_then_up_again_back_to_back() -> None:
    """'harness down' returns only once every server is gone from the process table (reaped, not
    just signalled): they are not its children, init reaps them in its own time. So an 'up' straight
    after it never meets the last run's processes, ports, namespaces or names."""
    if any(r.detached for r in registered_runs()):
        pytest.skip("a topology is already up on this machine ('harness down' it to run this test)")
    for attempt in range(2):
        up = harness("up", "redis-replicated")
        try:
            assert up.returncode == 0, f"up #{attempt + 1}: {up.stderr}"
            res = next(r for r in registered_runs() if r.detached)
        finally:
            down = harness("down")
        assert down.returncode == 0 and "took down redis-replicated" in down.stderr, down.stderr
        left = [f"{p.name} (pid {p.pid})" for p in res.processes if pid_exists(p.pid, p.start_time)]
        assert not left, f"still in the process table after 'harness down' #{attempt + 1}: {left}"
        assert_nothing_left(res)


@pytest.mark.live
@needs_servers
@needs_ferretdb
def test_up_a_mongodb_plane_on_ferretdb_names_its_server() -> None:
    if any(r.detached for r in registered_runs()):
        pytest.skip("a topology is already up on this machine ('harness down' it to run this test)")
    if find_binary("mongod") is not None:
        pytest.skip("mongod is on this machine: mongo-standalone would run it, not FerretDB")
    up = harness("up", "mongo-standalone")
    assert up.returncode == 0, up.stderr
    try:
        assert "standalone (ferretdb " in up.stdout and "directConnection=true" in up.stdout
        assert "server: ferretdb" in up.stdout and "left out: audit_logs: validator" in up.stdout
        status = harness("status", "--json")
        assert status.returncode == 0, status.stderr
        info = json.loads(status.stdout)
        assert info["mongo"]["server"]["server"] == "ferretdb"
        assert info["health"]["m1"] == "standalone, answering"
        res = next(r for r in registered_runs() if r.run_id == info["run_id"])
    finally:
        down = harness("down")
    assert down.returncode == 0 and "took down mongo-standalone" in down.stderr
    assert_nothing_left(RunResources.load(Path(res.run_dir) / "resources.json"))


def test_unknown_scenario_is_one_clear_error() -> None:
    result = harness("scenario", "no-such-case")
    assert result.returncode == 2
    assert "unknown scenario 'no-such-case'" in result.stderr and "hot-partition" in result.stderr
    assert "Traceback" not in result.stderr


def test_malformed_scenario_file_names_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    good = (ROOT / "scenarios" / "hot-partition.yaml").read_text()
    bad.write_text(re.sub(r"(?m)^  rate: \d+", "  rate: -5", good))
    result = harness("scenario", str(bad))
    assert result.returncode == 2
    assert str(bad) in result.stderr and "workload.rate" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_explains_every_option() -> None:
    text = harness("scenario", "--help").stdout
    for option in ("--seed", "--duration", "--rate", "--hosts", "--reports-dir", "--keep-data"):
        assert option in text
