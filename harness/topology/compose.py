"""A topology as a Docker Compose project, for people who want to run it by hand.

The same shape as the docker backend: one network (``10.215.0.0/24`` unless asked otherwise),
Toxiproxy at ``.2`` with one proxy per link (each node's clients, its cluster bus, a replica's own
replication link), every node announcing its proxies, so replication, gossip and clients all go
through Toxiproxy; proxy ports published on 127.0.0.1 only. What the harness does at bring-up is an
``init`` service: the cluster formed by ``CLUSTER MEET`` / ``ADDSLOTSRANGE`` / ``REPLICATE``, a
replica set initiated with its members' proxy addresses, each step after a bounded readiness poll.
Images are the pinned official ones (:data:`harness.docker.images.PINNED`) for machines with a
registry, or the ones the docker backend would use here (``harness images build``'s) for machines
without. Partitions, the checkers and the workloads are the harness's; this file is only the topology.
Every ``$`` of a script is written ``$$``: compose interpolates the file's variables.

Files written: ``compose.yaml`` and ``toxiproxy.json`` (the proxies, loaded by ``-config``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.docker.images import pinned
from harness.errors import HarnessError
from harness.topology.docker_images import IMAGES
from harness.topology.docker_network import Image
from harness.topology.mongo_spec import MongoSpec
from harness.topology.redis import slot_ranges
from harness.topology.spec import RedisSpec, TopologySpec

SUBNET = "10.215.0.0/24"
FIRST_PROXY_PORT = 20001
POLL_S, POLL_TRIES = 0.2, 300  # readiness polls in the init scripts: 60 s at most, then fail
# A shell function the init scripts poll with: runs "$@" until it succeeds or the tries run out.
WAIT_FOR = (
    f'wait_for() {{ i=0; until "$@" >/dev/null 2>&1; do i=$((i+1)); '
    f'[ "$i" -lt {POLL_TRIES} ] || {{ echo "gave up waiting for: $*"; exit 1; }}; sleep {POLL_S}; done; }}'
)


@dataclass
class Project:
    """What the export builds up: services, proxies, and addresses handed out in order."""

    subnet: ipaddress.IPv4Network
    images: Mapping[str, Image]
    services: dict[str, Any] = field(default_factory=dict)
    proxies: list[dict[str, Any]] = field(default_factory=list)
    next_host: int = 10

    @property
    def proxy_ip(self) -> str:
        return str(self.subnet.network_address + 2)

    def image(self, binary: str) -> Image:
        """The image of ``binary``: as given, else the pinned official one and its command."""
        if binary in self.images:
            return self.images[binary]
        role, _, command = IMAGES[binary]
        return Image(pinned(role).official, command)

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


def export(
    topology: TopologySpec, subnet: str = SUBNET, images: Mapping[str, Image] | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the compose document, the Toxiproxy config) of ``topology``; ``images`` (by binary, as
    :func:`harness.topology.docker_images.resolve` gives them) replace the pinned official ones."""
    project = Project(ipaddress.IPv4Network(subnet), images or {})
    if topology.redis is not None:
        _redis(project, topology.redis)
    if topology.mongo is not None:
        _mongo(project, topology.mongo)
    ports = [
        f"127.0.0.1:{p['listen'].rsplit(':', 1)[1]}:{p['listen'].rsplit(':', 1)[1]}" for p in project.proxies
    ]
    toxiproxy = project.image("toxiproxy-server")
    project.services = {
        "toxiproxy": {
            "image": toxiproxy.ref,
            "entrypoint": [toxiproxy.entrypoint],
            "command": ["-host=0.0.0.0", "-config=/config/toxiproxy.json"],
            "volumes": ["./toxiproxy.json:/config/toxiproxy.json:ro"],
            "networks": {"harness": {"ipv4_address": project.proxy_ip}},
            "ports": ["127.0.0.1:8474:8474", *ports],
        },
        **project.services,
    }
    doc = {
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
        cmd = ["--port", "6379", "--bind", "0.0.0.0", "--protected-mode", "no"]
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
        image = project.image("redis-server")
        project.services[node.name] = {
            "image": image.ref,
            "entrypoint": [image.entrypoint],
            "command": cmd,
            "networks": {"harness": {"ipv4_address": addresses[node.name]}},
            "depends_on": ["toxiproxy"],
        }
    if cluster:
        project.services["redis-init"] = _cluster_init(project, spec, client, bus)


def _shell(lines: list[str]) -> list[str]:
    """An entrypoint running ``lines`` with :data:`WAIT_FOR` defined, ``$`` escaped for compose."""
    return ["sh", "-c", "\n".join(["set -e", WAIT_FOR, *lines]).replace("$", "$$")]


def _cluster_init(
    project: Project, spec: RedisSpec, client: dict[str, int], bus: dict[str, int]
) -> dict[str, Any]:
    """A one-shot service forming the cluster as the harness does, through the proxies; each step
    first waits (polled, bounded) for what it needs: every node answering, every node known to
    every other; it ends once every replica is in sync and every node sees every replica and the
    cluster state ok."""
    via = project.proxy_ip
    first = spec.nodes[0].name
    masters = [n for n in spec.nodes if n.role == "master"]
    lines = [
        'has() { case "$1" in *"$2"*) return 0;; esac; return 1; }',
        f'answers() {{ has "$(redis-cli -h {via} -p "$1" ping)" PONG; }}',
        f'info_has() {{ has "$(redis-cli -h {via} -p "$1" cluster info)" "$2"; }}',
        f'synced() {{ has "$(redis-cli -h {via} -p "$1" info replication)" master_link_status:up; }}',
        # no grep in a minimal image: count the words of CLUSTER NODES that flag a replica
        f'sees_replicas() {{ n=0; for w in $(redis-cli -h {via} -p "$1" cluster nodes); do '
        'case "$w" in *slave*) n=$((n+1));; esac; done; [ "$n" -eq "$2" ]; }',
    ]
    lines += [f"wait_for answers {client[n.name]}" for n in spec.nodes]
    lines += [
        f"redis-cli -h {via} -p {client[n.name]} cluster meet {via} {client[first]} {bus[first]}"
        for n in spec.nodes[1:]
    ]
    for node, (lo, hi) in zip(masters, slot_ranges(len(masters)), strict=True):
        lines.append(f"redis-cli -h {via} -p {client[node.name]} cluster addslotsrange {lo} {hi}")
    lines += [f"wait_for info_has {client[n.name]} cluster_known_nodes:{len(spec.nodes)}" for n in spec.nodes]
    for node in spec.nodes:
        if node.replica_of is not None:
            master_id = f"$(redis-cli -h {via} -p {client[node.replica_of]} cluster myid)"
            lines.append(f"redis-cli -h {via} -p {client[node.name]} cluster replicate {master_id}")
    replicas = [n for n in spec.nodes if n.replica_of is not None]
    lines += [f"wait_for synced {client[n.name]}" for n in replicas]
    # Formed means every node sees every replica as one (roles spread by gossip) and the state ok.
    lines += [f"wait_for sees_replicas {client[n.name]} {len(replicas)}" for n in spec.nodes]
    lines += [f"wait_for info_has {client[n.name]} cluster_state:ok" for n in spec.nodes]
    lines.append('echo "cluster formed"')
    return {
        "image": project.image("redis-server").ref,
        "entrypoint": _shell(lines),
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
    image = project.image("mongod")
    if spec.mode == "standalone":
        ip = project.address()
        project.proxy("m1-client", f"{ip}:27017")
        project.services["m1"] = {
            "image": image.ref,
            "entrypoint": [image.entrypoint],
            "command": ["--bind_ip_all", "--port", "27017"],
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
            "image": image.ref,
            "entrypoint": [image.entrypoint],
            "command": ["--replSet", rs.name, "--bind_ip_all", "--port", "27017"],
            "networks": {"harness": {"ipv4_address": ip}},
            "depends_on": ["toxiproxy"],
        }
    members = ", ".join(
        f"{{_id: {i}, host: '{h}', priority: {m.priority:g}, votes: {m.votes}}}"
        for i, (m, h) in enumerate(zip(rs.members, hosts, strict=True))
    )
    is_primary = f"mongosh --quiet --host {hosts[0]} --eval 'db.hello().isWritablePrimary'"
    initiate = f"rs.initiate({{_id: '{rs.name}', members: [{members}]}})"
    lines = [
        'has() { case "$1" in *"$2"*) return 0;; esac; return 1; }',
        """answers() { mongosh --quiet --host "$1" --eval 'db.adminCommand({ping: 1}).ok'; }""",
        f'primary() {{ has "$({is_primary})" true; }}',
        *(f"wait_for answers {h}" for h in hosts),
        f'mongosh --quiet --host {hosts[0]} --eval "{initiate}"',
        "wait_for primary",
        'echo "replica set initiated"',
    ]
    project.services["mongo-init"] = {
        "image": image.ref,
        "entrypoint": _shell(lines),
        "networks": ["harness"],
        "depends_on": [m.name for m in rs.members],
        "restart": "no",
    }
