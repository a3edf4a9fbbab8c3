"""Samples server-side statistics over the observer path while a workload runs."""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import redis

from harness.metrics.load import data_calls


@dataclass
class NodeSample:
    t_s: float
    node: str
    role: str
    data_calls: int


@dataclass(frozen=True)
class Snapshot:
    role: str
    data_calls: int
    cpu_s: float  # user + system CPU seconds the server has used


def snapshot(clients: dict[str, redis.Redis]) -> dict[str, Snapshot]:
    """Role, data calls and CPU so far, for every node that answers."""
    out: dict[str, Snapshot] = {}
    for name, client in clients.items():
        with contextlib.suppress(redis.RedisError, OSError):
            # Only the sections needed: under a CPU cap the observer's own work costs the node.
            info = client.info("replication", "cpu", "commandstats")
            cpu = float(info.get("used_cpu_user", 0)) + float(info.get("used_cpu_sys", 0))
            stats = {k: v for k, v in info.items() if k.startswith("cmdstat_")}
            out[name] = Snapshot(str(info.get("role", "?")), data_calls(stats), cpu)
    return out


def wait_idle(
    clients: dict[str, redis.Redis],
    *,
    below_cores: float = 0.02,
    window_s: float = 0.5,
    timeout_s: float = 10.0,
) -> float:
    """Waits until every node used less than ``below_cores`` of CPU over ``window_s`` (steady state
    before a measurement); returns the seconds it took. Gives up quietly at ``timeout_s``: the
    caller records how long it waited, and a busy node shows in the measurement itself."""
    start = time.monotonic()
    last = {k: v.cpu_s for k, v in snapshot(clients).items()}
    while time.monotonic() - start < timeout_s:
        time.sleep(window_s)
        now = {k: v.cpu_s for k, v in snapshot(clients).items()}
        busy = [k for k in now if k in last and (now[k] - last[k]) / window_s >= below_cores]
        last = now
        if not busy:
            break
    return time.monotonic() - start


@dataclass
class StatsSampler:
    """Polls every node once per ``interval_s`` in a background thread until stopped."""

    clients: dict[str, redis.Redis]
    interval_s: float = 1.0
    samples: list[NodeSample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name="stats-sampler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            t = time.monotonic() - self._t0
            for node, snap in snapshot(self.clients).items():
                self.samples.append(NodeSample(t, node, snap.role, snap.data_calls))
            next_at += self.interval_s
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for client in self.clients.values():
            client.close()

    def per_second(self, nodes: list[str]) -> dict[str, list[float]]:
        """Ops/s per node between consecutive samples."""
        series: dict[str, list[float]] = {n: [] for n in nodes}
        last: dict[str, NodeSample] = {}
        for s in self.samples:
            if s.node in series and s.node in last:
                dt = s.t_s - last[s.node].t_s
                series[s.node].append(
                    round((s.data_calls - last[s.node].data_calls) / dt, 1) if dt > 0 else 0
                )
            last[s.node] = s
        return series

    def to_dict(self) -> list[dict[str, Any]]:
        return [s.__dict__ for s in self.samples]


@dataclass(frozen=True)
class Totals:
    """A node's cumulative counters at one instant (``INFO``); deltas over a step ÷ events give
    per-event figures."""

    cpu_s: float  # used_cpu_user + used_cpu_sys
    data_calls: int  # commandstats calls of data commands (the limiter script's inner calls too)
    net_in_bytes: int  # total_net_input_bytes
    net_out_bytes: int  # total_net_output_bytes
    used_memory: int
    keys: int  # DBSIZE

    def minus(self, before: Totals) -> dict[str, float]:
        return {
            "cpu_s": self.cpu_s - before.cpu_s,
            "data_calls": self.data_calls - before.data_calls,
            "net_in_bytes": self.net_in_bytes - before.net_in_bytes,
            "net_out_bytes": self.net_out_bytes - before.net_out_bytes,
            "used_memory": self.used_memory - before.used_memory,
            "keys": self.keys - before.keys,
        }


def totals(client: redis.Redis) -> Totals:
    """One node's :class:`Totals` (one ``INFO`` of the sections needed, then ``DBSIZE``)."""
    info = client.info("cpu", "stats", "memory", "commandstats")
    stats = {k: v for k, v in info.items() if k.startswith("cmdstat_")}
    return Totals(
        cpu_s=float(info["used_cpu_user"]) + float(info["used_cpu_sys"]),
        data_calls=data_calls(stats),
        net_in_bytes=int(info["total_net_input_bytes"]),
        net_out_bytes=int(info["total_net_output_bytes"]),
        used_memory=int(info["used_memory"]),
        keys=int(client.dbsize()),
    )


def key_memory(client: redis.Redis, patterns: dict[str, str], sample: int = 200) -> dict[str, Any]:
    """Per key class (name -> ``SCAN MATCH`` pattern): how many keys of it were looked at, their
    mean ``MEMORY USAGE`` and, for sorted sets, mean members (``ZCARD``) and bytes per member.
    At most ``sample`` keys a class, taken in ``SCAN`` order."""
    out: dict[str, Any] = {}
    for name, pattern in patterns.items():
        keys = []
        for k in client.scan_iter(match=pattern, count=1000):
            keys.append(k)
            if len(keys) >= sample:
                break
        if not keys:
            out[name] = {"keys_sampled": 0}
            continue
        pipe = client.pipeline(transaction=False)
        for k in keys:
            pipe.memory_usage(k, samples=0)  # samples=0: every element, exact
            pipe.type(k)
        replies = pipe.execute()
        types = [t.decode() if isinstance(t, bytes) else str(t) for t in replies[1::2]]
        # a key that expired between SCAN and now is gone (type none): not sampled
        live = [(k, int(u or 0)) for k, u, t in zip(keys, replies[0::2], types, strict=True) if t != "none"]
        if not live:
            out[name] = {"keys_sampled": 0}
            continue
        keys, usage = [k for k, _ in live], [u for _, u in live]
        kinds = set(types) - {"none"}
        row: dict[str, Any] = {"keys_sampled": len(keys), "type": ",".join(sorted(kinds))}
        row["bytes_per_key"] = round(sum(usage) / len(usage), 1)
        if kinds == {"zset"}:
            cards = client.pipeline(transaction=False)
            for k in keys:
                cards.zcard(k)
            counts = [int(c) for c in cards.execute()]
            row["members_per_key"] = round(sum(counts) / len(keys), 2)
            row |= member_fit(counts, usage)
        out[name] = row
    return out


def member_fit(members: list[int], usage: list[int]) -> dict[str, Any]:
    """Bytes per key as ``key + member x members`` (least squares over the sampled keys), so a
    sorted set's size can be extrapolated to more members than the run gave it. With one member
    count only, no slope can be fitted: every byte is charged to the members (an overestimate)."""
    n = len(members)
    mx, my = sum(members) / n, sum(usage) / n
    var = sum((x - mx) ** 2 for x in members)
    if var == 0:
        return {"bytes_per_member": round(my / max(mx, 1), 1), "key_bytes": 0.0, "fitted": False}
    slope = sum((x - mx) * (y - my) for x, y in zip(members, usage, strict=True)) / var
    key = my - slope * mx
    if key < 0 or slope < 0:
        # A key cannot weigh less than nothing: seen, a limiter fit of -117 B a key (its sizes step
        # with the encoding's allocations, not a line). Through the origin instead: all on members.
        through_origin = sum(x * y for x, y in zip(members, usage, strict=True)) / sum(x * x for x in members)
        note = f"the free fit gave {key:.1f} B a key and {slope:.1f} a member; fitted through 0"
        return {"bytes_per_member": round(through_origin, 1), "key_bytes": 0.0, "fitted": True, "note": note}
    return {"bytes_per_member": round(slope, 1), "key_bytes": round(key, 1), "fitted": True}
