"""``harness export compose`` run for real: the exported Redis Cluster brought up by docker-compose
on this machine's local images ('--local-images'), formed by its init service through the
proxies, reached through Toxiproxy, and taken down with nothing left of the project."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner
from redis import Redis
from redis.cluster import ClusterNode, RedisCluster

from harness.cli import cli
from harness.topology.network import pick_subnet
from tests.conftest import needs_engine, needs_servers


def compose_command() -> list[str] | None:
    """docker-compose (Debian's 1.29, which make setup installs), else the compose plugin."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    return None


COMPOSE = compose_command()
pytestmark = [
    pytest.mark.live,
    needs_engine,
    needs_servers,
    pytest.mark.skipif(
        COMPOSE is None, reason="no docker-compose or compose plugin (make setup installs docker-compose)"
    ),
]
ROOT = Path(__file__).resolve().parents[2]


def _compose(
    project: str, directory: Path, *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    assert COMPOSE is not None
    return subprocess.run(
        [*COMPOSE, "-p", project, *args], cwd=directory, capture_output=True, text=True, timeout=timeout
    )


def _project_containers(project: str) -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


def test_an_exported_cluster_comes_up_with_compose_and_forms_through_its_proxies(tmp_path: Path) -> None:
    build = [sys.executable, "-m", "harness.cli", "images", "build", "redis", "toxiproxy"]
    subprocess.run(build, cwd=ROOT, check=True, timeout=300)
    subnet = pick_subnet(ipaddress.IPv4Network("10.215.0.0/16"))
    result = CliRunner().invoke(
        cli,
        [
            "export",
            "compose",
            "redis-cluster",
            "--out",
            str(tmp_path),
            "--subnet",
            str(subnet),
            "--local-images",
        ],
    )
    assert result.exit_code == 0, result.output
    proxies = json.loads((tmp_path / "toxiproxy.json").read_text())
    port = {p["name"]: int(p["listen"].rsplit(":", 1)[1]) for p in proxies}
    via = str(subnet.network_address + 2)
    project = f"hxcompose{os.getpid()}"
    try:
        up = _compose(project, tmp_path, "up", "-d")
        assert up.returncode == 0, up.stderr
        init = _compose(project, tmp_path, "ps", "-q", "redis-init").stdout.strip()
        waited = subprocess.run(["docker", "wait", init], capture_output=True, text=True, timeout=90)
        logs = _compose(project, tmp_path, "logs", "redis-init").stdout
        assert waited.stdout.strip() == "0", logs  # the init service's own bounded polls passed
        assert "cluster formed" in logs
        # Through the published proxy port on loopback: the cluster as its nodes see it.
        r1 = Redis(host="127.0.0.1", port=port["r1-client"], socket_timeout=5)
        info = r1.cluster("INFO")
        assert info["cluster_state"] == "ok" and int(info["cluster_known_nodes"]) == 6
        nodes = r1.cluster("NODES")  # {"ip:port@bus": {"flags": ..., ...}}
        assert len(nodes) == 6 and all(addr.startswith(f"{via}:") for addr in nodes)  # proxies announced
        assert sum("slave" in n["flags"] for n in nodes.values()) == 3
        r1.close()
        # Clients follow the announced proxies across the slots.
        cluster = RedisCluster(startup_nodes=[ClusterNode(via, port["r1-client"])], socket_timeout=5)
        for i in range(30):
            cluster.set(f"k{i}", i)
        assert [int(cluster.get(f"k{i}") or -1) for i in range(30)] == list(range(30))
        cluster.close()
        # The proxies carry the traffic: one disabled, its node is unreachable on it.
        body = json.dumps({"enabled": False}).encode()
        req = urllib.request.Request("http://127.0.0.1:8474/proxies/r1-client", body, method="POST")
        urllib.request.urlopen(req, timeout=5).close()
        with pytest.raises(redis.exceptions.ConnectionError):  # refused: no listener
            Redis(host="127.0.0.1", port=port["r1-client"], socket_timeout=2, socket_connect_timeout=2).ping()
    finally:
        down = _compose(project, tmp_path, "down", "-v", "--remove-orphans")
    assert down.returncode == 0, down.stderr
    assert _project_containers(project) == []
    networks = subprocess.run(
        ["docker", "network", "ls", "-q", "--filter", f"label=com.docker.compose.project={project}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert networks.stdout.split() == []
