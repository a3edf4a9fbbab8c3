"""Helpers of the sharded case studies' tests: the zone an event lands in (as the server orders
shard key values) and a sharded plane whose every node's admin path is one mock server."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bson.max_key import MaxKey
from bson.min_key import MinKey
from mockupdb import MockupDB

from harness.topology.mongo import MongoNode, MongoPlane, ReplSet
from harness.topology.mongo_presplit import ZoneRange
from harness.topology.mongo_spec import MemberSpec
from harness.topology.network import Host
from harness.topology.spec import load_topology
from harness.topology.toxiproxy import ProxyInfo


def _rank(v: Any) -> tuple[int, Any]:
    """A shard key value's place: MinKey, then values, then MaxKey."""
    if isinstance(v, MinKey):
        return (0, 0)
    if isinstance(v, MaxKey):
        return (2, 0)
    return (1, v)


def zone_of(zones: Sequence[ZoneRange], tenant: str, suffix: int = 0) -> str:
    """The zone holding an event of ``tenant`` with ``suffix`` (its time as the lowest value a
    range can start with: every range here starts at MinKey past its first two fields)."""
    point = [_rank(tenant), _rank(suffix)]
    for z in zones:
        lo = [_rank(v) for v in list(z.min.values())[:2]]
        hi = [_rank(v) for v in list(z.max.values())[:2]]
        if lo[: len(point)] <= point[: len(lo)] < hi[: len(point)]:
            return z.zone
    raise AssertionError(f"no zone holds {tenant}/{suffix}")


def mock_node(name: str, server: MockupDB, i: int, kind: str, replset: str | None) -> MongoNode:
    """A node whose admin path is the mock server and whose proxy address is a made-up one."""
    return MongoNode(
        name=name,
        kind=kind,  # type: ignore[arg-type]
        host=Host(name, "127.0.0.1", None),
        port=server.port,
        proxy=ProxyInfo(f"{name}-client", "10.213.9.1", 31000 + i, f"10.213.9.{10 + i}:27017"),
        data_dir=Path("/nonexistent"),
        log=Path("/nonexistent.log"),
        replset=replset,
        member=MemberSpec(name=name, priority=2 if i % 10 == 0 else 1) if replset else None,
    )


def mock_sharded_plane(server: MockupDB) -> MongoPlane:
    """mongo-sharded's plane: config set, shard1 and shard2 of three members, one mongos."""
    spec = load_topology("mongo-sharded").mongo
    assert spec is not None
    cfg = ReplSet("cfg", "configsvr", [mock_node("cfg1", server, 0, "configsvr", "cfg")])
    shards = [
        ReplSet(
            f"shard{s}",
            "shardsvr",
            [mock_node(f"s{s}m{i + 1}", server, 10 * s + i, "shardsvr", f"shard{s}") for i in range(3)],
        )
        for s in (1, 2)
    ]
    return MongoPlane(spec, [cfg, *shards], [mock_node("mongos1", server, 99, "mongos", None)])
