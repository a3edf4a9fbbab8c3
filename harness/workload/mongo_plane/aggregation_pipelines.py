"""The capstone's rollup pipelines and the bucket documents' identity, as the aggregation worker
(:mod:`harness.workload.mongo_plane.aggregation`) sends and records them.

Assumes the capstone's schemas (Part XIII): events carry ``tenant_id``, ``event_time``,
``event_type``, ``context.environment``, ``actor.user_id`` / ``actor.session_id``, ``event_id``;
``event_aggregates`` has a TTL index on ``bucket_time`` (180 days) and the unique index
``{tenant_id, bucket_time, bucket_type, dimensions.event_type}`` (topologies/collections/platform.yaml).

The hourly pipeline is ``aggregateHourlyBucket`` as the capstone writes it. Each result is upserted
(``$set``, ``upsert: true``) with the capstone's filter (``tenant_id``, ``bucket_time``,
``dimensions.event_type``, ``dimensions.environment``) plus ``bucket_type``: the daily bucket of a
day starts at the same instant as that day's first hourly bucket, and without ``bucket_type`` the
hourly upsert would match (and overwrite) the daily document. The daily rollup (not in the
capstone) groups the day's hourly documents: ``metrics.count`` is their sum, exact;
``metrics.unique_users`` / ``unique_sessions`` are the largest hourly value, a lower bound, because
hourly buckets keep distinct counts, not the sets.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

HOUR_MS = 3_600_000
DAY_MS = 86_400_000


def to_dt(ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime (what the pipelines compare ``event_time`` with)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def to_ms(dt: datetime) -> int:
    if dt.tzinfo is None:  # pymongo decodes dates as naive UTC by default
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def hourly_pipeline(tenant: str, bucket_time: datetime, now: datetime) -> list[dict[str, Any]]:
    """``aggregateHourlyBucket``'s pipeline, stage by stage as the capstone writes it."""
    bucket_end = to_dt(to_ms(bucket_time) + HOUR_MS)
    return [
        {"$match": {"tenant_id": tenant, "event_time": {"$gte": bucket_time, "$lt": bucket_end}}},
        {
            "$group": {
                "_id": {
                    "tenant_id": "$tenant_id",
                    "event_type": "$event_type",
                    "environment": "$context.environment",
                },
                "count": {"$sum": 1},
                "unique_users": {"$addToSet": "$actor.user_id"},
                "unique_sessions": {"$addToSet": "$actor.session_id"},
                "sample_events": {"$push": "$event_id"},
            }
        },
        {
            "$project": {
                "_id": 0,
                "tenant_id": "$_id.tenant_id",
                "bucket_time": bucket_time,
                "bucket_type": "hourly",
                "dimensions": {"event_type": "$_id.event_type", "environment": "$_id.environment"},
                "metrics": {
                    "count": "$count",
                    "unique_users": {"$size": "$unique_users"},
                    "unique_sessions": {"$size": "$unique_sessions"},
                },
                "event_ids_sample": {"$slice": ["$sample_events", 3]},
                "last_updated": now,
            }
        },
    ]


def daily_pipeline(tenant: str, day: datetime, now: datetime) -> list[dict[str, Any]]:
    """The day's hourly buckets rolled into one document per dimension pair."""
    day_end = to_dt(to_ms(day) + DAY_MS)
    return [
        {
            "$match": {
                "tenant_id": tenant,
                "bucket_type": "hourly",
                "bucket_time": {"$gte": day, "$lt": day_end},
            }
        },
        {
            "$group": {
                "_id": {
                    "tenant_id": "$tenant_id",
                    "event_type": "$dimensions.event_type",
                    "environment": "$dimensions.environment",
                },
                "count": {"$sum": "$metrics.count"},
                "unique_users": {"$max": "$metrics.unique_users"},
                "unique_sessions": {"$max": "$metrics.unique_sessions"},
                "hours": {"$sum": 1},
            }
        },
        {
            "$project": {
                "_id": 0,
                "tenant_id": "$_id.tenant_id",
                "bucket_time": day,
                "bucket_type": "daily",
                "dimensions": {"event_type": "$_id.event_type", "environment": "$_id.environment"},
                "metrics": {
                    "count": "$count",
                    "unique_users": "$unique_users",
                    "unique_sessions": "$unique_sessions",
                    "hours": "$hours",
                },
                "last_updated": now,
            }
        },
    ]


def upsert_filter(doc: dict[str, Any]) -> dict[str, Any]:
    """The capstone's upsert filter, plus ``bucket_type`` (see the module docstring)."""
    return {
        "tenant_id": doc["tenant_id"],
        "bucket_time": doc["bucket_time"],
        "bucket_type": doc["bucket_type"],
        "dimensions.event_type": doc["dimensions"]["event_type"],
        "dimensions.environment": doc["dimensions"]["environment"],
    }


def bucket_key(tenant: str, bucket_type: str, bucket_ms: int, event_type: Any, environment: Any) -> str:
    return f"event_aggregates/{tenant}/{bucket_type}/{bucket_ms}/{event_type}/{environment}"
