"""The series the alert rules read, sampled once a second from the servers (over the observer
path, around the proxies, so a fault on the data path never blinds it) and from the live figures.

Each tick is ``{series: {instance: value or None}}``; ``None`` is a sample that could not be taken
(the node did not answer), which the evaluator treats as missing, never as zero.
"""

from __future__ import annotations

import contextlib
from collections import deque
from typing import Any

import redis
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from harness.clients.mongo_stats import members
from harness.metrics.live import LiveFigures
from harness.topology.deployment import Deployment

Tick = dict[str, dict[str, float | None]]
QUERY_PROCESSES = ("query", "cache", "ryw")  # the query service's reads (redis_plane/reads, cache, ryw)
INGEST = ("ingest", "ingest_rl")  # one op per event offered to the limiter (compact recording)


def why_not_measured(dep: Deployment) -> dict[str, str]:
    """Series this deployment cannot give, with the reason (the rules reading them are listed as
    not evaluated)."""
    out: dict[str, str] = {}
    if not dep.redis:
        for s in (
            "redis_memory_ratio",
            "redis_replica_lag_s",
            "redis_connected_clients",
            "redis_command_mean_s",
        ):
            out[s] = f"topology {dep.topology.name} has no Redis plane"
    if dep.mongo is None:
        out["mongo_repl_lag_s"] = f"topology {dep.topology.name} has no MongoDB plane"
    elif not dep.mongo.replsets:
        server = dep.versions.get("ferretdb") and f"ferretdb {dep.versions['ferretdb']}"
        out["mongo_repl_lag_s"] = f"no replica set here ({server or 'standalone server'}: no replication)"
    return out


class Sampler:
    """Takes one :data:`Tick` per call; keeps what the windowed series need between calls."""

    def __init__(self, dep: Deployment, live: LiveFigures, offered_rate: float, window_s: float) -> None:
        self.dep = dep
        self.live = live
        self.offered_rate = offered_rate
        self.window_s = window_s  # the rules' rate window, scaled
        self.clients = dep.observers()
        # A replica as its master's INFO names it (its announced proxy, or its own address).
        self.names = {a: n.name for n in dep.redis for a in (n.client_proxy.address, n.direct)}
        self._stats: dict[str, deque[tuple[float, float, float]]] = {}  # node -> (t, usec, calls)
        mongo = dep.mongo
        self._replsets = [] if mongo is None else [[n.direct for n in rs.nodes] for rs in mongo.replsets]

    def close(self) -> None:
        for c in self.clients.values():
            c.close()

    def tick(self, now_s: float) -> Tick:
        out: Tick = {
            "redis_memory_ratio": {},
            "redis_replica_lag_s": {},
            "redis_connected_clients": {},
            "redis_command_mean_s": {},
        }
        for name, client in self.clients.items():
            self._redis_node(out, name, client, now_s)
        if self._replsets:
            out["mongo_repl_lag_s"] = self._mongo_lag()
        events = self.live.rate(*INGEST, now_s, self.window_s)
        out["ingest_rate"] = {"": self.live.rate(*INGEST, now_s, 1)}
        ratio = None if events is None or not self.offered_rate else events / self.offered_rate
        out["ingest_rate_ratio"] = {"": ratio}
        out["query_p99_s"] = {"": self.live.latency_p99(QUERY_PROCESSES, now_s, self.window_s)}
        out["query_p99_1s"] = {"": self.live.latency_p99(QUERY_PROCESSES, now_s, 1)}
        return out

    def _redis_node(self, out: Tick, name: str, client: redis.Redis, now_s: float) -> None:
        try:
            info: dict[str, Any] = client.info("all")
        except (redis.RedisError, OSError):
            for key in ("redis_memory_ratio", "redis_connected_clients", "redis_command_mean_s"):
                out[key][name] = None  # its replicas' lag instances go missing with it
            return
        maxmem = int(info.get("maxmemory", 0) or 0)
        out["redis_memory_ratio"][name] = info["used_memory"] / maxmem if maxmem else None
        out["redis_connected_clients"][name] = float(info.get("connected_clients", 0))
        if info.get("role") == "master":
            for key, slave in info.items():
                if key.startswith("slave") and isinstance(slave, dict) and "lag" in slave:
                    where = f"{slave.get('ip')}:{slave.get('port')}"
                    out["redis_replica_lag_s"][f"{name}→{self.names.get(where, where)}"] = float(slave["lag"])
        usec = sum(v["usec"] for k, v in info.items() if k.startswith("cmdstat_") and isinstance(v, dict))
        calls = sum(v["calls"] for k, v in info.items() if k.startswith("cmdstat_") and isinstance(v, dict))
        hist = self._stats.setdefault(name, deque())
        hist.append((now_s, float(usec), float(calls)))
        while len(hist) > 1 and now_s - hist[0][0] > self.window_s:
            hist.popleft()
        _, u0, c0 = hist[0]
        out["redis_command_mean_s"][name] = (usec - u0) / (calls - c0) / 1e6 if calls > c0 else None

    def _mongo_lag(self) -> dict[str, float | None]:
        lags: dict[str, float | None] = {}
        for addresses in self._replsets:
            for address in addresses:
                client: MongoClient[dict[str, Any]] = MongoClient(
                    address, directConnection=True, serverSelectionTimeoutMS=800
                )
                try:
                    with contextlib.suppress(PyMongoError):
                        for m in members(client):
                            if m.state != "PRIMARY":
                                lags[m.name] = m.lag_s
                        break
                finally:
                    client.close()
        return lags
