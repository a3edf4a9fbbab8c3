"""The platform guide's own capacity estimates, for the side-by-side in the sizing table.

From ``shared/seeds/002_*.txt``: "Capacity Planning: 1 Billion Events/Day" (the capstone section)
and "9.1 Capacity Planning" (100M documents/day of 2 KB). Keyed ``(plane, quantity)`` like the
rows of :func:`harness.metrics.sizing.size`; each value in that row's unit, with what the guide
says (and what we derived from it, when the guide gives parts rather than the total).
"""

from __future__ import annotations

GUIDE: dict[tuple[str, str], tuple[float, str]] = {
    ("redis", "masters"): (3, "3 masters + 3 replicas"),
    ("redis", "nodes"): (6, "Redis Cluster: 6 nodes (3M+3R)"),
    ("redis", "dataset"): (6, "data ~6 GB: counters 500 MB, timelines 5 GB, sessions 250 MB, limits 10 MB"),
    ("redis", "RAM"): (24, "overhead 2x = 12 GB, with replica 24 GB (48 GB of capacity: 6 x 8 GB)"),
    ("mongo", "shards"): (4, "4 shards"),
    ("mongo", "nodes"): (12, "4 shards x 3 (plus 3 config servers and 4 routers)"),
    ("mongo", "RAM per node"): (75, "75 GB minimum (128 GB recommended); 9.1 says ~70 GB for 100M docs/day"),
    ("mongo", "disk"): (189, "derived: 15.75 TB per node x 12; the guide states 63 TB of compressed data"),
    ("mongo", "disk per node"): (
        15.75,
        "63 TB / 4 shards = 15.75 TB per node (9.1 divides by 3 again: 5.4 TB)",
    ),
    ("mongo", "IOPS"): (500_000, "peak write IOPS cluster-wide: 100,000 events/s x 5 (indexes)"),
    ("mongo", "network"): (3.2, "derived: 800 Mbps ingest + 2.4 Gbps replication (3 x 100 MB/s)"),
    # Part XIII "Capacity Planning: 1 Billion Events/Day": storage and IOPS, for the rows sized from
    # a measured MongoDB-plane server (harness.metrics.sizing_mongo)
    ("mongo", "bytes per event"): (
        1400,
        "1 KB document + ~400 B of index (5 indexes) = ~1.4 KB, uncompressed",
    ),
    ("mongo", "storage per day"): (1.4, "1B x 1.4 KB = 1.4 TB/day (700 GB/day with snappy ~50%)"),
    ("mongo", "disk 90 d, one copy"): (126, "raw: 1.4 TB x 90 = 126 TB (63 TB compressed)"),
    ("mongo", "disk 90 d, 3 members"): (
        189,
        "derived: 63 TB compressed x 3 members (15.75 TB per node x 12); uncompressed 126 x 3 = 378 TB",
    ),
    ("mongo", "IOPS per primary"): (125_000, "per shard primary: 125,000 IOPS (NVMe, 100,000+ per node)"),
}
