"""The Redis plane of a deployment, planned, started and made ready: one host and two proxies
(client, cluster bus) per node, plus a replica's own replication proxy in replicated mode; configs
written and servers started on their hosts; then PING, cluster formation and health."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from harness.topology import redis as redis_nodes
from harness.topology.lifecycle import RunResources
from harness.topology.network import Network
from harness.topology.redis import RedisNode
from harness.topology.spec import RedisSpec
from harness.topology.toxiproxy import ToxiproxyServer


class Building(Protocol):
    """What planning the Redis plane needs of a deployment being built."""

    network: Network
    toxiproxy: ToxiproxyServer
    redis: list[RedisNode]
    res: RunResources

    @property
    def run_dir(self) -> Path: ...


def plan_redis(dep: Building, spec: RedisSpec) -> None:
    addresses: dict[str, str] = {}
    for node_spec in spec.nodes:
        host = dep.network.add_host(node_spec.name)
        port, bus = dep.network.node_ports()
        proxy_ip = dep.network.proxy_address
        client_proxy = dep.toxiproxy.create(f"{node_spec.name}-client", proxy_ip, f"{host.address}:{port}")
        bus_proxy = dep.toxiproxy.create(f"{node_spec.name}-bus", proxy_ip, f"{host.address}:{bus}")
        dep.redis.append(
            RedisNode(
                node_spec,
                host,
                port,
                bus,
                client_proxy,
                bus_proxy,
                dep.run_dir / "data" / node_spec.name,
                dep.run_dir / "logs" / f"redis-{node_spec.name}.log",
            )
        )
        addresses[node_spec.name] = f"{host.address}:{port}"
    if spec.mode == "cluster":
        return  # cluster replicas sync from the address their master announces: its client proxy
    for node in dep.redis:
        if node.spec.replica_of is not None:
            upstream = addresses[node.spec.replica_of]
            node.repl_proxy = dep.toxiproxy.create(f"{node.name}-repl", dep.network.proxy_address, upstream)


def start_redis(dep: Building, spec: RedisSpec) -> None:
    by_name = {n.name: n for n in dep.redis}
    for node in dep.redis:
        primary = by_name[node.spec.replica_of] if node.spec.replica_of and spec.mode != "cluster" else None
        conf = redis_nodes.write_config(node, spec, primary)
        redis_nodes.start_node(node, conf, dep.res)


def ready_redis(dep: Building, spec: RedisSpec, timeout_s: float) -> None:
    redis_nodes.wait_ping(dep.redis, timeout_s)
    if spec.mode == "cluster":
        redis_nodes.form_cluster(dep.redis, timeout_s)
    redis_nodes.wait_healthy(dep.redis, spec.mode, timeout_s)
