"""The iptables partition primitive, checked from both sides of the split."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.errors import UnsupportedError
from harness.topology.deployment import Deployment
from harness.topology.local import run_id_now
from harness.topology.spec import load_topology
from tests.conftest import needs_netns, needs_servers
from tests.live.backend import deploy
from tests.live.leftovers import assert_nothing_left

pytestmark = [pytest.mark.live, needs_servers]


def wait_for(
    what: str, check: Callable[[], bool], timeout_s: float, describe: Callable[[], str] = lambda: ""
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout_s}s: {what}\n{describe()}")


def cluster_views(dep: Deployment) -> str:
    """Every node's CLUSTER NODES and replication role, for a failure message."""
    out = []
    for node in dep.redis:
        try:
            role = node.admin().info("replication")["role"]
            view = str(node.admin().execute_command("CLUSTER", "NODES")).strip()
        except Exception as exc:  # the message must not hide the original failure
            role, view = "?", repr(exc)
        out.append(f"--- {node.name} ({node.client_proxy.address}) role {role}\n{view}")
    return "\n".join(out)


def nodes_view(dep: Deployment, observer: str) -> dict[str, str]:
    """{announced address: flags} as ``observer`` sees the cluster."""
    text = str(dep.node(observer).admin().execute_command("CLUSTER", "NODES"))
    return {line.split()[1].split("@")[0]: line.split()[2] for line in text.strip().splitlines()}


def can_connect(dep: Deployment, src: str, dst: str) -> bool:
    """A TCP connect from inside ``src``'s host to ``dst``'s client proxy."""
    proxy = dep.node(dst).client_proxy
    code = (
        "import socket,sys; s=socket.socket(); s.settimeout(1);"
        f"sys.exit(s.connect_ex(('{proxy.listen_host}', {proxy.listen_port})) != 0)"
    )
    cmd = dep.node(src).host.wrap(["python3", "-c", code])
    return subprocess.run(cmd, capture_output=True, timeout=10).returncode == 0


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[Deployment]:
    run_id = run_id_now("test-")
    with deploy(load_topology("redis-cluster"), tmp_path / run_id, run_id, hosts="netns") as dep:
        yield dep
    assert_nothing_left(dep.res)


@needs_netns
def test_isolated_master_fails_over_and_sees_no_peer(cluster: Deployment) -> None:
    r1, r4 = cluster.node("r1"), cluster.node("r4")
    assert can_connect(cluster, "r1", "r2")
    cluster.isolate("r1")
    # The isolated side: it cannot reach any peer, and sees the cluster fail.
    for peer in ("r2", "r3", "r4", "r5", "r6"):
        assert not can_connect(cluster, "r1", peer)
        assert not can_connect(cluster, peer, "r1")
    # The majority side: r1 flagged failed, its replica r4 promoted.
    wait_for(
        "majority marks r1 failed and promotes r4",
        lambda: (
            "fail" in nodes_view(cluster, "r2")[r1.client_proxy.address].split(",")
            and r4.admin().info("replication")["role"] == "master"
        ),
        30,
        lambda: cluster_views(cluster),
    )
    wait_for(
        "isolated r1 reports the cluster down",
        lambda: "cluster_state:fail" in str(r1.admin().execute_command("CLUSTER", "INFO")),
        20,
    )
    # The harness still reaches the isolated master through its proxy, as clients would.
    assert cluster.client("r1").ping()

    cluster.heal()
    assert all(rules == [] for rules in cluster.rules().values())
    assert can_connect(cluster, "r1", "r2")
    wait_for("healed r1 rejoins as a replica", lambda: r1.admin().info("replication")["role"] == "slave", 30)


@needs_netns
def test_split_into_groups_blocks_only_across(cluster: Deployment) -> None:
    cluster.split(["r1", "r4"], ["r2", "r3", "r5", "r6"])
    assert can_connect(cluster, "r1", "r4")
    assert can_connect(cluster, "r2", "r6")
    assert not can_connect(cluster, "r1", "r2")
    assert not can_connect(cluster, "r5", "r4")
    assert any("DROP" in rule for rule in cluster.rules()["r1"])
    cluster.heal()
    assert can_connect(cluster, "r1", "r2")
    assert all(rules == [] for rules in cluster.rules().values())


def test_loopback_hosts_refuse_partitions(tmp_path: Path) -> None:
    run_id = run_id_now("test-")
    with deploy(load_topology("redis-replicated"), tmp_path / run_id, run_id, hosts="loopback") as dep:
        assert not dep.network.partitions_supported
        with pytest.raises(UnsupportedError, match="unsupported"):
            dep.isolate("r1")
    assert_nothing_left(dep.res)


@needs_netns
def test_runs_starting_together_take_different_subnets(tmp_path: Path) -> None:
    """Two runs that pick a subnet at the same moment must not take the same /24 (each would then
    reach the other's servers)."""
    import threading

    from harness.topology.lifecycle import new_resources, teardown
    from harness.topology.network import NetnsNetwork

    resources = [new_resources(f"test-sub{i}", tmp_path, detached=False, topology="x") for i in range(4)]
    for i, r in enumerate(resources):
        (tmp_path / str(i)).mkdir()
        r.run_dir = str(tmp_path / str(i))
        r.save()
    nets: list[NetnsNetwork] = []
    go = threading.Barrier(len(resources))

    def start(i: int) -> None:
        go.wait()
        nets.append(NetnsNetwork(resources[i], f"ts{i}{int(time.time()) % 1000}"))

    threads = [threading.Thread(target=start, args=(i,)) for i in range(len(resources))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert len(nets) == len(resources)
        assert len({str(n.subnet) for n in nets}) == len(nets), [str(n.subnet) for n in nets]
    finally:
        for r in resources:
            teardown(r)
    for r in resources:
        assert_nothing_left(r)
