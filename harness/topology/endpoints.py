"""What ``harness status`` and results.json show of a MongoDB plane: its nodes, addresses, the
server found and what it refused."""

from __future__ import annotations

from typing import Any

from harness.topology.mongo import MongoNode, MongoPlane


def mongo_endpoints(plane: MongoPlane) -> dict[str, Any]:
    """The plane as JSON: replica sets and members, routers, the server and its refusals."""

    def node(n: MongoNode) -> dict[str, Any]:
        m = n.member
        return {
            "name": n.name,
            "kind": n.kind,
            "replset": n.replset,
            "address": n.direct,
            "proxy": n.proxied,
            "netns": n.host.netns,
            "container": getattr(n.host, "container", None) or None,  # docker backend
            "pid": n.process.pid if n.process else None,
            "priority": m.priority if m else None,
            "hidden": m.hidden if m else None,
            "secondary_delay_secs": m.secondary_delay_secs if m else None,
            "arbiter": m.arbiter if m else None,
        }

    features = plane.features
    return {
        "mode": plane.spec.mode,
        "uri": plane.uri(),
        "database": plane.spec.load_collections().database,
        "replsets": [
            {"name": rs.name, "kind": rs.kind, "uri": rs.uri(), "members": [node(n) for n in rs.nodes]}
            for rs in plane.replsets
        ],
        "mongos": [node(n) for n in plane.mongos],
        "standalone": node(plane.standalone) if plane.standalone is not None else None,
        "server": features.to_dict() if features is not None else None,
        "left_out": list(plane.left_out),
        "chunks": plane.chunks,  # per sharded collection and shard, after bring-up
    }
