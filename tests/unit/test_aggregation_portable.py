"""The rollups grouped from scanned documents (for a server without the pipelines' accumulators):
the same documents the capstone's pipelines project, worked out by hand here."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from harness.clock import RunClock
from harness.history.recorder import HistoryRecorder
from harness.workload.mongo_plane.aggregation import AggregationWorker
from harness.workload.mongo_plane.aggregation_portable import daily_docs, hourly_docs

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


def test_a_portable_pass_stops_at_the_next_step_once_told(tmp_path: Path) -> None:
    """A pass over many tenants must not outlive its workload: once stop is set it upserts no
    further tenant's groups and runs no further scan."""
    stop = threading.Event()
    scans: list[dict[str, Any]] = []
    upserts: list[dict[str, Any]] = []
    now_ms = int(NOW.timestamp() * 1000)

    class Events:
        def find(self, flt: dict[str, Any], projection: dict[str, Any]) -> list[dict[str, Any]]:
            scans.append(flt)
            return [ev(f"t{i}", i, "click", "prod", "u1") for i in range(5)]

    class Aggregates:
        def find(self, flt: dict[str, Any], projection: dict[str, Any]) -> list[dict[str, Any]]:
            scans.append(flt)
            return []

        def update_one(self, flt: dict[str, Any], update: dict[str, Any], upsert: bool) -> Any:
            upserts.append(flt)
            if len(upserts) == 2:
                stop.set()  # the workload ends while the pass is writing
            return SimpleNamespace(acknowledged=True, upserted_id=1)

    colls = {"events": Events(), "event_aggregates": Aggregates()}
    db: Any = SimpleNamespace(get_collection=lambda name, **_: colls[name])
    with HistoryRecorder(tmp_path / "h.jsonl", RunClock()) as rec:
        worker = AggregationWorker(db, rec, rec.clock, "v", now_ms=lambda: now_ms, portable=True)
        runs = worker.run_once([f"t{i}" for i in range(5)], stop=stop)
    assert len(scans) == 1 and len(upserts) == 2  # the first bucket's first two tenants, then stop
    assert [r.tenant for r in runs] == ["t0", "t1"]
    assert scans[0]["tenant_id"] == {"$in": [f"t{i}" for i in range(5)]}
