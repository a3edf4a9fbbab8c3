"""The docker backend live on this machine's engine, with the images 'harness images build' makes:
a Redis Cluster as containers behind a Toxiproxy container, healthy and reached only through the
proxies; a partition cut inside a node's namespace; a kill and a start again; and nothing left
after teardown or after the run's owner is SIGKILLed and 'harness clean' runs."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.topology.deployment import Deployment
from harness.topology.docker_cli import labelled
from harness.topology.docker_process import ContainerProcess
from harness.topology.lifecycle import RunResources, reap
from harness.topology.local import deploy, run_id_now
from harness.topology.restart import kill_node
from harness.topology.spec import load_topology
from tests.conftest import needs_engine, needs_servers
from tests.live.leftovers import assert_nothing_left
from tests.live.test_partition import can_connect, wait_for

pytestmark = [pytest.mark.live, needs_engine, needs_servers]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def images() -> None:
    """The local images (built once, then reused: about a second when present)."""
    subprocess.run(
        [sys.executable, "-m", "harness.cli", "images", "build"], cwd=ROOT, check=True, timeout=300
    )


@pytest.fixture()
def replicated(tmp_path: Path) -> Iterator[Deployment]:
    run_id = run_id_now("test-docker-")
    with deploy(load_topology("redis-replicated"), tmp_path / run_id, run_id, backend="docker") as dep:
        yield dep
    assert_nothing_left(RunResources.load(tmp_path / run_id / "resources.json"))


def test_a_redis_cluster_runs_as_containers_behind_toxiproxy(tmp_path: Path) -> None:
    run_id = run_id_now("test-docker-")
    with deploy(load_topology("redis-cluster"), tmp_path / run_id, run_id, backend="docker") as dep:
        assert dep.endpoints()["backend"] == "docker" and dep.network.kind == "docker"
        names = {i.name for i in labelled("container", run_id)}
        # every node a server container plus the holder of its namespace, and Toxiproxy
        assert len(names) == 2 * len(dep.redis) + 1
        for node in dep.redis:
            assert isinstance(node.process, ContainerProcess) and node.running()
            assert node.client_proxy.listen_host == dep.network.proxy_address  # reached through it
        client = dep.cluster_client()
        client.set("{t:1}:k", "v")
        assert client.get("{t:1}:k") == b"v"
        client.close()
    assert_nothing_left(RunResources.load(tmp_path / run_id / "resources.json"))


def test_a_partition_cuts_inside_the_nodes_namespace_and_heals(replicated: Deployment) -> None:
    assert can_connect(replicated, "r2", "r1")
    replicated.isolate("r1")
    assert not can_connect(replicated, "r2", "r1") and not can_connect(replicated, "r1", "r2")
    assert replicated.rules()["r1"], "the rules are in r1's namespace"
    replicated.heal()
    assert can_connect(replicated, "r2", "r1") and replicated.rules() == {"r1": [], "r2": []}


def test_a_killed_server_dies_at_once_and_starts_again_on_its_data(replicated: Deployment) -> None:
    node = replicated.node("r1")
    node.admin().set("kept", "1")
    # on disk, so the restarted server has it: SAVE once the replica's sync (a BGSAVE) is done
    wait_for(
        "no background save", lambda: node.admin().info("persistence")["rdb_bgsave_in_progress"] == 0, 15
    )
    node.admin().save()
    started = time.monotonic()
    record = kill_node(node)
    assert time.monotonic() - started < 1.0 and record["signal"] == "SIGKILL" and not node.running()
    # the namespace outlives the server: a peer is refused at once (a reset), never left hanging
    assert _connect_errno(replicated, "r2", "r1") == errno.ECONNREFUSED
    replicated.start_again(node)
    wait_for("r1 answering again", lambda: _pings(replicated, "r1"), 15)
    assert node.admin().get("kept") == "1"


def _connect_errno(dep: Deployment, src: str, dst: str) -> int:
    """The errno of a TCP connect from ``src``'s namespace to ``dst``'s own address (0: connected)."""
    node = dep.node(dst)
    code = (
        "import socket,sys; s=socket.socket(); s.settimeout(3);"
        f"print(s.connect_ex(('{node.host.address}', {node.port})))"
    )
    out = subprocess.run(
        dep.node(src).host.wrap([sys.executable, "-c", code]), capture_output=True, text=True
    )
    return int(out.stdout.strip())


def _pings(dep: Deployment, name: str) -> bool:
    try:
        return bool(dep.node(name).admin().ping())
    except Exception:
        dep.node(name).close()
        return False


def test_a_sigkilled_run_leaves_nothing_after_clean(tmp_path: Path) -> None:
    run_id = run_id_now("test-docker-")
    code = (
        "import sys; from pathlib import Path;"
        "from harness.topology.local import deploy; from harness.topology.spec import load_topology;"
        f"cm = deploy(load_topology('redis-replicated'), Path(sys.argv[1]), '{run_id}', backend='docker');"
        "cm.__enter__(); print('READY', flush=True); import time; time.sleep(120)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / run_id)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "READY"
        assert labelled("container", run_id) and labelled("network", run_id)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    reap(include_detached=False)
    assert not labelled("container", run_id) and not labelled("network", run_id)
    assert_nothing_left(RunResources.load(tmp_path / run_id / "resources.json"))


def test_a_standalone_mongodb_plane_runs_the_server_its_image_holds_named_as_such(tmp_path: Path) -> None:
    """FerretDB's image where no mongo image is present (here), mongod's where one is."""
    from harness.scenario.planes import runnable_topology

    runnable = runnable_topology(load_topology("platform-standalone"), "docker")
    assert runnable.topology.mongo is not None
    expected = "ferretdb" if runnable.topology.mongo.server == "ferretdb" else "mongod"
    assert (runnable.mongo_note is not None) == (expected == "ferretdb")  # a stand-in says so
    run_id = run_id_now("test-docker-")
    with deploy(runnable.topology, tmp_path / run_id, run_id, backend="docker") as dep:
        plane = dep.mongo
        assert plane is not None and plane.features is not None
        assert plane.features.server == expected and dep.versions[expected] == plane.features.version
        assert isinstance(plane.nodes[0].process, ContainerProcess)
        client = dep.mongo_client(serverSelectionTimeoutMS=5000)
        assert client.admin.command("ping")["ok"] == 1.0  # through its proxy
        client.close()
    assert_nothing_left(RunResources.load(tmp_path / run_id / "resources.json"))
