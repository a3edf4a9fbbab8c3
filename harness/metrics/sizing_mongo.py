"""Extrapolation from a MongoDB-plane server's measured per-event figures to the capstone's numbers
(100k events/s, 1B events/day, 90/365-day retention): CPU, shards and nodes, disk (+ indexes,
x 3 members), RAM, write IOPS and network, beside the guide's own estimates (Part XIII
"Capacity Planning: 1 Billion Events/Day", :mod:`harness.metrics.sizing_guide`). Pure: no I/O;
``tests/unit/test_capacity_sizing_mongo.py`` checks it against numbers computed by hand.

The table is titled with the server it was measured on (its own ``buildInfo`` answer): sized from
FerretDB, it is FerretDB's sizing, **not MongoDB's**, and says so in its title and its
assumptions. A figure the server did not give is ``None`` and its row says ``not measured``:
nothing is filled in from the guide. Nothing here claims what needs real MongoDB (WiredTiger
compression, write concerns, replication cost): the x 3 members is a count of copies only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from harness.metrics.sizing import SOURCES as REDIS_SOURCES
from harness.metrics.sizing import assumption_table
from harness.metrics.sizing_guide import GUIDE

GB = 1e9
TB = 1e12


@dataclass(frozen=True)
class MongoMeasured:
    """A MongoDB-plane capacity run's figures (server statistics ÷ events applied)."""

    label: str  # the server as it names itself, e.g. "FerretDB 1.24.2 on SQLite, not MongoDB"
    is_mongodb: bool
    knee_events_s: float  # the server's knee at its CPU cap
    cpu_cap_cores: float
    server_cpu_us_per_event: float  # /proc/<pid>/stat at the knee step
    stored_bytes_per_event: float  # collStats (size + totalIndexSize) / count
    write_bytes_per_event: float | None = None  # /proc/<pid>/io write_bytes at the knee step
    write_syscalls_per_event: float | None = None  # /proc/<pid>/io syscw at the knee step
    net_in_bytes_per_event: float | None = None  # serverStatus network.bytesIn (mongod only)
    net_out_bytes_per_event: float | None = None


@dataclass(frozen=True)
class MongoAssumptions:
    """What the extrapolation takes as given; ``SOURCES`` says where each value comes from."""

    peak_events_s: float = 100_000
    events_per_day: float = 1e9
    retention_days: float = 90
    audit_retention_days: float = 365
    audit_share: float = 0.03
    members: int = 3
    target_utilization: float = 0.5
    node_cores: float = 32
    node_disk_tb: float = 20
    hot_hours: float = 24
    hot_in_ram: float = 0.5

    def table(self) -> list[dict[str, Any]]:
        return assumption_table(self, SOURCES)


SOURCES: dict[str, str] = {
    # the capstone's numbers, stated once for both planes' sizing
    **{
        k: REDIS_SOURCES[k]
        for k in ("peak_events_s", "events_per_day", "retention_days", "audit_retention_days", "audit_share")
    },
    "members": "guide: 3 members per shard (a count of copies: replication's own cost is not measured)",
    "target_utilization": "ours: run each primary at most at half its measured knee (failover, spikes)",
    "node_cores": (
        "guide: 32 CPU per MongoDB node; ours: the server's CPU per event taken to hold on 32 cores as "
        "at its measured cap (scaling across cores is not measured here)"
    ),
    "node_disk_tb": "guide: 20 TB NVMe SSD per MongoDB node",
    "hot_hours": "guide: working set = last 24 hours",
    "hot_in_ram": "guide: target 50% of the working set in RAM",
}


def _row(quantity: str, ours: float | None, unit: str, basis: str) -> dict[str, Any]:
    guide = GUIDE.get(("mongo", quantity))
    return {
        "plane": "mongo",
        "quantity": quantity,
        "ours": ours,
        "unit": unit,
        "guide": None if guide is None else guide[0],
        "guide_note": "" if guide is None else guide[1],
        "basis": basis,
    }


def _times(v: float | None, k: float) -> float | None:
    return None if v is None else v * k


def title(m: MongoMeasured) -> str:
    if m.is_mongodb:
        return f"MongoDB-plane sizing from {m.label}"
    return f"Sizing from {m.label}: what this server would need, not MongoDB sizing"


def mongo_rows(m: MongoMeasured, a: MongoAssumptions) -> list[dict[str, Any]]:
    """The rows (see the module doc); ``ours`` is ``None`` for a figure not measured.

    Long because: one table, a row each with its basis, read best in one place."""
    srv = f"{m.label}: "
    per_core = m.knee_events_s / m.cpu_cap_cores
    cpu_primaries = math.ceil(a.peak_events_s / (per_core * a.node_cores * a.target_utilization))
    b = m.stored_bytes_per_event
    per_day = a.events_per_day * b
    std_days = (1 - a.audit_share) * a.retention_days
    audit_days = a.audit_share * a.audit_retention_days
    one_copy_mix = per_day * (std_days + audit_days)
    disk_shards = math.ceil(one_copy_mix / (a.node_disk_tb * TB))
    shards = max(cpu_primaries, disk_shards)
    iops = _times(m.write_syscalls_per_event, a.peak_events_s)
    net = (
        None
        if m.net_in_bytes_per_event is None or m.net_out_bytes_per_event is None
        else a.peak_events_s * (m.net_in_bytes_per_event * a.members + m.net_out_bytes_per_event) * 8 / 1e9
    )
    not_measured = "not measured: "
    return [
        _row("server CPU", a.peak_events_s * m.server_cpu_us_per_event / 1e6, "cores",
             srv + f"peak x {m.server_cpu_us_per_event:g} us/event (the server process's CPU, "
             "kernel's count; primaries only)"),
        _row("primaries for CPU", cpu_primaries, "nodes",
             f"peak / ({per_core:,.0f} events/s per core at the knee x {a.node_cores:g} cores x "
             f"{a.target_utilization:g} utilisation)"),
        _row("bytes per event", b, "bytes",
             srv + "collStats (size + totalIndexSize) / documents, as the server stores them"),
        _row("storage per day", per_day / TB, "TB", f"{a.events_per_day:,.0f} events/day x {b:,.0f} bytes"),
        _row("disk 90 d, one copy", per_day * a.retention_days / TB, "TB",
             f"every event kept {a.retention_days:g} days, one copy"),
        _row("disk 90 d, 3 members", per_day * a.retention_days * a.members / TB, "TB",
             f"x {a.members} members"),
        _row("disk 365 d, 3 members", per_day * a.audit_retention_days * a.members / TB, "TB",
             f"every event kept {a.audit_retention_days:g} days, x {a.members} members"),
        _row("disk, retention mix, 3 members", one_copy_mix * a.members / TB, "TB",
             f"({std_days:g} standard + {audit_days:g} audit day-equivalents: {1 - a.audit_share:.0%} "
             f"at {a.retention_days:g} d, {a.audit_share:.0%} at {a.audit_retention_days:g} d) "
             f"x {a.members} members"),
        _row("shards", shards, "shards",
             f"max(CPU: {cpu_primaries}, disk: {disk_shards} of {a.node_disk_tb:g} TB for the "
             "retention mix)"),
        _row("nodes", shards * a.members, "nodes", f"{shards} shards x {a.members} members"),
        _row("disk per node", one_copy_mix / shards / TB, "TB",
             "retention mix; each member holds its whole shard"),
        _row("RAM per node", a.events_per_day * a.hot_hours / 24 * b * a.hot_in_ram / shards / GB, "GB",
             f"last {a.hot_hours:g} h x {b:,.0f} bytes x {a.hot_in_ram:g} in RAM, per shard"),
        _row("IOPS", iops, "IOPS",
             srv + f"peak x {m.write_syscalls_per_event:g} write system calls/event "
             "(/proc/<pid>/io syscw, the kernel's count: calls, not device I/Os after the page cache "
             "and block layer)"
             if iops is not None else not_measured + "the kernel gave no /proc/<pid>/io for the server"),
        _row("IOPS per primary", None if iops is None else iops / shards, "IOPS",
             f"IOPS / {shards} shards" if iops is not None else not_measured + "see IOPS"),
        _row("disk writes", _times(m.write_bytes_per_event, a.peak_events_s / 1e6), "MB/s",
             srv + f"peak x {m.write_bytes_per_event:,.0f} bytes written to storage/event (/proc/<pid>/io "
             "write_bytes)" if m.write_bytes_per_event is not None
             else not_measured + "the kernel gave no /proc/<pid>/io for the server"),
        _row("network", net, "Gbit/s",
             srv + f"peak x (bytes in x {a.members} + bytes out) per event (serverStatus network)"
             if net is not None
             else not_measured + "the server does not count its network bytes (its serverStatus has no "
             "network section)"),
    ]  # fmt: skip


def size_mongo(m: MongoMeasured, a: MongoAssumptions | None = None) -> dict[str, Any]:
    """The MongoDB-plane sizing table from ``m``, titled with the server it was measured on."""
    a = a or MongoAssumptions()
    if m.knee_events_s <= 0 or m.cpu_cap_cores <= 0 or m.stored_bytes_per_event <= 0:
        raise ValueError("size_mongo: needs a measured knee (events/s > 0) at a CPU cap > 0 and bytes stored")
    if m.is_mongodb == m.label.endswith("not MongoDB"):
        raise ValueError(f"size_mongo: label {m.label!r} contradicts is_mongodb={m.is_mongodb}")
    server = {
        "name": "server",
        "value": m.label,
        "source": "the server's own buildInfo answer"
        + ("" if m.is_mongodb else ": every row is this server's figure, not MongoDB's"),
    }
    return {
        "title": title(m),
        "label": m.label,
        "is_mongodb": m.is_mongodb,
        "rows": mongo_rows(m, a),
        "measured": asdict(m),
        "assumptions": [server, *a.table()],
    }
