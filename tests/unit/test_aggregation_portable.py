"""The rollups grouped from scanned documents (for a server without the pipelines' accumulators):
the same documents the capstone's pipelines project, worked out by hand here."""

from __future__ import annotations

from datetime import UTC, datetime

from harness.workload.aggregation_portable import daily_docs, hourly_docs

HOUR = datetime(2026, 12, 6, 10, tzinfo=UTC)
DAY = datetime(2026, 12, 6, tzinfo=UTC)
NOW = datetime(2026, 12, 6, 10, 30, tzinfo=UTC)


def ev(
    tenant: str, i: int, kind: str, env: str, user: object = "absent", session: object = "s1"
) -> dict[str, object]:
    actor: dict[str, object] = {"session_id": session}
    if user != "absent":
        actor["user_id"] = user
    return {
        "tenant_id": tenant,
        "event_id": f"e{i}",
        "event_type": kind,
        "context": {"environment": env},
        "actor": actor,
    }


def test_hourly_groups_count_distinct_users_and_sessions_and_sample_three_in_scan_order() -> None:
    events = [
        ev("t1", 1, "click", "prod", "u1", "s1"),
        ev("t1", 2, "click", "prod", "u1", "s2"),
        ev("t1", 3, "click", "prod", "u2", "s2"),
        ev("t1", 4, "click", "prod", None, "s3"),  # a null user is a member of the set
        ev("t1", 5, "click", "prod", "absent", "s3"),  # a missing one is not
        ev("t1", 6, "view", "prod", "u1"),
        ev("t2", 7, "click", "prod", "u9"),
    ]
    docs = hourly_docs(events, HOUR, NOW)
    assert set(docs) == {"t1", "t2"}
    by_type = {d["dimensions"]["event_type"]: d for d in docs["t1"]}
    assert by_type["click"] == {
        "tenant_id": "t1",
        "bucket_time": HOUR,
        "bucket_type": "hourly",
        "dimensions": {"event_type": "click", "environment": "prod"},
        "metrics": {"count": 5, "unique_users": 3, "unique_sessions": 3},
        "event_ids_sample": ["e1", "e2", "e3"],
        "last_updated": NOW,
    }
    assert by_type["view"]["metrics"] == {"count": 1, "unique_users": 1, "unique_sessions": 1}
    assert docs["t2"][0]["event_ids_sample"] == ["e7"]


def test_daily_sums_counts_takes_the_largest_distinct_counts_and_counts_hours() -> None:
    def hour(tenant: str, kind: str, count: object, users: object, sessions: object) -> dict[str, object]:
        return {
            "tenant_id": tenant,
            "dimensions": {"event_type": kind, "environment": "prod"},
            "metrics": {"count": count, "unique_users": users, "unique_sessions": sessions},
        }

    hourly = [hour("t1", "click", 5, 3, 2), hour("t1", "click", 7, 2, 4), hour("t1", "click", "x", None, 1)]
    (doc,) = daily_docs(hourly, DAY, NOW)["t1"]
    # $sum skips a value that is not a number; $max skips a missing one.
    assert doc["metrics"] == {"count": 12, "unique_users": 3, "unique_sessions": 4, "hours": 3}
    assert (doc["bucket_type"], doc["bucket_time"], doc["dimensions"]) == (
        "daily",
        DAY,
        {"event_type": "click", "environment": "prod"},
    )
    assert daily_docs([], DAY, NOW) == {}
