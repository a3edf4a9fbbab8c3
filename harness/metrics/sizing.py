"""Extrapolation from measured per-event figures to the capstone's numbers: a pure function from
:class:`Measured` + :class:`Assumptions` to a sizing table (nodes, RAM, disk, IOPS, network), with
the guide's own estimates beside each row (:mod:`harness.metrics.sizing_guide`). No I/O: the
capacity run measures, this only does arithmetic, and ``tests/unit/test_capacity_sizing.py``
checks it against numbers computed by hand.

Every number that is not measured here is an :class:`Assumptions` field with its source; the
report prints them all. The MongoDB rows rest on assumptions only (no mongod here: the guide's
document size, index overhead and compression), and say so in their basis.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from harness.metrics.sizing_guide import GUIDE

GB = 1e9
TB = 1e12


@dataclass(frozen=True)
class Measured:
    """The Redis plane's figures from a capacity run (server statistics ÷ events applied)."""

    knee_events_s: float  # the server's knee at its CPU cap
    cpu_cap_cores: float
    server_cpu_us_per_event: float
    ops_per_event: float
    net_in_bytes_per_event: float
    net_out_bytes_per_event: float
    counter_key_bytes: float  # MEMORY USAGE of one per-minute counter key
    hll_key_bytes: float  # one hourly HyperLogLog
    timeline_key_bytes: float  # a timeline's MEMORY USAGE = key + member x members (fitted)
    timeline_member_bytes: float
    limiter_key_bytes: float  # the same fit for the limiter's sorted sets
    limiter_member_bytes: float


@dataclass(frozen=True)
class Assumptions:
    """What the extrapolation takes as given; ``SOURCES`` says where each value comes from."""

    peak_events_s: float = 100_000
    events_per_day: float = 1e9
    tenants: int = 10_000
    retention_days: float = 90
    audit_retention_days: float = 365
    audit_share: float = 0.03
    target_utilization: float = 0.5
    redis_replicas: int = 1
    redis_min_masters: int = 3
    redis_node_ram_gb: float = 8.0
    counter_windows: int = 10
    hll_hours: int = 48
    active_users: int = 1_000_000
    timeline_keep: int = 100
    limiter_window_s: float = 60.0
    redis_fragmentation: float = 1.3
    redis_disk_factor: float = 2.0
    redis_fsyncs_per_node_s: float = 1.0
    doc_bytes: float = 1024
    index_bytes: float = 400
    compression: float = 0.5
    mongo_replication: int = 3
    mongo_writes_per_event: float = 5.0
    mongo_iops_per_primary: float = 125_000
    hot_hours: float = 24
    hot_in_ram: float = 0.5

    def table(self) -> list[dict[str, Any]]:
        """Every assumption with its value and source, for the report."""
        return assumption_table(self, SOURCES)


def assumption_table(assumptions: Any, sources: dict[str, str]) -> list[dict[str, Any]]:
    """Every field of a frozen assumptions dataclass with its value and source, for the report."""
    return [
        {"name": f.name, "value": getattr(assumptions, f.name), "source": sources[f.name]}
        for f in fields(assumptions)
    ]


SOURCES: dict[str, str] = {
    "peak_events_s": "capstone: peak write throughput 100,000 events/s",
    "events_per_day": "guide 'Capacity Planning: 1 Billion Events/Day' (the capstone text says ~5B/day)",
    "tenants": "capstone: 10,000 tenants",
    "retention_days": "capstone: 90 days standard",
    "audit_retention_days": "capstone: 365 days for audit events",
    "audit_share": "ours: the generator's eight audit types are about 3% of events",
    "target_utilization": "ours: run each Redis master at most at half its measured knee (failover, spikes)",
    "redis_replicas": "guide: 3 masters + 3 replicas (one replica each)",
    "redis_min_masters": "ours: Redis Cluster needs at least 3 masters for a failover majority",
    "redis_node_ram_gb": "guide: 8 GB RAM per Redis node",
    "counter_windows": "ours: one counter per tenant per minute, EXPIRE 600 s -> 10 live windows",
    "hll_hours": "ours: hourly HyperLogLogs kept 48 h (the ingest path sets no TTL on them)",
    "active_users": "guide: 1M active users with timelines",
    "timeline_keep": "capstone/ours: each user's timeline trimmed to the newest 100",
    "limiter_window_s": "ours: a 60 s sliding window; entries held = peak rate x window",
    "redis_fragmentation": "guide 9.1: add 30% for fragmentation",
    "redis_disk_factor": "ours: an RDB snapshot plus a rewrite in progress = 2 x dataset per node",
    "redis_fsyncs_per_node_s": "ours: appendfsync everysec = 1 fsync/s per node",
    "doc_bytes": "guide: average document 1 KB (not measured here: no mongod)",
    "index_bytes": "guide: ~400 bytes of index per document (5 indexes)",
    "compression": "guide: snappy ~50%",
    "mongo_replication": "guide: 3 members per shard",
    "mongo_writes_per_event": "guide: write amplification (indexes) 5x",
    "mongo_iops_per_primary": "guide: 125,000 IOPS per shard primary",
    "hot_hours": "guide: working set = last 24 hours",
    "hot_in_ram": "guide: target 50% of the working set in RAM",
}


def _row(plane: str, quantity: str, ours: float, unit: str, basis: str) -> dict[str, Any]:
    guide = GUIDE.get((plane, quantity))
    return {
        "plane": plane,
        "quantity": quantity,
        "ours": ours,
        "unit": unit,
        "guide": None if guide is None else guide[0],
        "guide_note": "" if guide is None else guide[1],
        "basis": basis,
    }


def redis_rows(m: Measured, a: Assumptions) -> list[dict[str, Any]]:
    """The Redis plane: masters for CPU and for RAM, the dataset, disk, fsyncs and network."""
    per_core = m.knee_events_s / m.cpu_cap_cores
    cpu_masters = math.ceil(a.peak_events_s / (per_core * a.target_utilization))
    dataset = (
        a.tenants * a.counter_windows * m.counter_key_bytes
        + a.tenants * a.hll_hours * m.hll_key_bytes
        + a.active_users * (m.timeline_key_bytes + a.timeline_keep * m.timeline_member_bytes)
        + a.tenants * m.limiter_key_bytes
        + a.peak_events_s * a.limiter_window_s * m.limiter_member_bytes
    )
    per_copy = dataset * a.redis_fragmentation
    ram_masters = math.ceil(per_copy / (a.redis_node_ram_gb * GB))
    masters = max(cpu_masters, ram_masters, a.redis_min_masters)
    nodes = masters * (1 + a.redis_replicas)
    copies = 1 + a.redis_replicas
    net = a.peak_events_s * (m.net_in_bytes_per_event * (1 + a.redis_replicas) + m.net_out_bytes_per_event)
    return [
        _row("redis", "server CPU", a.peak_events_s * m.server_cpu_us_per_event / 1e6, "cores",
             f"peak x {m.server_cpu_us_per_event:g} us/event (masters only)"),
        _row("redis", "commands", a.peak_events_s * m.ops_per_event, "ops/s",
             f"peak x {m.ops_per_event:g} commands/event (INFO commandstats)"),
        _row("redis", "masters", masters, "nodes",
             f"max(CPU: {cpu_masters} at {a.target_utilization:g} of {per_core:,.0f} events/s per core, "
             f"RAM: {ram_masters} of {a.redis_node_ram_gb:g} GB, minimum {a.redis_min_masters})"),
        _row("redis", "nodes", nodes, "nodes", f"{masters} masters x (1 + {a.redis_replicas} replica)"),
        _row("redis", "dataset", dataset / GB, "GB",
             "counters + HyperLogLogs + timelines + limiter entries: MEMORY USAGE per key, sorted sets "
             "fitted as key + member x members"),
        _row("redis", "RAM", per_copy * copies / GB, "GB",
             f"dataset x {a.redis_fragmentation:g} fragmentation x {copies} copies"),
        _row("redis", "disk", dataset * a.redis_disk_factor * copies / GB, "GB",
             f"dataset x {a.redis_disk_factor:g} (RDB + rewrite) x {copies} copies"),
        _row("redis", "IOPS", nodes * a.redis_fsyncs_per_node_s, "IOPS",
             f"{a.redis_fsyncs_per_node_s:g} fsync/s per node (appendfsync everysec)"),
        _row("redis", "network", net * 8 / 1e9, "Gbit/s",
             "peak x (bytes in x (1 + replicas) + bytes out) per event (INFO stats net bytes)"),
    ]  # fmt: skip


def mongo_rows(a: Assumptions) -> list[dict[str, Any]]:
    """The MongoDB plane from assumptions alone (not measured here): storage over both retention
    classes, shards for write IOPS, the working set, and network."""
    per_doc = (a.doc_bytes + a.index_bytes) * a.compression
    std_days = (1 - a.audit_share) * a.retention_days
    audit_days = a.audit_share * a.audit_retention_days
    data = a.events_per_day * per_doc * (std_days + audit_days)
    write_iops = a.peak_events_s * a.mongo_writes_per_event
    shards = math.ceil(write_iops / a.mongo_iops_per_primary)
    hot = a.events_per_day * a.hot_hours / 24 * (a.doc_bytes + a.index_bytes) * a.hot_in_ram
    net = a.peak_events_s * a.doc_bytes * a.mongo_replication
    basis = "assumed (no mongod here): "
    return [
        _row("mongo", "shards", shards, "shards",
             basis + f"peak x {a.mongo_writes_per_event:g} writes/event / "
             f"{a.mongo_iops_per_primary:,.0f} IOPS per primary"),
        _row("mongo", "nodes", shards * a.mongo_replication, "nodes",
             f"{shards} shards x {a.mongo_replication} members (config servers and routers apart)"),
        _row("mongo", "RAM per node", hot / shards / GB, "GB",
             basis + f"last {a.hot_hours:g} h x (doc + index) x {a.hot_in_ram:g} per shard; every member "
             "of a shard holds it (a secondary must carry it after a failover)"),
        _row("mongo", "disk", data * a.mongo_replication / TB, "TB",
             basis + f"events/day x (doc + index) x {a.compression:g} x ({std_days:g} standard + "
             f"{audit_days:g} audit day-equivalents) x {a.mongo_replication} members"),
        _row("mongo", "disk per node", data / shards / TB, "TB", "each member holds its whole shard"),
        _row("mongo", "IOPS", write_iops, "IOPS", basis + "peak write IOPS, cluster-wide"),
        _row("mongo", "network", net * 8 / 1e9, "Gbit/s",
             basis + f"peak x doc bytes x {a.mongo_replication} (ingest + replication to secondaries)"),
    ]  # fmt: skip


def size(m: Measured, a: Assumptions | None = None) -> dict[str, Any]:
    """The sizing table (Redis from ``m``, MongoDB from assumptions), with the assumptions."""
    a = a or Assumptions()
    if m.knee_events_s <= 0 or m.cpu_cap_cores <= 0:
        raise ValueError("size: needs a measured knee (events/s > 0) at a CPU cap > 0")
    return {
        "rows": redis_rows(m, a) + mongo_rows(a),
        "measured": asdict(m),
        "assumptions": a.table(),
    }
