"""What a running topology offers the rest of the harness, whatever backend brought it up.

The run layer, the workloads and the faults type against :class:`Deployment`, never against a
backend's class (:class:`harness.topology.local.LocalDeployment` is the one backend today). Clients
reach nodes only through each node's proxy (``client_address``); the harness's own observers
(statistics, roles, resets) use ``admin`` connections that bypass the proxies, so a fault on the
data path never blinds the observer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from pymongo import MongoClient
from redis import Redis
from redis.cluster import RedisCluster

from harness.topology.mongo import MongoNode, MongoPlane
from harness.topology.network import Network
from harness.topology.redis import RedisNode
from harness.topology.spec import TopologySpec
from harness.topology.toxiproxy import ToxiproxyServer

Address = tuple[str, int]
Setting = str | int | bool


class Deployment(Protocol):
    """A healthy topology: its nodes, how clients reach them, and what may be done to them."""

    topology: TopologySpec
    run_id: str
    network: Network
    toxiproxy: ToxiproxyServer
    redis: list[RedisNode]
    mongo: MongoPlane | None
    versions: dict[str, str]
    up_seconds: float
    capacity: dict[str, Any]

    # -- nodes and addresses ------------------------------------------------------------------
    def node(self, name: str) -> RedisNode: ...
    def mongo_node(self, name: str) -> MongoNode: ...
    def node_names(self) -> list[str]: ...
    def current_masters(self) -> list[RedisNode]: ...
    def endpoints(self) -> dict[str, Any]: ...
    def capabilities(self) -> frozenset[str]: ...
    def redis_cluster(self) -> bool:
        """True when the Redis plane is a cluster (clients route by slot)."""
        ...

    def router_seeds(self) -> list[Address]:
        """Where a data-path client starts: every node's proxy in a cluster, else the proxies of
        the nodes that are masters now (one primary serves every key)."""
        ...

    # -- clients (through the proxies) and observers (around them) -----------------------------
    def client(self, name: str, **kwargs: Any) -> Redis: ...
    def cluster_client(self, **kwargs: Any) -> RedisCluster: ...
    def mongo_client(self, **kwargs: Any) -> MongoClient[dict[str, Any]]: ...
    def observers(self) -> dict[str, Redis]:
        """One fresh admin connection per Redis node, for a sampler thread of its own."""
        ...

    # -- data and settings between variants ---------------------------------------------------
    def reset_data(self) -> None:
        """Empty data and zeroed server statistics on the Redis plane."""
        ...

    def apply_redis_settings(self, settings: Mapping[str, Setting]) -> dict[str, Setting]:
        """``CONFIG SET`` on every Redis node, persisted; returns the values replaced."""
        ...

    def load_script(self, script: str) -> str:
        """``SCRIPT LOAD`` on every current master; returns the script's SHA."""
        ...

    # -- faults -------------------------------------------------------------------------------
    def split(self, side_a: list[str], side_b: list[str]) -> int: ...
    def unsplit(self, side_a: list[str], side_b: list[str]) -> int: ...
    def isolate(self, name: str) -> None: ...
    def heal(self) -> None: ...
    def rules(self) -> dict[str, list[str]]: ...
    def start_again(self, node: RedisNode | MongoNode) -> Any:
        """Starts a stopped node on its data again; refuses once teardown has begun."""
        ...


def replica_seeds(dep: Deployment) -> list[Address]:
    """Where replica reads start: every proxy in a cluster (``READONLY`` routing), else the first
    replica's proxy (none when the topology has no replica)."""
    replicas = [n for n in dep.redis if n.spec.role == "replica"]
    if not replicas:
        return []
    if dep.redis_cluster():
        return [n.client_address for n in dep.redis]
    return [replicas[0].client_address]
