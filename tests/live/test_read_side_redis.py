"""The Redis-backed read paths against a real ``redis-server`` (MongoDB side against mockupdb):
the write-through read-your-writes mode and the database-backed session fallback of case study 5,
including a real restart of a Redis server without persistence.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from mockupdb import MockupDB, go

from harness.checkers.read_your_writes import check_read_your_writes
from harness.checkers.sessions import check_sessions
from harness.clock import RunClock
from harness.doctor import find_binary
from harness.history.loader import load_history, stream_ops
from harness.history.recorder import HistoryRecorder
from harness.topology.redis import no_retry
from harness.workload.platform.ryw import ProfileStore, cache_key
from harness.workload.platform.session_fallback import FallbackSessionStore, session_key
from tests.mockrs import body, cursor, mock_replset, receive

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(find_binary("redis-server") is None, reason="needs redis-server (run 'make setup')"),
]


class RedisServer:
    """One redis-server without persistence on a unix socket in ``dir``; restartable."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.sock = str(directory / "redis.sock")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = find_binary("redis-server")
        assert binary is not None
        self.proc = subprocess.Popen(
            [str(binary), "--port", "0", "--unixsocket", self.sock, "--save", "", "--appendonly", "no"],
            cwd=self.dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        probe = redis.Redis(unix_socket_path=self.sock, socket_timeout=1)
        deadline = time.monotonic() + 10
        while True:  # readiness: the server answers PING
            try:
                if probe.ping():
                    break
            except redis.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not come up") from None
                time.sleep(0.02)
        probe.close()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def client(self) -> redis.Redis:
        # No retries: an error must reach the store (and its history) as it happened.
        return redis.Redis(unix_socket_path=self.sock, socket_timeout=2, retry=no_retry())


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def rs() -> Iterator[tuple[MockupDB, MockupDB, Any]]:
    # A socket timeout, so a read that wrongly went to the mock (never answered) fails, not hangs.
    with mock_replset(25, socketTimeoutMS=3000) as servers:
        yield servers


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[HistoryRecorder]:
    with HistoryRecorder(tmp_path / "history.jsonl", RunClock()) as rec:
        yield rec


def profile(version: int) -> dict[str, Any]:
    return {"_id": "profile:t1:u1", "tenant_id": "t1", "version": version}


def fam_reply(version: int) -> dict[str, Any]:
    return {"value": profile(version), "lastErrorObject": {"n": 1, "updatedExisting": version > 1}}


# -- write-through read-your-writes --------------------------------------------------------------


def test_write_through_serves_reads_from_the_cache_it_updates(
    redis_server: RedisServer, rs: tuple[MockupDB, MockupDB, Any], recorder: HistoryRecorder
) -> None:
    primary, _secondary, client = rs
    cache = redis_server.client()
    store = ProfileStore(
        client, recorder, recorder.clock, "after", "write_through", cache=cache, cache_ttl_s=60
    )
    user = store.session("s1")
    future = go(user.write, "t1", "profile:t1:u1")
    req = receive(primary, "findAndModify")
    assert body(req)["writeConcern"] == {"w": "majority"}
    req.ok(**fam_reply(1))
    assert future() == 1
    assert 0 < cache.ttl(cache_key("profile:t1:u1")) <= 60

    assert user.read("t1", "profile:t1:u1") == 1  # from the cache: no MongoDB command answered

    cache.delete(cache_key("profile:t1:u1"))  # evicted: the read falls back to the primary
    future = go(user.read, "t1", "profile:t1:u1")
    req = receive(primary, "find")
    assert "$readPreference" not in req.doc and body(req)["readConcern"] == {"level": "local"}
    req.ok(**cursor("eventlog.profiles", [profile(1)]))
    assert future() == 1
    assert cache.get(cache_key("profile:t1:u1")) is not None  # re-cached

    path = recorder.path
    recorder.flush()
    reads = [o for o in load_history(path) if o.f == "read"]
    assert [(o.get("read_pref"), (o.completion or {}).get("source")) for o in reads] == [
        ("cache", "cache"),
        ("cache", "db"),
    ]
    assert check_read_your_writes(stream_ops(path)).status == "valid"


def test_a_failed_cache_update_leaves_a_stale_entry_the_checker_finds(
    redis_server: RedisServer, rs: tuple[MockupDB, MockupDB, Any], recorder: HistoryRecorder
) -> None:
    primary, _secondary, client = rs
    cache = redis_server.client()
    store = ProfileStore(client, recorder, recorder.clock, "after", "write_through", cache=cache)
    user = store.session("s1")
    future = go(user.write, "t1", "profile:t1:u1")
    receive(primary, "findAndModify").ok(**fam_reply(1))
    assert future() == 1
    # Redis refuses writes (out of memory under noeviction); the database write still succeeds.
    cache.config_set("maxmemory-policy", "noeviction")
    cache.config_set("maxmemory", "1")
    future = go(user.write, "t1", "profile:t1:u1")
    receive(primary, "findAndModify").ok(**fam_reply(2))
    assert future() == 2
    cache.config_set("maxmemory", "0")
    assert user.read("t1", "profile:t1:u1") == 1  # the cache still holds version 1
    recorder.flush()
    writes = [o for o in load_history(recorder.path) if o.f == "write"]
    assert "OutOfMemoryError" in (writes[1].completion or {})["cache_error"]
    verdict = check_read_your_writes(stream_ops(recorder.path))
    assert verdict.status == "invalid" and verdict.violations == 1
    assert verdict.examples[0]["read_pref"] == "cache"


# -- database-backed session fallback (case study 5) ---------------------------------------------


def test_sessions_survive_a_redis_restart_through_the_database_copy(
    redis_server: RedisServer, rs: tuple[MockupDB, MockupDB, Any], recorder: HistoryRecorder
) -> None:
    primary, _secondary, client = rs
    cache = redis_server.client()
    store = FallbackSessionStore(cache, client["eventlog"], recorder, recorder.clock, "after", ttl_s=600)
    kept, gone = session_key("t1", "s1"), session_key("t1", "s2")

    future = go(store.create, "t1", "s1", {"user": "u1"})
    req = receive(primary, "update")
    [update] = body(req)["updates"]
    assert body(req)["update"] == "sessions" and body(req)["writeConcern"] == {"w": "majority"}
    assert update["q"] == {"_id": kept} and update["upsert"] is True
    assert update["u"]["$set"]["tenant_id"] == "t1" and update["u"]["$set"]["data"] == {"user": "u1"}
    expires = update["u"]["$set"]["expires_at"]
    req.ok(n=1, nModified=0, upserted=[{"index": 0, "_id": kept}])
    assert future() == "ok"
    assert cache.hgetall(kept) == {b"user": b"u1"} and 0 < cache.ttl(kept) <= 600

    future = go(store.create, "t1", "s2", {"user": "u2"})
    receive(primary, "update").ok(n=1, nModified=0, upserted=[{"index": 0, "_id": gone}])
    future()

    future = go(store.touch, "t1", "s1")  # found in Redis: the database copy slides too
    req = receive(primary, "update")
    [update] = body(req)["updates"]
    assert update["q"] == {"_id": kept} and update["u"]["$set"]["expires_at"] >= expires
    req.ok(n=1, nModified=1)
    assert future().source == "redis"

    # Redis restarts without persistence (the case study's incident): both sessions are gone.
    redis_server.stop()
    redis_server.start()
    assert cache.exists(kept, gone) == 0

    future = go(store.touch, "t1", "s1")  # a miss: reloaded from the database copy
    req = receive(primary, "find")
    flt = body(req)["filter"]
    assert body(req)["find"] == "sessions" and "$readPreference" not in req.doc
    assert (flt["_id"], flt["tenant_id"], list(flt["expires_at"])) == (kept, "t1", ["$gt"])
    req.ok(
        **cursor(
            "eventlog.sessions",
            [{"_id": kept, "tenant_id": "t1", "data": {"user": "u1"}, "expires_at": expires}],
        )
    )
    receive(primary, "update").ok(n=1, nModified=1)  # the copy slides
    result = future()
    assert (result.outcome, result.source, result.value) == ("ok", "db", {"user": "u1"})
    assert cache.hgetall(kept) == {b"user": b"u1"} and 0 < cache.ttl(kept) <= 600  # re-cached

    future = go(store.touch, "t1", "s2")  # this one's database copy is gone too: a lost session
    receive(primary, "find").ok(**cursor("eventlog.sessions", []))
    assert future().value is None

    future = go(store.final_sessions, [kept, gone])
    req = receive(primary, "find")
    assert body(req)["filter"]["_id"] == {"$in": [kept, gone]}
    req.ok(**cursor("eventlog.sessions", [{"_id": kept}]))
    assert future() == 0

    recorder.flush()
    verdict = check_sessions(stream_ops(recorder.path), ttl_ms=600_000)
    assert verdict.status == "invalid", verdict.summary
    assert {(e["kind"], e["key"]) for e in verdict.examples} == {("session-lost", gone)}
    [final] = [o for o in load_history(recorder.path) if o.f == "final_sessions"]
    assert (final.completion or {})["value"] == [kept]


def test_touch_while_redis_is_down_is_served_by_the_database(
    redis_server: RedisServer, rs: tuple[MockupDB, MockupDB, Any], recorder: HistoryRecorder
) -> None:
    primary, _secondary, client = rs
    cache = redis_server.client()
    store = FallbackSessionStore(cache, client["eventlog"], recorder, recorder.clock, "v", ttl_s=600)
    key = session_key("t1", "s1")
    future = go(store.create, "t1", "s1", {"user": "u1"})
    receive(primary, "update").ok(n=1, nModified=0, upserted=[{"index": 0, "_id": key}])
    future()
    redis_server.stop()
    expires = datetime.fromtimestamp(time.time() + 600, tz=UTC)
    future = go(store.touch, "t1", "s1")
    receive(primary, "find").ok(
        **cursor(
            "eventlog.sessions",
            [{"_id": key, "tenant_id": "t1", "data": {"user": "u1"}, "expires_at": expires}],
        )
    )
    receive(primary, "update").ok(n=1, nModified=1)
    result = future()
    assert (result.outcome, result.source) == ("ok", "db")
    recorder.flush()
    [touch] = [o for o in load_history(recorder.path) if o.f == "session_touch"]
    assert "ConnectionError" in (touch.completion or {})["redis_error"]
    assert "recache_error" in (touch.completion or {})

    # Redis down and the database copy not found: Redis may still hold it, so this is no
    # observation of absence (the Redis error's outcome), never "not found".
    future = go(store.touch, "t1", "s1")
    receive(primary, "find").ok(**cursor("eventlog.sessions", []))
    assert future().outcome != "ok"
    redis_server.start()
