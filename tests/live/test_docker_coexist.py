"""The local backend beside a running Docker engine, and the FORWARD rule that keeps it whole.

A running dockerd sets FORWARD's policy to DROP and turns on bridge-nf-call-iptables: traffic bridged
between two hosts of a run would then be dropped. Each run adds its own ACCEPT rule for its bridge
(harness/topology/forward.py); these tests show the rule is what keeps host-to-host traffic flowing,
that a partition still behaves, and that teardown and ``harness clean`` remove exactly our rules.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from harness.topology import forward
from harness.topology.deployment import Deployment
from harness.topology.lifecycle import RunResources, reap
from harness.topology.local import deploy, run_id_now
from harness.topology.spec import load_topology
from tests.conftest import needs_engine, needs_netns, needs_servers
from tests.live.leftovers import assert_nothing_left
from tests.live.test_partition import can_connect, cluster_views, nodes_view, wait_for

pytestmark = [pytest.mark.live, needs_netns]
ROOT = Path(__file__).resolve().parents[2]


def _policy() -> str:
    out = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True, check=True).stdout
    return out.splitlines()[0]  # "-P FORWARD DROP"


def _bridge_nf() -> str:
    return Path("/proc/sys/net/bridge/bridge-nf-call-iptables").read_text().strip()


def _direct(dep: Deployment, src: str, dst: str) -> bool:
    """A TCP connect from ``src``'s host straight to ``dst``'s own address: bridged host to host,
    the traffic a DROP policy on FORWARD stops (a proxied path never crosses FORWARD)."""
    node = dep.node(dst)
    code = (
        "import socket,sys; s=socket.socket(); s.settimeout(1);"
        f"sys.exit(s.connect_ex(('{node.host.address}', {node.port})) != 0)"
    )
    return subprocess.run(dep.node(src).host.wrap(["python3", "-c", code]), timeout=10).returncode == 0


def _ours(run_id: str) -> list[list[str]]:
    return [rule for rid, rule in forward.our_rules() if rid == run_id]


@needs_engine
@needs_servers
def test_local_backend_works_beside_a_running_engine(tmp_path: Path) -> None:
    policy, bridge_nf = _policy(), _bridge_nf()
    assert (policy, bridge_nf) == ("-P FORWARD DROP", "1"), (
        "a running engine was expected to set FORWARD's policy to DROP with bridge-nf-call-iptables on; "
        f"found '{policy}', bridge-nf-call-iptables={bridge_nf}: this test would prove nothing"
    )
    run_id = run_id_now("test-")
    with deploy(load_topology("redis-cluster"), tmp_path / run_id, run_id, hosts="netns") as dep:
        bridge = dep.res.links[0]
        assert _ours(run_id) == dep.res.forward_rules == [forward.bridge_rule(bridge, run_id)]
        assert _direct(dep, "r1", "r2")
        # Without our rule the engine's policy drops it: what the rule is for.
        forward.delete(dep.res.forward_rules[0])
        try:
            assert not _direct(dep, "r1", "r2")
            assert can_connect(dep, "r1", "r2")  # through the proxy: INPUT in the root namespace
        finally:
            forward.insert(dep.res.forward_rules[0])
        assert _direct(dep, "r1", "r2")
        _partition_fails_over_and_heals(dep)
    assert_nothing_left(dep.res)
    assert (_policy(), _bridge_nf()) == (policy, bridge_nf), "the machine's policy and sysctl are untouched"


def _partition_fails_over_and_heals(dep: Deployment) -> None:
    r1, r4 = dep.node("r1"), dep.node("r4")
    dep.isolate("r1")
    assert not can_connect(dep, "r1", "r2") and not can_connect(dep, "r2", "r1")
    wait_for(
        "majority marks r1 failed and promotes r4",
        lambda: (
            "fail" in nodes_view(dep, "r2")[r1.client_proxy.address].split(",")
            and r4.admin().info("replication")["role"] == "master"
        ),
        30,
        lambda: cluster_views(dep),
    )
    dep.heal()
    assert can_connect(dep, "r1", "r2")
    wait_for("healed r1 rejoins as a replica", lambda: r1.admin().info("replication")["role"] == "slave", 30)


def test_clean_removes_a_crashed_runs_rule(tmp_path: Path) -> None:
    """A run killed right after making its bridge leaves the bridge and its rule; reap removes both."""
    run_dir = tmp_path / "crash"
    run_dir.mkdir()
    script = (
        "import os, signal\n"
        "from pathlib import Path\n"
        "from harness.topology.lifecycle import new_resources\n"
        "from harness.topology.network import NetnsNetwork\n"
        f"run_dir = Path({str(run_dir)!r})\n"
        f"res = new_resources('test-fwcrash-{os.getpid()}', run_dir, detached=False, topology='x')\n"
        f"NetnsNetwork(res, 'fc{os.getpid() % 10000}')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    res = RunResources.load(run_dir / "resources.json")
    assert _ours(res.run_id) == res.forward_rules and len(res.forward_rules) == 1
    removed = reap(include_detached=False)
    assert any(item.startswith("iptables FORWARD rule") for item in removed), removed
    assert_nothing_left(res)


def test_clean_removes_only_our_rules(tmp_path: Path) -> None:
    """A rule of ours whose run left no record (its run directory deleted) is swept by its comment;
    a rule of anyone else's on FORWARD stays."""
    stray = forward.bridge_rule("hxbstray0", f"test-norecord-{os.getpid()}")
    other = [
        "-i",
        "hxbstray0",
        "-o",
        "hxbstray0",
        "-m",
        "comment",
        "--comment",
        "another-tool",
        "-j",
        "ACCEPT",
    ]
    forward.insert(stray)
    forward.insert(other)
    try:
        removed = reap(include_detached=False)
        assert any(f"run test-norecord-{os.getpid()}" in item for item in removed), removed
        assert not _ours(f"test-norecord-{os.getpid()}")
        assert forward.delete(other), "someone else's rule must stay"
    finally:
        forward.delete(stray)
        forward.delete(other)
