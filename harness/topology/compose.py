"""A topology as a Docker Compose project, for people who want to run it by hand.

The same shape as the docker backend: one network (``10.215.0.0/24`` unless asked otherwise),
Toxiproxy at ``.2`` with one proxy per link (each node's clients, its cluster bus, a replica's own
replication link), every node announcing its proxies, so replication, gossip and clients all go
through Toxiproxy; proxy ports published on 127.0.0.1 only. What the harness does at bring-up is an
``init`` service: the cluster formed by ``CLUSTER MEET`` / ``ADDSLOTSRANGE`` / ``REPLICATE``, a
replica set initiated with its members' proxy addresses. Images are the pinned official ones
(:data:`harness.docker.images.PINNED`): compose is for machines with a registry. Partitions, the
checkers and the workloads are the harness's; this file is only the topology.

Files written: ``compose.yaml`` and ``toxiproxy.json`` (the proxies, loaded by ``-config``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from harness.docker.images import pinned
from harness.errors import HarnessError
from harness.topology.mongo_spec import MongoSpec
from harness.topology.redis import slot_ranges
from harness.topology.spec import RedisSpec, TopologySpec

SUBNET = "10.215.0.0/24"
FIRST_PROXY_PORT = 20001


@dataclass
class Project:
    """What the export builds up: services, proxies, and addresses handed out in order."""

    subnet: ipaddress.IPv4Network
    services: dict[str, Any] = field(default_factory=dict)
    proxies: list[dict[str, Any]] = field(default_factory=list)
    next_host: int = 10

    @property
    def proxy_ip(self) -> str:
        return str(self.subnet.network_address + 2)

    def address(self) -> str:
        ip = str(self.subnet.network_address + self.next_host)
        self.next_host += 1
        return ip

    def proxy(self, name: str, upstream: str) -> int:
        """A proxy on the next port; returns the port (published on 127.0.0.1 too)."""
        port = FIRST_PROXY_PORT + len(self.proxies)
        self.proxies.append(
            {"name": name, "listen": f"0.0.0.0:{port}", "upstream": upstream, "enabled": True}
        )
        return port


def export(topology: TopologySpec, subnet: str = SUBNET) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the compose document, the Toxiproxy config) of ``topology``."""
    project = Project(ipaddress.IPv4Network(subnet))
    if topology.redis is not None:
        _redis(project, topology.redis)
    if topology.mongo is not None:
        _mongo(project, topology.mongo)
    ports = [
        f"127.0.0.1:{p['listen'].rsplit(':', 1)[1]}:{p['listen'].rsplit(':', 1)[1]}" for p in project.proxies
    ]
    project.services = {
        "toxiproxy": {
            "image": pinned("toxiproxy").official,
            "command": ["-host=0.0.0.0", "-config=/config/toxiproxy.json"],
            "volumes": ["./toxiproxy.json:/config/toxiproxy.json:ro"],
            "networks": {"harness": {"ipv4_address": project.proxy_ip}},
            "ports": ["127.0.0.1:8474:8474", *ports],
        },
        **project.services,
    }
    doc = {
        "name": f"harness-{topology.name}",
        "services": project.services,
        "networks": {"harness": {"ipam": {"config": [{"subnet": str(project.subnet)}]}}},
    }
    return doc, project.proxies


def _setting(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _redis(project: Project, spec: RedisSpec) -> None:
    addresses = {n.name: project.address() for n in spec.nodes}
    client = {n.name: project.proxy(f"{n.name}-client", f"{addresses[n.name]}:6379") for n in spec.nodes}
    bus = {n.name: project.proxy(f"{n.name}-bus", f"{addresses[n.name]}:16379") for n in spec.nodes}
    cluster = spec.mode == "cluster"
    for node in spec.nodes:
        cmd = ["redis-server", "--port", "6379", "--bind", "0.0.0.0", "--protected-mode", "no"]
        cmd += ["--replica-announce-ip", project.proxy_ip, "--replica-announce-port", str(client[node.name])]
        if cluster:
            cmd += ["--cluster-enabled", "yes", "--cluster-announce-ip", project.proxy_ip]
            cmd += ["--cluster-announce-port", str(client[node.name])]
            cmd += ["--cluster-announce-bus-port", str(bus[node.name])]
        elif node.replica_of is not None:
            link = project.proxy(f"{node.name}-repl", f"{addresses[node.replica_of]}:6379")
            cmd += ["--replicaof", project.proxy_ip, str(link)]
        for key, value in spec.settings.items():
            if key != "protected-mode":
                cmd += [f"--{key}", _setting(value)]
        project.services[node.name] = {
            "image": pinned("redis").official,
            "command": cmd,
            "networks": {"harness": {"ipv4_address": addresses[node.name]}},
            "depends_on": ["toxiproxy"],
        }
    if cluster:
        project.services["redis-init"] = _cluster_init(project, spec, client, bus)


def _cluster_init(
    project: Project, spec: RedisSpec, client: dict[str, int], bus: dict[str, int]
) -> dict[str, Any]:
    """A one-shot service forming the cluster as the harness does, through the proxies."""
    via = project.proxy_ip
    first = spec.nodes[0].name
    masters = [n for n in spec.nodes if n.role == "master"]
    lines = ["set -e", "sleep 2"]
    lines += [
        f"redis-cli -h {via} -p {client[n.name]} cluster meet {via} {client[first]} {bus[first]}"
        for n in spec.nodes[1:]
    ]
    for node, (lo, hi) in zip(masters, slot_ranges(len(masters)), strict=True):
        lines.append(f"redis-cli -h {via} -p {client[node.name]} cluster addslotsrange {lo} {hi}")
    lines.append("sleep 3  # gossip: every node learns every other")
    for node in spec.nodes:
        if node.replica_of is not None:
            master_id = f"$(redis-cli -h {via} -p {client[node.replica_of]} cluster myid)"
            lines.append(f"redis-cli -h {via} -p {client[node.name]} cluster replicate {master_id}")
    return {
        "image": pinned("redis").official,
        "entrypoint": ["sh", "-c", "\n".join(lines)],
        "networks": ["harness"],
        "depends_on": [n.name for n in spec.nodes],
        "restart": "no",
    }


def _mongo(project: Project, spec: MongoSpec) -> None:
    if spec.mode == "sharded":
        raise HarnessError(
            "harness export compose: sharded MongoDB topologies are not exported yet (config servers, "
            "shards and mongos); export mongo-rs or mongo-standalone"
        )
    image = pinned("mongo").official
    if spec.mode == "standalone":
        ip = project.address()
        project.proxy("m1-client", f"{ip}:27017")
        project.services["m1"] = {
            "image": image,
            "command": ["mongod", "--bind_ip_all", "--port", "27017"],
            "networks": {"harness": {"ipv4_address": ip}},
            "depends_on": ["toxiproxy"],
        }
        return
    assert spec.replset is not None
    rs = spec.replset
    hosts: list[str] = []
    for member in rs.members:
        ip = project.address()
        port = project.proxy(f"{member.name}-client", f"{ip}:27017")
        hosts.append(f"{project.proxy_ip}:{port}")  # members know each other by their proxies
        project.services[member.name] = {
            "image": image,
            "command": ["mongod", "--replSet", rs.name, "--bind_ip_all", "--port", "27017"],
            "networks": {"harness": {"ipv4_address": ip}},
            "depends_on": ["toxiproxy"],
        }
    members = ", ".join(
        f"{{_id: {i}, host: '{h}', priority: {m.priority:g}, votes: {m.votes}}}"
        for i, (m, h) in enumerate(zip(rs.members, hosts, strict=True))
    )
    script = f"rs.initiate({{_id: '{rs.name}', members: [{members}]}})"
    project.services["mongo-init"] = {
        "image": image,
        "entrypoint": ["sh", "-c", f'sleep 3; mongosh --host {hosts[0]} --eval "{script}"'],
        "networks": ["harness"],
        "depends_on": [m.name for m in rs.members],
        "restart": "no",
    }
