"""An incident rehearsal driven through tmux, as an operator would: the dashboard in one window, a
partition typed with 'harness fault' in another; the dashboard shows it and the alert firing, q
ends the rehearsal, and the timeline report holds the partition and the alert."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.history.digest import file_digest
from harness.topology.docker_cli import container_pid
from harness.topology.docker_network import holder_name
from harness.topology.lifecycle import RunResources
from tests.conftest import needs_netns, needs_servers
from tests.live import backend
from tests.live.leftovers import assert_nothing_left

ROOT = Path(__file__).resolve().parents[2]
TMUX = shutil.which("tmux")
needs_tmux = pytest.mark.skipif(TMUX is None, reason="needs tmux (scripts/setup.sh installs it)")


def tmux(*args: str) -> str:
    assert TMUX is not None
    return subprocess.run([TMUX, *args], capture_output=True, text=True, timeout=10, check=True).stdout


def wait_for(what: str, check: Callable[[], bool], timeout_s: float, show: Callable[[], str]) -> None:
    """Polls ``check`` until it holds; fails with what the screen showed at the deadline."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    pytest.fail(f"no {what} within {timeout_s:.0f}s; the screen:\n{show()}")


def harness_cmd(*args: str) -> str:
    path = f"{ROOT / 'tools' / 'bin'}:{os.environ.get('PATH', '')}"
    env = f"env PATH={shlex.quote(path)} PYTHONPATH={shlex.quote(str(ROOT))}"
    return f"{env} {shlex.quote(sys.executable)} -m harness.cli " + " ".join(shlex.quote(a) for a in args)


@pytest.mark.live
@needs_servers
@needs_netns
@needs_tmux
def test_typed_partition_fires_the_alert_and_lands_in_the_timeline(tmp_path: Path) -> None:
    session = f"hx-rehearse-{os.getpid()}"
    reports, rc_file = tmp_path / "reports", tmp_path / "rc"
    rehearse = harness_cmd(
        "rehearse",
        "redis-replicated",
        "--for-scale",
        "0.05",
        "--max-duration",
        "90",
        "--reports-dir",
        str(reports),
        "--backend",
        backend.chosen,
    )
    tmux("new-session", "-d", "-s", session, "-x", "110", "-y", "45", f"{rehearse}; echo $? > {rc_file}")
    dashboard = f"{session}:0"

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", dashboard)

    try:
        wait_for("dashboard", lambda: "faults active: none" in screen(), 60, screen)
        run_dirs = list((reports / "rehearsal").iterdir())
        run_id = run_dirs[0].name
        tmux(
            "new-window",
            "-t",
            session,
            harness_cmd("fault", "partition", "r2", "--run", run_id) + "; sleep 60",
        )
        wait_for("partition in the dashboard", lambda: "faults active: partition r2" in screen(), 30, screen)
        wait_for("RedisReplicationLag firing", lambda: "FIRING  RedisReplicationLag" in screen(), 40, screen)
        answer = tmux("capture-pane", "-p", "-t", f"{session}:1")
        assert "partition r2: done at" in answer, answer
        tmux("send-keys", "-t", dashboard, "q")
        wait_for("the rehearsal's end", rc_file.exists, 120, screen)
    finally:
        subprocess.run([TMUX or "tmux", "kill-session", "-t", session], capture_output=True, timeout=10)
    result = json.loads((run_dirs[0] / "rehearsal.json").read_text())
    assert rc_file.read_text().strip() == "0", result["verdict_reason"]
    assert result["end_reason"] == "ended by the operator (q)"
    [fault] = [a for a in result["actions"] if a["action"] == "fault"]
    assert (fault["fault"], fault["target"], fault["source"], fault["ok"]) == (
        "partition",
        "r2",
        "terminal",
        True,
    )
    assert [a["source"] for a in result["actions"] if a["action"] == "heal"] == ["end"]  # healed at the end
    fired = [e for e in result["alerts"]["events"] if e["kind"] == "firing"]
    assert fired and fired[0]["rule"] == "RedisReplicationLag" and fired[0]["t_s"] > fault["done_s"]
    [incident] = result["incidents"]
    assert incident["detected_by"] == "RedisReplicationLag" and incident["ttd_s"] > 0
    history = (run_dirs[0] / "history.jsonl").read_text()
    assert '"process":"nemesis","f":"fault-start"' in history and '"fault":"partition"' in history
    page = (run_dirs[0] / "index.html").read_text()
    assert "partition r2" in page and "RedisReplicationLag" in page and "Time to detect" in page
    assert_nothing_left(RunResources.load(run_dirs[0] / "resources.json"))


def harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=90
    )


@pytest.mark.live
@needs_servers
@needs_netns
def test_faults_against_a_topology_brought_up_by_up() -> None:
    from harness.topology.lifecycle import registered_runs

    if any(r.detached for r in registered_runs()):
        pytest.skip("a topology is already up on this machine ('harness down' it to run this test)")
    up = harness("up", "redis-replicated", "--backend", backend.chosen)
    assert up.returncode == 0, up.stderr
    res = next(r for r in registered_runs() if r.detached)
    try:
        nodes = {n["name"]: n for n in res.info["endpoints"]["nodes"]}
        api = res.info["endpoints"]["toxiproxy_api"]

        def rules(node: str) -> list[str]:
            if nodes[node]["netns"]:
                where = ["ip", "netns", "exec", nodes[node]["netns"]]
            else:  # the docker backend: the namespace of the node's holder container
                where = [
                    "nsenter",
                    "--target",
                    str(container_pid(holder_name(nodes[node]["container"]))),
                    "--net",
                ]
            out = subprocess.run(
                [*where, "iptables", "-S", "HARNESS-PARTITION"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            return [line for line in out.splitlines() if line.startswith("-A")]

        def toxics() -> list[str]:
            import requests

            return [t["name"] for t in requests.get(f"{api}/proxies/r1-client/toxics", timeout=5).json()]

        part = harness("fault", "partition", "r2")
        assert part.returncode == 0, part.stderr
        assert rules("r2") and rules("r1")
        lat = harness("fault", "latency", "r1", "--param", "ms=50")
        assert lat.returncode == 0, lat.stderr
        assert toxics() == ["hx-latency-downstream"]
        bad = harness("fault", "partition", "r9")
        assert bad.returncode == 2 and "unknown target 'r9'" in bad.stderr and "nodes: r1, r2" in bad.stderr
        kill = harness("fault", "kill", "r1")
        assert (
            kill.returncode == 2
            and "not supported against a topology brought up by 'harness up'" in kill.stderr
        )
        heal = harness("fault", "heal")
        assert heal.returncode == 0, heal.stderr
        assert rules("r1") == rules("r2") == [] and toxics() == []
        history = [
            json.loads(line) for line in (Path(res.run_dir) / "history.jsonl").read_text().splitlines()
        ]
        assert [(h["type"], h["f"]) for h in history] == [
            ("invoke", "fault-start"),
            ("ok", "fault-start"),
            ("invoke", "fault-start"),
            ("ok", "fault-start"),
            ("invoke", "fault-end"),
            ("ok", "fault-end"),
        ]
        assert [h["id"] for h in history] == [1, 1, 2, 2, 3, 3]
    finally:
        down = harness("down")
    assert down.returncode == 0, down.stderr
    assert_nothing_left(RunResources.load(Path(res.run_dir) / "resources.json"))


@pytest.mark.live
@needs_servers
@needs_netns
def test_the_shipped_rehearsal_file_replays_and_passes(tmp_path: Path) -> None:
    proc = harness(
        "rehearse",
        "redis-replicated",
        "--script",
        "rehearsals/replica-partition.yaml",
        "--reports-dir",
        str(tmp_path),
    )
    [run_dir] = list((tmp_path / "rehearsal").iterdir())
    result = json.loads((run_dir / "rehearsal.json").read_text())
    assert proc.returncode == 0, result["verdict_reason"]
    assert [c["met"] for c in result["checkpoints"]] == [True]
    assert [(a["source"], a["action"]) for a in result["actions"]] == [
        ("script", "fault"),
        ("script", "heal"),
    ]
    assert "verdict: pass" in proc.stderr and (run_dir / "index.html").is_file()
    assert_nothing_left(RunResources.load(run_dir / "resources.json"))
    # judged again from its files: the same checkers' statuses, the same checkpoint, exit 0
    again = harness("check", str(run_dir))
    assert again.returncode == 0, again.stdout + again.stderr
    rechecked = json.loads((run_dir / "rehearsal.json").read_text())
    assert [(i["name"], i["status"]) for i in rechecked["invariants"]] == [
        (i["name"], i["status"]) for i in result["invariants"]
    ]
    assert rechecked["checkpoints"] == result["checkpoints"] and "rechecked_at" in rechecked
    # a read that returned another tenant's item, written into the saved history: judged again, the
    # isolation checker finds it and the rehearsal fails
    history = run_dir / "history.jsonl"
    lines = history.read_text().splitlines()
    reads = [i for i, line in enumerate(lines) if '"type":"ok"' in line and '"f":"read"' in line]
    assert reads, "the rehearsal recorded no ok profile read"
    op = json.loads(lines[reads[0]])
    op["tenants"] = [*op["tenants"], "t99999"]
    lines[reads[0]] = json.dumps(op, separators=(",", ":"))
    history.write_text("\n".join(lines) + "\n")
    edited = harness("check", str(run_dir))  # first: not the history the rehearsal wrote
    assert edited.returncode == 2 and "not the history the run wrote" in edited.stderr, edited.stderr
    saved = json.loads((run_dir / "rehearsal.json").read_text())
    d = file_digest(history)
    saved["history"] |= {"records": d.lines, "size": d.size, "sha256": d.sha256}
    (run_dir / "rehearsal.json").write_text(json.dumps(saved))
    broken = harness("check", str(run_dir))  # as if the rehearsal had recorded it
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "tenant-isolation: invalid" in broken.stdout + broken.stderr
    assert "invariants violated" in json.loads((run_dir / "rehearsal.json").read_text())["verdict_reason"]


@pytest.mark.live
@needs_servers
def test_a_missed_checkpoint_exits_1(tmp_path: Path) -> None:
    script = tmp_path / "quiet.yaml"
    script.write_text(
        "end_s: 4\nfor_scale: 0.05\ncheckpoints:\n  - {by_s: 4, expect_alert: RedisReplicationLag}\n"
    )
    proc = harness("rehearse", "redis-replicated", "--script", str(script), "--reports-dir", str(tmp_path))
    assert proc.returncode == 1, proc.stderr
    assert "RedisReplicationLag expected by 4 s, fired never" in proc.stderr
