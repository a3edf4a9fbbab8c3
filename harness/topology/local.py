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
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from pymongo import MongoClient
from redis import Redis
from redis.cluster import ClusterNode, RedisCluster

from harness.docker.engine import EngineUnavailable, connect
from harness.errors import HarnessError
from harness.topology import docker_mongo, redis_admin
from harness.topology import mongo as mongo_nodes
from harness.topology import redis as redis_nodes
from harness.topology.cgroups import cpu_limits_supported, group_path, limit_cpu
from harness.topology.deployment import Address, Setting
from harness.topology.docker_images import resolve as resolve_images
from harness.topology.docker_network import DockerNetwork, Image
from harness.topology.endpoints import mongo_endpoints
from harness.topology.lifecycle import RunResources, creating, new_resources, reap, teardown
from harness.topology.mongo import MongoNode, MongoPlane
from harness.topology.network import Host, Network, make_network
from harness.topology.processes import ServerProcess
from harness.topology.redis import RedisNode
from harness.topology.redis_plan import plan_redis, ready_redis, start_redis
from harness.topology.restart import start_again
from harness.topology.spec import TopologySpec
from harness.topology.toxiproxy import ToxiproxyServer, find_toxiproxy


@dataclass
class LocalDeployment:
    """The local backend's :class:`harness.topology.deployment.Deployment`."""

    topology: TopologySpec
    run_id: str
    run_dir: Path
    res: RunResources
    network: Network
    toxiproxy: ToxiproxyServer
    redis: list[RedisNode] = field(default_factory=list)
    mongo: MongoPlane | None = None
    versions: dict[str, str] = field(default_factory=dict)
    up_seconds: float = 0.0
    # Per-node CPU cap requested and whether it could be applied here (reported, never faked).
    capacity: dict[str, Any] = field(default_factory=dict)
    _capped: set[str] = field(default_factory=set, repr=False)

    # -- addressing ---------------------------------------------------------------------------
    def node(self, name: str) -> RedisNode:
        for n in self.redis:
            if n.name == name:
                return n
        raise HarnessError(f"no node named '{name}' in topology {self.topology.name}")

    def endpoints(self) -> dict[str, Any]:
        return {
            "topology": self.topology.name,
            "backend": "docker" if self.network.kind == "docker" else "local",
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
                    "repl_proxy": n.repl_proxy.address if n.repl_proxy else None,
                    "netns": n.host.netns,
                    "container": getattr(n.host, "container", None) or None,  # docker backend
                    "pid": n.process.pid if n.process else None,
                }
                for n in self.redis
            ],
            "mongo": mongo_endpoints(self.mongo) if self.mongo is not None else None,
        }

    def mongo_node(self, name: str) -> MongoNode:
        for n in self.mongo.nodes if self.mongo else []:
            if n.name == name:
                return n
        raise HarnessError(f"no MongoDB node named '{name}' in topology {self.topology.name}")

    def mongo_client(self, **kwargs: Any) -> MongoClient[dict[str, Any]]:
        """A client through the proxies: the mongos routers, or the replica set by discovery."""
        if self.mongo is None:
            raise HarnessError(f"topology {self.topology.name} has no MongoDB plane")
        return MongoClient(self.mongo.uri(), **kwargs)

    def cluster_client(self, **kwargs: Any) -> RedisCluster:
        """A RedisCluster client that starts from, and is redirected only to, proxy addresses."""
        startup = [ClusterNode(*n.client_address) for n in self.redis]
        return RedisCluster(startup_nodes=startup, **kwargs)

    def client(self, name: str, **kwargs: Any) -> Redis:
        """A client to one node through its proxy."""
        host, port = self.node(name).client_address
        return Redis(host=host, port=port, **kwargs)

    def current_masters(self) -> list[RedisNode]:
        """Nodes that are masters now (roles change in failovers), asked over the observer path."""
        masters = []
        for n in self.redis:
            with contextlib.suppress(redis.RedisError, OSError):
                if n.running() and n.admin().info("replication").get("role") == "master":
                    masters.append(n)
        return masters

    def redis_cluster(self) -> bool:
        return self.topology.redis is not None and self.topology.redis.mode == "cluster"

    def router_seeds(self) -> list[Address]:
        every = [n.client_address for n in self.redis]
        if self.redis_cluster():
            return every
        return [n.client_address for n in self.current_masters()] or every

    def observers(self) -> dict[str, Redis]:
        return redis_admin.observers(self.redis)

    def reset_data(self) -> None:
        redis_admin.reset_data(self.current_masters(), self.redis)

    def apply_redis_settings(self, settings: Mapping[str, Setting]) -> dict[str, Setting]:
        return redis_admin.apply_settings(self.redis, settings)

    def load_script(self, script: str) -> str:
        return redis_admin.load_script([n.client_address for n in self.current_masters()], script)

    def start_again(self, node: RedisNode | MongoNode) -> ServerProcess:
        return start_again(node, self.res)

    def capabilities(self) -> frozenset[str]:
        """What this backend can do to its nodes (values of ``harness.faults.base.Capability``):
        partitions need per-node hosts, admin commands nodes of their plane."""
        caps = {"toxics", "kill", "pause", "restart"}
        if self.network.partitions_supported:
            caps.add("partition")
        if self.redis:
            caps.add("redis-admin")
        if self.mongo is not None:
            caps.add("mongo-admin")  # what the server supports is each fault's own check
        return frozenset(caps)

    # -- partitions ---------------------------------------------------------------------------
    def _placement(self, name: str) -> tuple[Host, list[int]]:
        """A node's host and the proxy ports its peers reach it by, whatever its plane."""
        for n in self.redis:
            if n.name == name:
                # a replica's replication link leads to its master: cut with the master
                links = [
                    r.repl_proxy.listen_port for r in self.redis if r.repl_proxy and r.spec.replica_of == name
                ]
                return n.host, [n.client_proxy.listen_port, n.bus_proxy.listen_port, *links]
        for m in self.mongo.nodes if self.mongo else []:
            if m.name == name:
                return m.host, [m.proxy.listen_port]
        raise HarnessError(f"no node named '{name}' in topology {self.topology.name}")

    def node_names(self) -> list[str]:
        return [n.name for n in self.redis] + [m.name for m in (self.mongo.nodes if self.mongo else [])]

    def split(self, side_a: list[str], side_b: list[str]) -> int:
        """Two-way partition: no node of one side can reach a node of the other. The harness's
        clients still reach every proxy, as real clients do in a real partition. Returns how many
        hosts got rules."""
        return self._per_host(side_a, side_b, self.network.block)

    def unsplit(self, side_a: list[str], side_b: list[str]) -> int:
        """Undoes exactly one ``split(side_a, side_b)``, leaving any other partition in place."""
        return self._per_host(side_a, side_b, self.network.unblock)

    def _per_host(
        self, side_a: list[str], side_b: list[str], action: Callable[[Host, list[int]], None]
    ) -> int:
        a = [self._placement(n) for n in side_a]
        b = [self._placement(n) for n in side_b]
        tasks = [
            (host, [p for _, node_ports in dst for p in node_ports])
            for src, dst in [(a, b), (b, a)]
            for host, _ in src
        ]
        # One iptables call per host, all at once: a partition lands within a few ms on every
        # host instead of one host after another (the fault must be in place on time).
        with ThreadPoolExecutor(max_workers=max(1, len(tasks))) as pool:
            for future in [pool.submit(action, host, ports) for host, ports in tasks]:
                future.result()
        return len(tasks)

    def isolate(self, name: str) -> None:
        self.split([name], [n for n in self.node_names() if n != name])

    def heal(self) -> None:
        for name in self.node_names():
            self.network.heal(self._placement(name)[0])

    def rules(self) -> dict[str, list[str]]:
        return {name: self.network.rules(self._placement(name)[0]) for name in self.node_names()}

    def close_clients(self) -> None:
        for n in self.redis:
            n.close()
        if self.mongo is not None:
            self.mongo.close()


def run_tag(run_id: str) -> str:
    """Six hex characters naming the run's bridge and namespaces (interface names max 15 chars)."""
    return hashlib.sha1(run_id.encode()).hexdigest()[:6]


def _limit_cpu(dep: LocalDeployment, cores: float | None) -> None:
    """Caps every server process started so far (Redis nodes, mongod and mongos) at ``cores``."""
    if cores is None:
        dep.capacity = {"cpu_limit": None, "applied": False, "reason": "no limit requested"}
        return
    ok, reason = cpu_limits_supported()
    dep.capacity = {"cpu_limit": cores, "applied": ok, "reason": None if ok else reason}
    if not ok:
        return
    procs = [(n.name, n.process) for n in dep.redis]
    procs += [(m.name, m.process) for m in (dep.mongo.nodes if dep.mongo else [])]
    for name, process in procs:
        if process is None or name in dep._capped:
            continue  # not started yet (mongos start late), or already capped
        group = f"{run_tag(dep.run_id)}-{name}"
        with creating():  # another run's reap removes empty our-named groups no run claims
            dep.res.add_cgroup(group_path(group))
            limit_cpu(group, process.pid, cores)
        dep._capped.add(name)


def default_timeout_s(topology: TopologySpec) -> float:
    """How long bring-up may take before it is an error: a sharded cluster initiates four replica
    sets and builds the collections one after the other (issue target: 90 s on 2 cores)."""
    if topology.mongo is not None and topology.mongo.mode == "sharded":
        return 180.0
    if topology.mongo is not None:
        return 60.0
    return 30.0


def preflight(topology: TopologySpec, backend: str = "local") -> None:
    """Raises a clear error for any server binary the topology needs and this machine lacks (and,
    on the docker backend, when no engine answers)."""
    if backend == "docker":
        try:
            connect(timeout_s=10).close()
        except EngineUnavailable as exc:
            raise HarnessError(f"--backend docker: {exc}") from exc
    if topology.redis is not None:
        redis_nodes.redis_binary()
    if topology.mongo is not None:
        if backend == "docker":
            docker_mongo.plane_binaries(topology.mongo)  # its servers come from images
        else:
            mongo_nodes.plane_binaries(topology.mongo)
    find_toxiproxy()


def _build(
    topology: TopologySpec,
    run_dir: Path,
    res: RunResources,
    hosts: str,
    timeout_s: float,
    cpu_limit: float | None,
    backend: str = "local",
) -> LocalDeployment:
    started = time.monotonic()
    # Every binary is looked up before anything is created, so a missing one leaves nothing behind.
    redis_binary = redis_nodes.redis_binary() if topology.redis is not None else None
    plane_binaries = docker_mongo.plane_binaries if backend == "docker" else mongo_nodes.plane_binaries
    mongo_binaries = plane_binaries(topology.mongo) if topology.mongo is not None else {}
    images: dict[str, Image] = {}
    if backend == "docker":
        needed = ["pause", "toxiproxy-server", *(["redis-server"] if redis_binary else []), *mongo_binaries]
        images = resolve_images(needed)
        network: Network = DockerNetwork(res, run_tag(res.run_id), images)
    else:
        network = make_network(res, run_tag(res.run_id), hosts)
    res.info["hosts"] = network.kind
    toxi = ToxiproxyServer(res, run_dir / "logs", network=network)
    dep = LocalDeployment(topology, res.run_id, run_dir, res, network, toxi)
    dep.versions = {"toxiproxy-server": toxi.version}
    if redis_binary is not None:
        dep.versions["redis-server"] = redis_nodes.redis_version(redis_binary)
    for name, path in mongo_binaries.items():
        if name in images:  # the image's server, asked as the local backend asks a binary
            dep.versions[name] = docker_mongo.image_version(name, images[name])
            continue
        version = mongo_nodes.ferretdb_version if name == "ferretdb" else mongo_nodes.mongo_version
        dep.versions[name] = version(path)

    if topology.redis is not None:
        plan_redis(dep, topology.redis)
        start_redis(dep, topology.redis)
    if topology.mongo is not None:
        dep.mongo = mongo_nodes.plan(topology.mongo, network, toxi, run_dir)
        mongo_nodes.start(dep.mongo, mongo_binaries, res)
    # Capacity applies from the start, so formation and health checks run under it too.
    specs_limit = [p.cpu_limit for p in (topology.redis, topology.mongo) if p is not None and p.cpu_limit]
    _limit_cpu(dep, cpu_limit if cpu_limit is not None else (specs_limit[0] if specs_limit else None))
    if topology.redis is not None:
        ready_redis(dep, topology.redis, timeout_s)
    if dep.mongo is not None:
        mongo_nodes.bring_up(dep.mongo, mongo_binaries, res, timeout_s, started=True)
        if dep.capacity.get("applied"):
            _limit_cpu(dep, dep.capacity["cpu_limit"])  # the mongos started late: cap them too
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
    backend: str = "local",
    detached: bool = False,
    timeout_s: float | None = None,
    cpu_limit: float | None = None,
) -> Iterator[LocalDeployment]:
    """Brings ``topology`` up healthy, yields it, and tears it down afterwards (unless detached).

    ``cpu_limit`` (cores per node) overrides the topology's own ``cpu_limit``; ``timeout_s`` defaults
    to :func:`default_timeout_s`."""
    preflight(topology, backend)  # a missing binary fails here, before anything (even the run dir) exists
    reap(include_detached=False)  # a crashed run's leftovers must not collide with this one
    run_dir.mkdir(parents=True, exist_ok=True)
    res = new_resources(run_id, run_dir, detached=detached, topology=topology.name)
    with _teardown_guard(res, detached):
        timeout = timeout_s if timeout_s is not None else default_timeout_s(topology)
        dep = _build(topology, run_dir, res, hosts, timeout, cpu_limit, backend)
        try:
            yield dep
        finally:
            dep.close_clients()


def run_id_now(prefix: str = "") -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return f"{prefix}{stamp}-{os.urandom(3).hex()}"
