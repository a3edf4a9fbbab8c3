"""Checks that a Redis node is reached, and announced, only through Toxiproxy.

Each check returns what it found wrong, keyed so that a second look can confirm it: the node's view
and toxiproxy-server's sockets are read one after the other, and a connection that closed in between
would otherwise look like one that went around the proxy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import redis

from harness.topology.deployment import Deployment
from harness.topology.redis import RedisNode
from tests.live.sockets import ESTABLISHED, Endpoint, TcpSocket, held_sockets, parse_endpoint

OBSERVER_NAME = "proxied-paths-observer"
Found = dict[tuple[Any, ...], str]


@dataclass(frozen=True)
class Proxies:
    """Where a proxied connection may come from, and what a node may announce."""

    # toxiproxy-server's connections (its end, the other end), read just now: a connection is
    # toxiproxy's only if both ends match (Linux shares an ephemeral port among connections to
    # different peers, so the harness's own direct connection can have the same local end)
    toxiproxy_links: set[tuple[Endpoint, Endpoint]]
    client: set[Endpoint]  # every node's client proxy
    bus: set[Endpoint]  # every node's cluster-bus proxy
    repl: set[Endpoint]  # every replica's own link to its master (replicated topologies)

    @classmethod
    def of(cls, dep: Deployment) -> Proxies:
        assert dep.toxiproxy.process.pid is not None
        return cls(
            {(s.local, s.remote) for s in held_sockets(dep.toxiproxy.process.pid)},
            {(n.client_proxy.listen_host, n.client_proxy.listen_port) for n in dep.redis},
            {(n.bus_proxy.listen_host, n.bus_proxy.listen_port) for n in dep.redis},
            {(n.repl_proxy.listen_host, n.repl_proxy.listen_port) for n in dep.redis if n.repl_proxy},
        )


def observer(node: RedisNode) -> redis.Redis:
    """One named connection over the direct address (the observer path), excluded from the checks."""
    return redis.Redis(
        host=node.host.address,
        port=node.port,
        socket_timeout=2,
        decode_responses=True,
        single_connection_client=True,
        client_name=OBSERVER_NAME,
    )


def stray_clients(clients: list[dict[str, Any]], observer_id: int, proxies: Proxies) -> Found:
    """``CLIENT LIST`` entries whose peer (``addr``, not ``laddr``) is not toxiproxy-server."""
    found: Found = {}
    for c in clients:
        if int(c["id"]) == observer_id:
            continue
        peer = parse_endpoint(c["addr"])
        if "M" in c["flags"]:  # a replica's link to its master: addr is where the replica connected to
            ok = peer in proxies.client | proxies.repl
        else:
            ok = (peer, parse_endpoint(c["laddr"])) in proxies.toxiproxy_links
        if not ok:
            key = ("client", str(c["id"]), c["addr"])
            found[key] = f"id={c['id']} addr={c['addr']} laddr={c['laddr']} flags={c['flags']} cmd={c['cmd']}"
    return found


def stray_sockets(
    node: RedisNode, sockets: list[TcpSocket], observer_end: Endpoint, proxies: Proxies
) -> Found:
    """The node's established TCP connections (cluster bus included, which ``CLIENT LIST`` does not
    show): one it accepted must come from toxiproxy-server (or be the observer), one it opened must
    go to a proxy."""
    found: Found = {}
    for s in sockets:
        if s.state != ESTABLISHED:
            continue
        if s.local[1] in (node.port, node.bus_port):
            ok = (s.remote, s.local) in proxies.toxiproxy_links or s.remote == observer_end
        else:
            ok = s.remote in proxies.client | proxies.bus | proxies.repl
        if not ok:
            found[("socket", s.local, s.remote)] = (
                f"{s.local[0]}:{s.local[1]} <-> {s.remote[0]}:{s.remote[1]}"
            )
    return found


def look(dep: Deployment, node: RedisNode, obs: redis.Redis) -> Found:
    """Every connection of ``node`` that did not come through a proxy. The node's view is read
    before toxiproxy-server's sockets, so a connection open in the first is there in the second."""
    assert node.process is not None
    me = int(obs.client_id())
    observer_end = parse_endpoint(obs.client_info()["addr"])
    clients = obs.client_list()
    sockets = held_sockets(node.process.pid)
    proxies = Proxies.of(dep)
    return stray_clients(clients, me, proxies) | stray_sockets(node, sockets, observer_end, proxies)


def confirmed(look: Callable[[], Found]) -> Found:
    """What two looks in a row both found (a connection that closed between the node's view and the
    toxiproxy snapshot shows up in one look at most)."""
    first = look()
    if not first:
        return first
    second = look()
    return {k: v for k, v in first.items() if k in second}


def announced(obs: redis.Redis, cluster: bool) -> Iterator[tuple[str, str, Endpoint]]:
    """(where, client|bus, address) for every address the node hands out to others."""
    repl: dict[str, Any] = obs.info("replication")
    if repl.get("role") == "slave":
        yield "INFO master_host:master_port", "client", (repl["master_host"], int(repl["master_port"]))
    for i in range(int(repl.get("connected_slaves", 0))):
        slave = repl[f"slave{i}"]  # how the master lists a replica (ROLE and Sentinel use it too)
        yield f"INFO slave{i}", "client", (slave["ip"], int(slave["port"]))
    if not cluster:
        return
    for line in str(obs.execute_command("CLUSTER", "NODES")).splitlines():
        node_id, addr = line.split()[:2]
        client, bus = addr.split(",")[0].split("@")
        yield f"CLUSTER NODES {node_id[:8]}", "client", parse_endpoint(client)
        yield f"CLUSTER NODES {node_id[:8]} bus", "bus", (parse_endpoint(client)[0], int(bus))
    for entry in obs.execute_command("CLUSTER", "SLOTS"):
        for node in entry[2:]:
            yield f"CLUSTER SLOTS {entry[0]}-{entry[1]}", "client", (str(node[0]), int(node[1]))
    for shard in obs.execute_command("CLUSTER", "SHARDS"):
        for node in map(_as_dict, _as_dict(shard)["nodes"]):
            where = f"CLUSTER SHARDS {str(node['id'])[:8]}"
            yield where, "client", (str(node["ip"]), int(node["port"]))
            yield f"{where} endpoint", "client", (str(node["endpoint"]), int(node["port"]))


def _as_dict(reply: Any) -> dict[str, Any]:
    """A map reply: a dict in RESP3, a flat [key, value, ...] list in RESP2."""
    return reply if isinstance(reply, dict) else dict(zip(reply[::2], reply[1::2], strict=True))


def off_proxy(announcements: list[tuple[str, str, Endpoint]], proxies: Proxies) -> list[str]:
    allowed = {"client": proxies.client | proxies.repl, "bus": proxies.bus}
    return [f"{where}: {a[0]}:{a[1]}" for where, kind, a in announcements if a not in allowed[kind]]
