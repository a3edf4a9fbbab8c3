"""The topology layer's stop/start-again and the teardown rules for paused and late-started
processes, on plain ``sleep`` processes (no servers needed)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from harness.errors import HarnessError
from harness.topology import lifecycle
from harness.topology.lifecycle import RunResources, is_stopped, new_resources, pid_alive, teardown
from harness.topology.processes import ServerProcess
from harness.topology.restart import kill_node, signal_node, start_again, stop_node


class SleepNode:
    """A node whose server is ``sleep``: enough to check signals, records and restarts."""

    def __init__(self, res: RunResources, log: Path) -> None:
        self.name = "s1"
        self.process: ServerProcess | None = ServerProcess("sleep-s1", ["sleep", "60"], log, res)
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


@pytest.fixture
def res(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))
    resources = new_resources("unit-restart", tmp_path, detached=False, topology="none")
    yield resources
    teardown(resources)


def test_kill_then_start_again_records_the_new_pid(res: RunResources, tmp_path: Path) -> None:
    node = SleepNode(res, tmp_path / "s1.log")
    assert node.process is not None
    first = node.process.pid
    with pytest.raises(HarnessError, match="still runs"):
        start_again(node, res)  # two servers on one data dir must never happen
    out = kill_node(node)
    assert out["exit_code"] == -signal.SIGKILL and not pid_alive(first)
    new = start_again(node, res)
    assert new.pid != first and node.process is new and new.cmd == ["sleep", "60"]
    assert [p.pid for p in res.processes] == [first, new.pid]
    assert node.closed == 2  # the admin connection is dropped on kill and on start
    teardown(res)
    assert not pid_alive(new.pid)


def test_graceful_stop_of_a_paused_process(res: RunResources, tmp_path: Path) -> None:
    node = SleepNode(res, tmp_path / "s1.log")
    assert node.process is not None
    signal_node(node, signal.SIGSTOP)
    deadline = time.monotonic() + 5
    while not is_stopped(node.process.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert is_stopped(node.process.pid)
    out = stop_node(node, timeout_s=5)
    assert out["graceful"] is True and out["exit_code"] == -signal.SIGTERM


def test_teardown_resumes_and_stops_a_paused_process_at_once(
    res: RunResources, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = SleepNode(res, tmp_path / "s1.log")
    assert node.process is not None
    pid = node.process.pid
    signal_node(node, signal.SIGSTOP)
    deadline = time.monotonic() + 5
    while not is_stopped(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert is_stopped(pid)
    sent: list[int] = []
    real_kill = os.kill

    def recording_kill(target: int, sig: int) -> None:
        if target == pid:
            sent.append(sig)
        real_kill(target, sig)

    monkeypatch.setattr(lifecycle.os, "kill", recording_kill)
    teardown(res)
    # Without SIGCONT the SIGTERM would stay pending for the whole grace period and SIGKILL follow.
    assert not pid_alive(pid)
    assert sent[:2] == [signal.SIGTERM, signal.SIGCONT] and signal.SIGKILL not in sent


def test_no_process_starts_once_teardown_began(res: RunResources, tmp_path: Path) -> None:
    node = SleepNode(res, tmp_path / "s1.log")
    kill_node(node)
    teardown(res)
    assert res.closing
    with pytest.raises(HarnessError, match="being torn down"):
        start_again(node, res)
