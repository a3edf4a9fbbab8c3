"""Teardown returns only once every server's pid is gone, not even a zombie left: a detached run's
servers are reaped by init in its own time (not by us), and 'harness down && harness up' must find
them gone. A parent that reaps late stands in for init here."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.topology import lifecycle
from harness.topology.lifecycle import ProcessRecord, RunResources, new_resources, registered_runs, teardown
from harness.topology.pids import pid_exists, proc_start_time, wait_gone
from harness.topology.processes import ServerProcess

# Starts `sleep`, prints its pid, and reaps it `delay` seconds after it exits (never, if negative);
# stays its parent until stdin closes.
LAZY_PARENT = """
import os, subprocess, sys, time
delay = float(sys.argv[1])
child = subprocess.Popen(["sleep", "60"])
print(child.pid, flush=True)
if delay >= 0:
    while open(f"/proc/{child.pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
        time.sleep(0.01)
    time.sleep(delay)
    os.waitpid(child.pid, 0)
sys.stdin.read()
"""


@pytest.fixture
def res(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunResources:
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))
    return new_resources("unit-reap", tmp_path, detached=True, topology="none")


@pytest.fixture
def lazy_parent(request: pytest.FixtureRequest) -> Iterator[tuple[int, int | None]]:
    """(pid, start time) of a process that is not our child, reaped late by its own parent."""
    parent = subprocess.Popen(
        [sys.executable, "-c", LAZY_PARENT, str(request.param)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None and parent.stdin is not None
    pid = int(parent.stdout.readline())
    try:
        yield pid, proc_start_time(pid)
    finally:
        parent.stdin.close()  # the parent exits; a child it never reaped goes to init
        parent.wait(timeout=10)


def _record(res: RunResources, name: str, pid: int, start: int | None) -> None:
    res.add_process(ProcessRecord(name, pid, start, ["sleep", "60"], "/dev/null"))


@pytest.mark.parametrize("lazy_parent", [1.0], indirect=True)
def test_teardown_waits_until_a_server_reaped_by_another_parent_is_gone(
    res: RunResources, lazy_parent: tuple[int, int | None]
) -> None:
    pid, start = lazy_parent
    _record(res, "lazy", pid, start)
    started = time.monotonic()
    removed = teardown(res)
    assert not pid_exists(pid, start), "teardown returned while the server's pid was still taken"
    assert time.monotonic() - started >= 1.0  # the parent's delay: it was waited for, not skipped
    assert removed == [f"process lazy (pid {pid})"]


def test_teardown_reaps_its_own_children(res: RunResources, tmp_path: Path) -> None:
    proc = ServerProcess("sleep", ["sleep", "60"], tmp_path / "sleep.log", res)
    teardown(res)
    assert not pid_exists(proc.pid, proc.start_time)


@pytest.mark.parametrize("lazy_parent", [-1], indirect=True)
def test_a_parent_that_never_reaps_bounds_the_wait_and_is_reported(
    res: RunResources, lazy_parent: tuple[int, int | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    pid, start = lazy_parent
    _record(res, "unreaped", pid, start)
    monkeypatch.setattr(lifecycle, "REAP_TIMEOUT_S", 0.3)
    started = time.monotonic()
    removed = teardown(res)
    assert time.monotonic() - started < 5
    assert pid_exists(pid, start)  # a zombie: nothing but its parent can remove it
    assert any(f"pid {pid} exited but its parent" in item and "did not reap" in item for item in removed)
    assert wait_gone([(pid, start)], timeout_s=0.1) == [pid]


def test_a_reused_pid_counts_as_gone() -> None:
    proc = subprocess.Popen(["sleep", "60"])
    start = proc_start_time(proc.pid)
    assert start is not None
    try:
        assert wait_gone([(proc.pid, start + 1)], timeout_s=0.1) == []  # another start time
        assert wait_gone([(proc.pid, start)], timeout_s=0.1) == [proc.pid]
    finally:
        proc.kill()
        proc.wait()


def test_a_run_started_from_a_relative_reports_dir_is_found_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every bring-up reaps: it must see a live run whose directory was given relative to another
    working directory ('make scenario' writes to reports/…), or it sweeps that run's servers."""
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))
    (tmp_path / "a" / "reports" / "run1").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a")
    new_resources("run1", Path("reports/run1"), detached=False, topology="none")
    monkeypatch.chdir(tmp_path)  # another harness process, elsewhere
    runs = registered_runs()
    assert [r.run_id for r in runs] == ["run1"] and runs[0].owner_alive()
    assert Path(runs[0].run_dir).is_absolute()
