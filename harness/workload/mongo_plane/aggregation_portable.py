"""The rollups' documents computed from scanned documents, for a server that refuses the capstone
pipeline's accumulators (FerretDB 1.x: ``$addToSet``, ``$push``, ``$max`` are "not implemented").

:func:`hourly_docs` and :func:`daily_docs` give, per tenant, exactly the documents
:func:`harness.workload.mongo_plane.aggregation_pipelines.hourly_pipeline` and :func:`daily_pipeline`
project: the same groups, counts, distinct users and sessions, the first three event ids in the
order the server returned them, and the same shape, so the upserts and everything downstream are
the same. What differs is where the grouping runs (here, not on the server) and that one scan
serves every tenant of a bucket (a per-tenant query is a whole-collection scan on FerretDB).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: What the worker reads of each event and of each hourly bucket.
EVENT_FIELDS = {
    "_id": 0,
    "tenant_id": 1,
    "event_type": 1,
    "context.environment": 1,
    "actor.user_id": 1,
    "actor.session_id": 1,
    "event_id": 1,
}
HOURLY_FIELDS = {"_id": 0, "tenant_id": 1, "dimensions": 1, "metrics": 1}


def _get(doc: Mapping[str, Any], path: str) -> Any:
    """A dotted path as ``$a.b`` evaluates: None (missing) when any part is absent."""
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _hashable(value: Any) -> Any:
    return repr(value) if isinstance(value, dict | list) else value


@dataclass
class _Hour:
    count: int = 0
    users: set[Any] = field(default_factory=set)
    sessions: set[Any] = field(default_factory=set)
    sample: list[Any] = field(default_factory=list)


def hourly_docs(
    events: Iterable[Mapping[str, Any]], bucket_time: datetime, now: datetime
) -> dict[str, list[dict[str, Any]]]:
    """Per tenant, the hourly bucket documents of ``events`` (all of one hour)."""
    groups: dict[tuple[Any, Any, Any], _Hour] = defaultdict(_Hour)
    for ev in events:
        g = groups[(ev.get("tenant_id"), ev.get("event_type"), _get(ev, "context.environment"))]
        g.count += 1
        # $addToSet of a missing field adds nothing; a null value is a member like any other.
        actor = ev.get("actor")
        if isinstance(actor, Mapping):
            if "user_id" in actor:
                g.users.add(_hashable(actor["user_id"]))
            if "session_id" in actor:
                g.sessions.add(_hashable(actor["session_id"]))
        if len(g.sample) < 3 and "event_id" in ev:
            g.sample.append(ev["event_id"])
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (tenant, event_type, environment), g in groups.items():
        out[tenant].append(
            {
                "tenant_id": tenant,
                "bucket_time": bucket_time,
                "bucket_type": "hourly",
                "dimensions": {"event_type": event_type, "environment": environment},
                "metrics": {
                    "count": g.count,
                    "unique_users": len(g.users),
                    "unique_sessions": len(g.sessions),
                },
                "event_ids_sample": g.sample,
                "last_updated": now,
            }
        )
    return dict(out)


@dataclass
class _Day:
    count: float = 0
    users: Any = None
    sessions: Any = None
    hours: int = 0


def daily_docs(
    hourly: Iterable[Mapping[str, Any]], day: datetime, now: datetime
) -> dict[str, list[dict[str, Any]]]:
    """Per tenant, the daily documents rolled from that day's hourly bucket documents."""
    groups: dict[tuple[Any, Any, Any], _Day] = defaultdict(_Day)
    for h in hourly:
        key = (h.get("tenant_id"), _get(h, "dimensions.event_type"), _get(h, "dimensions.environment"))
        g = groups[key]
        count = _get(h, "metrics.count")
        g.count += count if isinstance(count, int | float) else 0  # $sum skips what is not a number
        g.users = _max(g.users, _get(h, "metrics.unique_users"))
        g.sessions = _max(g.sessions, _get(h, "metrics.unique_sessions"))
        g.hours += 1
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (tenant, event_type, environment), g in groups.items():
        out[tenant].append(
            {
                "tenant_id": tenant,
                "bucket_time": day,
                "bucket_type": "daily",
                "dimensions": {"event_type": event_type, "environment": environment},
                "metrics": {
                    "count": g.count,
                    "unique_users": g.users,
                    "unique_sessions": g.sessions,
                    "hours": g.hours,
                },
                "last_updated": now,
            }
        )
    return dict(out)


def _max(a: Any, b: Any) -> Any:
    """``$max`` over numbers, ignoring missing values (None)."""
    if b is None:
        return a
    if a is None:
        return b
    return max(a, b)
