"""The local backend: real server processes on this machine, each behind Toxiproxy.

``deploy`` is a context manager in the testcontainers manner: it returns only once the topology is
healthy, and tears everything down on exit, on an exception and on Ctrl-C (unless detached, for
``harness up``, in which case ``harness down`` does it).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis import Redis
from redis.cluster import ClusterNode, RedisCluster

from harness.errors import HarnessError
from harness.topology import redis as redis_nodes
from harness.topology.cgroups import cpu_limits_supported, limit_cpu
from harness.topology.lifecycle import RunResources, new_resources, reap, teardown
from harness.topology.network import Network, make_network
from harness.topology.redis import RedisNode
from harness.topology.spec import TopologySpec
from harness.topology.toxiproxy import ToxiproxyServer


@dataclass
class Deployment:
    topology: TopologySpec
    run_id: str
    run_dir: Path
    res: RunResources
    network: Network
    toxiproxy: ToxiproxyServer
    redis: list[RedisNode] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    up_seconds: float = 0.0
    # Per-node CPU cap requested and whether it could be applied here (reported, never faked).
    capacity: dict[str, Any] = field(default_factory=dict)

    # -- addressing ---------------------------------------------------------------------------
    def node(self, name: str) -> RedisNode:
        for n in self.redis:
            if n.name == name:
                return n
        raise HarnessError(f"no node named '{name}' in topology {self.topology.name}")

    def endpoints(self) -> dict[str, Any]:
        return {
            "topology": self.topology.name,
            "hosts": self.network.kind,
            "partitions_supported": self.network.partitions_supported,
            "toxiproxy_api": self.toxiproxy.api,
            "capacity": self.capacity,
            "nodes": [
                {
                    "name": n.name,
                    "role": n.spec.role,
                    "replica_of": n.spec.replica_of,
                    "address": n.direct,
                    "proxy": n.client_proxy.address,
                    "bus_proxy": n.bus_proxy.address,
                    "netns": n.host.netns,
                    "pid": n.process.pid if n.process else None,
                }
                for n in self.redis
            ],
        }

    def cluster_client(self, **kwargs: Any) -> RedisCluster:
        """A RedisCluster client that starts from, and is redirected only to, proxy addresses."""
        startup = [ClusterNode(n.client_proxy.listen_host, n.client_proxy.listen_port) for n in self.redis]
        return RedisCluster(startup_nodes=startup, **kwargs)

    def client(self, name: str, **kwargs: Any) -> Redis:
        """A client to one node through its proxy."""
        p = self.node(name).client_proxy
        return Redis(host=p.listen_host, port=p.listen_port, **kwargs)

    def current_masters(self) -> list[RedisNode]:
        """Nodes that are masters now (roles change in failovers), asked over the observer path."""
        masters = []
        for n in self.redis:
            with contextlib.suppress(redis.RedisError, OSError):
                if n.running() and n.admin().info("replication").get("role") == "master":
                    masters.append(n)
        return masters

    # -- partitions ---------------------------------------------------------------------------
    def _ports(self, node: RedisNode) -> list[int]:
        return [node.client_proxy.listen_port, node.bus_proxy.listen_port]

    def split(self, side_a: list[str], side_b: list[str]) -> None:
        """Two-way partition: no node of one side can reach a node of the other. The harness's
        clients still reach every proxy, as real clients do in a real partition."""
        a = [self.node(n) for n in side_a]
        b = [self.node(n) for n in side_b]
        for src, dst in [(a, b), (b, a)]:
            ports = [p for n in dst for p in self._ports(n)]
            for n in src:
                self.network.block(n.host, ports)

    def isolate(self, name: str) -> None:
        self.split([name], [n.name for n in self.redis if n.name != name])

    def heal(self) -> None:
        for n in self.redis:
            self.network.heal(n.host)

    def rules(self) -> dict[str, list[str]]:
        return {n.name: self.network.rules(n.host) for n in self.redis}

    def close_clients(self) -> None:
        for n in self.redis:
            n.close()


def run_tag(run_id: str) -> str:
    """Six hex characters naming the run's bridge and namespaces (interface names max 15 chars)."""
    return hashlib.sha1(run_id.encode()).hexdigest()[:6]


def _limit_cpu(dep: Deployment, cores: float | None) -> None:
    if cores is None:
        dep.capacity = {"cpu_limit": None, "applied": False, "reason": "no limit requested"}
        return
    ok, reason = cpu_limits_supported()
    dep.capacity = {"cpu_limit": cores, "applied": ok, "reason": None if ok else reason}
    if not ok:
        return
    for node in dep.redis:
        assert node.process is not None
        dep.res.add_cgroup(limit_cpu(f"{run_tag(dep.run_id)}-{node.name}", node.process.pid, cores))


def _build(
    topology: TopologySpec,
    run_dir: Path,
    res: RunResources,
    hosts: str,
    timeout_s: float,
    cpu_limit: float | None,
) -> Deployment:
    started = time.monotonic()
    assert topology.redis is not None
    spec = topology.redis
    binary = redis_nodes.redis_binary()  # fail on a missing binary before creating anything
    network = make_network(res, run_tag(res.run_id), hosts)
    res.info["hosts"] = network.kind
    toxi = ToxiproxyServer(res, run_dir / "logs")
    dep = Deployment(topology, res.run_id, run_dir, res, network, toxi)
    dep.versions = {"redis-server": redis_nodes.redis_version(binary), "toxiproxy-server": toxi.version}
    for node_spec in spec.nodes:
        host = network.add_host(node_spec.name)
        port, bus = network.node_ports()
        client_proxy = toxi.create(
            f"{node_spec.name}-client", network.proxy_address, f"{host.address}:{port}"
        )
        bus_proxy = toxi.create(f"{node_spec.name}-bus", network.proxy_address, f"{host.address}:{bus}")
        dep.redis.append(
            RedisNode(
                node_spec,
                host,
                port,
                bus,
                client_proxy,
                bus_proxy,
                run_dir / "data" / node_spec.name,
                run_dir / "logs" / f"redis-{node_spec.name}.log",
            )
        )
    by_name = {n.name: n for n in dep.redis}
    for node in dep.redis:
        primary = by_name[node.spec.replica_of] if node.spec.replica_of and spec.mode != "cluster" else None
        conf = redis_nodes.write_config(node, spec, primary)
        redis_nodes.start_node(node, conf, res)
    # Capacity applies from the start, so formation and health checks run under it too.
    _limit_cpu(dep, cpu_limit if cpu_limit is not None else spec.cpu_limit)
    redis_nodes.wait_ping(dep.redis, timeout_s)
    if spec.mode == "cluster":
        redis_nodes.form_cluster(dep.redis, timeout_s)
    redis_nodes.wait_healthy(dep.redis, spec.mode, timeout_s)
    dep.up_seconds = time.monotonic() - started
    res.info["endpoints"] = dep.endpoints()
    res.save()
    return dep


@contextlib.contextmanager
def _teardown_guard(res: RunResources, detached: bool) -> Iterator[None]:
    """Runs teardown on any exit unless detached-and-successful; a second Ctrl-C cannot cut it short."""
    ok = False
    try:
        yield
        ok = True
    finally:
        if not (ok and detached):
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                teardown(res)
            finally:
                signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def deploy(
    topology: TopologySpec,
    run_dir: Path,
    run_id: str,
    *,
    hosts: str = "auto",
    detached: bool = False,
    timeout_s: float = 30.0,
    cpu_limit: float | None = None,
) -> Iterator[Deployment]:
    """Brings ``topology`` up healthy, yields it, and tears it down afterwards (unless detached).

    ``cpu_limit`` (cores per node) overrides the topology's own ``cpu_limit``."""
    reap(include_detached=False)  # a crashed run's leftovers must not collide with this one
    run_dir.mkdir(parents=True, exist_ok=True)
    res = new_resources(run_id, run_dir, detached=detached, topology=topology.name)
    with _teardown_guard(res, detached):
        dep = _build(topology, run_dir, res, hosts, timeout_s, cpu_limit)
        try:
            yield dep
        finally:
            dep.close_clients()


def run_id_now(prefix: str = "") -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return f"{prefix}{stamp}-{os.urandom(3).hex()}"
