"""``harness export compose``: the compose project keeps the topology's shape: every link of every
node through its own Toxiproxy proxy, every node announcing its proxies, only 127.0.0.1 published,
the pinned images, and the bring-up the harness does as an init service. These check the document;
``tests/live/test_compose_run.py`` runs it with docker-compose on the local images.)"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from harness.cli import cli
from harness.docker.images import pinned
from harness.errors import HarnessError
from harness.topology.compose import export
from harness.topology.docker_network import Image
from harness.topology.spec import load_topology


def _flag(cmd: list[str], name: str) -> str:
    return cmd[cmd.index(name) + 1]


def _proxies(proxies: list[dict[str, Any]]) -> dict[str, tuple[int, str]]:
    return {p["name"]: (int(p["listen"].rsplit(":", 1)[1]), p["upstream"]) for p in proxies}


def test_a_cluster_announces_its_proxies_and_is_formed_through_them() -> None:
    doc, proxies = export(load_topology("redis-cluster"))
    by = _proxies(proxies)
    services = doc["services"]
    toxi_ip = services["toxiproxy"]["networks"]["harness"]["ipv4_address"]
    for name in ("r1", "r2", "r3", "r4", "r5", "r6"):
        svc = services[name]
        ip = svc["networks"]["harness"]["ipv4_address"]
        assert by[f"{name}-client"][1] == f"{ip}:6379" and by[f"{name}-bus"][1] == f"{ip}:16379"
        cmd = svc["command"]
        assert _flag(cmd, "--cluster-announce-ip") == toxi_ip
        assert int(_flag(cmd, "--cluster-announce-port")) == by[f"{name}-client"][0]
        assert int(_flag(cmd, "--cluster-announce-bus-port")) == by[f"{name}-bus"][0]
        assert svc["image"] == pinned("redis").official
    script = services["redis-init"]["entrypoint"][2]
    assert script.count("cluster meet") == 5 and script.count("cluster addslotsrange") == 3
    assert "cluster addslotsrange 0 5460" in script and "cluster addslotsrange 10923 16383" in script
    assert script.count("cluster replicate") == 3


def test_a_replica_syncs_through_its_own_replication_proxy() -> None:
    doc, proxies = export(load_topology("redis-replicated"))
    by = _proxies(proxies)
    r1_ip = doc["services"]["r1"]["networks"]["harness"]["ipv4_address"]
    cmd = doc["services"]["r2"]["command"]
    port = int(cmd[cmd.index("--replicaof") + 2])
    assert by["r2-repl"] == (port, f"{r1_ip}:6379")  # the link a replication toxic throttles


def test_only_loopback_is_published_and_every_proxy_is() -> None:
    doc, proxies = export(load_topology("redis-cluster"))
    ports = doc["services"]["toxiproxy"]["ports"]
    assert all(p.startswith("127.0.0.1:") for p in ports)
    assert {int(p.rsplit(":", 1)[1]) for p in ports} == {
        8474,
        *(_proxies(proxies)[n][0] for n in _proxies(proxies)),
    }
    for name, svc in doc["services"].items():
        assert "ports" not in svc or name == "toxiproxy", name  # nodes reached only through proxies


def test_a_replica_set_knows_its_members_by_their_proxies() -> None:
    doc, proxies = export(load_topology("mongo-rs"))
    by = _proxies(proxies)
    script = doc["services"]["mongo-init"]["entrypoint"][2]
    subnet = ipaddress.IPv4Network(doc["networks"]["harness"]["ipam"]["config"][0]["subnet"])
    via = str(subnet.network_address + 2)
    for member in ("m1", "m2", "m3"):
        assert f"host: '{via}:{by[f'{member}-client'][0]}'" in script
        svc = doc["services"][member]
        assert svc["entrypoint"] == ["mongod"] and svc["command"][:2] == ["--replSet", "rs0"]
    assert "priority: 2" in script  # m1's, from the topology


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


@pytest.mark.parametrize(
    ("topology", "inits"), [("redis-cluster", 1), ("redis-replicated", 0), ("mongo-rs", 1)]
)
def test_every_dollar_survives_compose_interpolation_and_no_sleep_stands_for_readiness(
    topology: str, inits: int
) -> None:
    """Compose reads ``$x``, ``${x}`` as variables and ``$(`` as an error: a script's ``$`` must be
    ``$$``. A fixed sleep is no readiness check: the only sleep is the bounded poll's."""
    doc, _ = export(load_topology(topology))
    texts = _strings(doc["services"])
    assert not [t for t in texts if "$" in t.replace("$$", "")]
    scripts = [t for t in texts if "\n" in t]
    assert len(scripts) == inits
    for script in scripts:
        sleeps = [line for line in script.splitlines() if "sleep" in line]
        assert len(sleeps) == 1 and sleeps[0].startswith("wait_for() {"), sleeps
        assert "-lt 300 ]" in sleeps[0]  # bounded: it gives up and fails the init service


def test_given_images_replace_the_official_ones() -> None:
    images = {
        "redis-server": Image("harness/redis:7.0.15", "redis-server"),
        "toxiproxy-server": Image("harness/toxiproxy:2.12.0", "/toxiproxy"),
    }
    doc, _ = export(load_topology("redis-cluster"), images=images)
    services = doc["services"]
    assert (services["toxiproxy"]["image"], services["toxiproxy"]["entrypoint"]) == (
        "harness/toxiproxy:2.12.0",
        ["/toxiproxy"],
    )
    for name in ("r1", "r6", "redis-init"):
        assert services[name]["image"] == "harness/redis:7.0.15"
    assert services["r1"]["entrypoint"] == ["redis-server"]


def test_a_sharded_topology_is_refused_with_what_to_do() -> None:
    with pytest.raises(HarnessError, match="sharded MongoDB topologies are not exported yet"):
        export(load_topology("mongo-sharded"))


def test_the_command_writes_both_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["export", "compose", "redis-replicated", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load((tmp_path / "compose.yaml").read_text())
    assert set(doc["services"]) == {"toxiproxy", "r1", "r2"}
    assert (tmp_path / "toxiproxy.json").read_text().count('"name"') == 5
