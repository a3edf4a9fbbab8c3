"""The platform's MongoDB data paths a variant selects: read-your-writes steps in a MongoDB mode
(:class:`MongoProfiles` over :class:`ProfileStore`) and the session fallback's open-loop driver
(:class:`FallbackSessionDriver`), against a mocked two-member replica set (tests/mockrs.py) and, for
the fallback's Redis side, a real redis-server. Every wire command is received and asserted field by
field; the histories are judged by the real checkers."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from bson import Timestamp
from mockupdb import MockupDB, go
from pymongo import MongoClient

from harness.checkers.monotonic_reads import check_monotonic_reads
from harness.checkers.read_your_writes import check_read_your_writes
from harness.checkers.sessions import check_sessions
from harness.history.loader import load_history, stream_ops
from harness.history.recorder import HistoryRecorder
from harness.workload.platform.mongo_side import MongoProfiles
from harness.workload.platform.ryw import ProfileStore
from harness.workload.platform.session_fallback import (
    FallbackSessionDriver,
    FallbackSessionStore,
    session_key,
)
from harness.workload.redis_plane.sessions import SessionConfig
from tests.mockrs import body, cursor, history, receive

Replset = tuple[MockupDB, MockupDB, MongoClient[dict[str, Any]]]
KEY = "profile:t1:user_3"


def fam_reply(version: int, key: str = KEY, **extra: Any) -> dict[str, Any]:
    """findAndModify's reply as the server shapes it (``new: true``)."""
    doc = {"_id": key, "tenant_id": key.split(":")[1], "version": version}
    return {"value": doc, "lastErrorObject": {"n": 1, "updatedExisting": version > 1}, **extra}


def found(version: int, key: str = KEY) -> dict[str, Any]:
    return cursor("eventlog.profiles", [{"_id": key, "tenant_id": key.split(":")[1], "version": version}])


# -- read-your-writes steps in a MongoDB mode -------------------------------------------------------


def test_causal_steps_share_one_session_and_read_after_their_write(
    rs: Replset, recorder: HistoryRecorder
) -> None:
    primary, secondary, client = rs
    profiles = MongoProfiles(ProfileStore(client, recorder, recorder.clock, "after", "causal"))
    lsid = None
    for step, (version, sched) in enumerate([(1, 111), (2, 222)]):
        op_time = Timestamp(1_705_314_645, 10 + step)
        cluster_time: dict[str, Any] = {"clusterTime": op_time, "signature": {"hash": b"\0" * 20, "keyId": 0}}
        future = go(profiles.step, "t1", "user_3", sched)
        req = receive(primary, "findAndModify")
        assert body(req)["findAndModify"] == "profiles"
        assert body(req)["query"] == {"_id": KEY, "tenant_id": "t1"}
        assert (body(req)["new"], body(req)["upsert"], body(req)["writeConcern"]) == (
            True,
            True,
            {"w": "majority"},
        )
        lsid = lsid or req.doc["lsid"]
        assert req.doc["lsid"] == lsid  # the user's second step is in the same causal session
        req.ok(**fam_reply(version, KEY, operationTime=op_time, **{"$clusterTime": cluster_time}))
        req = receive(secondary, "find")
        assert req.doc["lsid"] == lsid
        assert req.doc["$readPreference"] == {"mode": "secondaryPreferred"}
        # The read waits on the secondary for the session's own write.
        assert body(req)["readConcern"] == {"level": "majority", "afterClusterTime": op_time}
        assert body(req)["filter"] == {"_id": KEY, "tenant_id": "t1"}
        req.ok(**found(version))
        assert future() is True
    profiles.close()
    path = history(recorder)
    ops = load_history(path)
    assert [(o.f, o.get("session"), o.get("sched_ns")) for o in ops] == [
        ("write", "t1/user_3", 111),
        ("read", "t1/user_3", 111),
        ("write", "t1/user_3", 222),
        ("read", "t1/user_3", 222),
    ]
    assert check_read_your_writes(stream_ops(path)).status == "valid"
    assert check_monotonic_reads(stream_ops(path)).status == "valid"


def test_secondary_mode_step_is_w1_and_secondary_preferred_and_its_stale_read_is_caught(
    rs: Replset, recorder: HistoryRecorder
) -> None:
    primary, secondary, client = rs
    profiles = MongoProfiles(ProfileStore(client, recorder, recorder.clock, "before", "secondary"))
    future = go(profiles.step, "t1", "user_3", 5)
    req = receive(primary, "findAndModify")
    assert body(req)["writeConcern"] == {"w": 1}
    req.ok(**fam_reply(4))
    req = receive(secondary, "find")
    assert req.doc["$readPreference"] == {"mode": "secondaryPreferred"}
    assert body(req)["readConcern"] == {"level": "local"}  # no afterClusterTime: not causal
    req.ok(**found(3))  # a lagging secondary: the version before the user's own write
    assert future() is True
    profiles.close()
    verdict = check_read_your_writes(stream_ops(history(recorder)))
    assert verdict.status == "invalid" and verdict.violations == 1


def test_a_step_whose_write_fails_reads_nothing_and_reports_it(
    rs: Replset, recorder: HistoryRecorder
) -> None:
    primary, _secondary, client = rs
    profiles = MongoProfiles(ProfileStore(client, recorder, recorder.clock, "v", "primary"))
    future = go(profiles.step, "t1", "user_3", 5)
    receive(primary, "findAndModify").command_err(  # a real server's reply to an unauthorized write
        code=13, errmsg="not authorized on eventlog to execute command", codeName="Unauthorized"
    )
    assert future() is False
    profiles.close()
    [op] = load_history(history(recorder))
    assert (op.f, op.outcome) == ("write", "fail")


def test_open_sessions_are_bounded_and_a_reopened_user_gets_a_new_session_name(
    rs: Replset, recorder: HistoryRecorder
) -> None:
    primary, _secondary, client = rs
    profiles = MongoProfiles(ProfileStore(client, recorder, recorder.clock, "v", "primary"), max_sessions=1)
    for version, user in enumerate(("user_3", "user_4", "user_3"), start=1):
        key = f"profile:t1:{user}"
        future = go(profiles.step, "t1", user, 0)
        receive(primary, "findAndModify").ok(**fam_reply(version, key))
        receive(primary, "find").ok(**found(version, key))
        assert future() is True
    assert len(profiles._open) == 1 and profiles.sessions_opened == 3
    profiles.close()
    assert not profiles._open
    sessions = [o.get("session") for o in load_history(history(recorder)) if o.f == "write"]
    assert sessions == ["t1/user_3", "t1/user_4", "t1/user_3#2"]
    with pytest.raises(ValueError, match="max_sessions"):
        MongoProfiles(profiles.store, max_sessions=0)


# -- the session fallback's driver ----------------------------------------------------------------


def upserted(key: str) -> dict[str, Any]:
    return {"n": 1, "nModified": 0, "upserted": [{"index": 0, "_id": key}]}


def assert_update(req: Any, key: str, tenant: str) -> None:
    [update] = body(req)["updates"]
    assert body(req)["update"] == "sessions" and body(req)["writeConcern"] == {"w": "majority"}
    assert update["q"] == {"_id": key} and update["upsert"] is True
    assert update["u"]["$set"]["tenant_id"] == tenant
    assert update["u"]["$set"]["data"] == {"user": "u0", "tenant": tenant}


def test_fallback_driver_creates_touches_reloads_from_mongodb_and_forgets_what_is_gone(
    rs: Replset, recorder: HistoryRecorder, redis_port: int
) -> None:
    primary, _secondary, client = rs
    cache = redis.Redis(port=redis_port, socket_timeout=2)
    store = FallbackSessionStore(cache, client["eventlog"], recorder, recorder.clock, "v", ttl_s=600)
    cfg = SessionConfig(rate=10, duration_s=1, sessions=1, tenants=50, ttl_s=600)
    driver = FallbackSessionDriver(store, cfg, random.Random(7))
    key = session_key("t0", "s0")  # the only session: every pick is session 0

    future = go(driver._batch, [100, 101])  # picked twice in one batch: one op
    req = receive(primary, "update")
    assert_update(req, key, "t0")
    req.ok(**upserted(key))
    future()
    assert cache.hgetall(key) == {b"user": b"u0", b"tenant": b"t0"} and driver.created == {0}

    cache.flushall()  # Redis lost it (a restart without persistence)
    future = go(driver._batch, [200])
    req = receive(primary, "find")  # the miss goes to the MongoDB copy, on the primary
    flt = body(req)["filter"]
    assert body(req)["find"] == "sessions" and "$readPreference" not in req.doc
    assert (flt["_id"], flt["tenant_id"], list(flt["expires_at"])) == (key, "t0", ["$gt"])
    copy = {
        "_id": key,
        "tenant_id": "t0",
        "data": {"user": "u0", "tenant": "t0"},
        "expires_at": datetime.now(UTC) + timedelta(minutes=10),
    }
    req.ok(**cursor("eventlog.sessions", [copy]))
    req = receive(primary, "update")  # re-cached, and the copy's expiry slides
    assert_update(req, key, "t0")
    req.ok(n=1, nModified=1)
    future()
    assert cache.hgetall(key) == {b"user": b"u0", b"tenant": b"t0"} and driver.created == {0}

    cache.flushall()
    future = go(driver._batch, [300])
    receive(primary, "find").ok(**cursor("eventlog.sessions", []))  # gone from both stores
    future()
    assert driver.created == set()  # the next use logs in again

    future = go(driver._batch, [400])
    receive(primary, "update").ok(**upserted(key))
    future()

    future = go(store.final_sessions, sorted(driver.counter_keys))
    req = receive(primary, "find")
    assert body(req)["filter"]["_id"] == {"$in": [key]}
    req.ok(**cursor("eventlog.sessions", [{"_id": key}]))
    assert future() == 0
    cache.close()

    ops = load_history(history(recorder))
    assert [(o.f, o.outcome, o.get("sched_ns")) for o in ops] == [
        ("session_create", "ok", 100),
        ("session_touch", "ok", 200),
        ("session_touch", "ok", 300),
        ("session_create", "ok", 400),
        ("final_sessions", "ok", None),
    ]
    assert [(o.completion or {}).get("source") for o in ops[1:3]] == ["db", None]
    assert driver.stats.outcomes == {"ok": 4, "fail": 0, "info": 0} and driver.stats.admitted == 4
    # The session lost at 300 is a true loss the checker must see; the rest is consistent.
    verdict = check_sessions(stream_ops(recorder.path), ttl_ms=600_000)
    assert verdict.status == "invalid" and verdict.violations == 1


def test_fallback_driver_refuses_a_store_with_another_ttl(rs: Replset, recorder: HistoryRecorder) -> None:
    _primary, _secondary, client = rs
    store = FallbackSessionStore(
        redis.Redis(port=1), client["eventlog"], recorder, recorder.clock, "v", ttl_s=60
    )
    with pytest.raises(ValueError, match="TTL"):
        FallbackSessionDriver(store, SessionConfig(rate=1, duration_s=1, ttl_s=30), random.Random(1))
