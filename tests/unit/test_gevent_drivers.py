"""redis-py, the harness's SlotRouter and pymongo under gevent's monkey-patching (as Locust runs
them), in a subprocess that patches before importing anything else.

Concurrency is proved by ordering, not timing: N greenlets each block in ``BLPOP`` and the
server must see N blocked clients at once before anything is pushed (one OS thread can only get
there if the sockets yield); MockupDB must receive N ``find`` commands before it answers any.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from mockupdb import MockupDB

N = 20

SCRIPT = textwrap.dedent(
    """
    from gevent import monkey

    monkey.patch_all()

    import json
    import sys
    import time

    import gevent
    import pymongo
    import redis

    from harness.clients.redis_router import SlotRouter

    port, mongo_uri, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    out = {"patched": monkey.is_module_patched("socket") and monkey.is_module_patched("threading")}

    # 1. N greenlets each blocked in BLPOP at the same time, then released by pushes.
    log = []

    def blocker(i):
        log.append(("start", i))
        got = redis.Redis(port=port, socket_timeout=15).blpop(f"gq:{i}", timeout=10)
        log.append(("done", i))
        return None if got is None else got[1].decode()

    admin = redis.Redis(port=port)
    gs = [gevent.spawn(blocker, i) for i in range(n)]
    deadline = time.monotonic() + 10
    blocked = 0
    while blocked < n and time.monotonic() < deadline:  # readiness: the server's own count
        blocked = int(admin.info("clients")["blocked_clients"])
        gevent.sleep(0.01)
    out["blocked_at_once"] = blocked
    for i in reversed(range(n)):
        admin.rpush(f"gq:{i}", f"v{i}")
    gevent.joinall(gs, timeout=20)
    out["blpop"] = [g.value for g in gs]
    out["log_starts_first"] = [e for e, _ in log[:n]] == ["start"] * n

    # 2. A shared pool: per-greenlet keys read back correctly, a shared counter adds up.
    shared = redis.Redis(port=port, max_connections=n)

    def mixed(i):
        bad = 0
        for j in range(50):
            shared.set(f"k:{i}", f"{i}:{j}")
            bad += shared.get(f"k:{i}") != f"{i}:{j}".encode()
            shared.incr("ctr")
            gevent.sleep(0)
        return bad

    gs = [gevent.spawn(mixed, i) for i in range(n)]
    gevent.joinall(gs, timeout=20)
    out["mismatches"] = sum(g.value for g in gs)
    out["ctr"] = int(shared.get("ctr"))

    # 3. The harness's pipelining router, one per greenlet (as each Locust user has its own).
    def routed(i):
        router = SlotRouter([("127.0.0.1", port)], cluster=False, now_ns=time.monotonic_ns)
        try:
            replies = router.execute([("INCR", "router:ctr")] * 10, ["router:ctr"] * 10)
            return [r.outcome.value for r in replies]
        finally:
            router.close()

    gs = [gevent.spawn(routed, i) for i in range(n)]
    gevent.joinall(gs, timeout=20)
    out["router_outcomes"] = sorted({o for g in gs for o in g.value})
    out["router_ctr"] = int(admin.get("router:ctr"))

    # 4. pymongo: n finds in flight at once against the mock server.
    client = pymongo.MongoClient(
        mongo_uri, directConnection=True, maxPoolSize=n, serverSelectionTimeoutMS=10000
    )

    def find(i):
        return client.db.coll.find_one({"i": i})

    gs = [gevent.spawn(find, i) for i in range(n)]
    gevent.joinall(gs, timeout=30)
    out["mongo"] = [None if g.value is None else g.value["i"] for g in gs]
    client.close()
    print(json.dumps(out))
    """
)


def _run(tmp_path: Path, port: int, server: MockupDB) -> tuple[dict[str, Any], str]:
    script = tmp_path / "gevent_clients.py"
    script.write_text(SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(port), server.uri, str(N)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        # The mock server holds every find until all N have arrived: only concurrent greenlets
        # can deliver them (a blocked driver would stop at one, and receives() would time out).
        requests = [server.receives(timeout=20) for _ in range(N)]
        for req in requests:
            assert req.command_name == "find"
            assert req.doc["find"] == "coll" and req.namespace == "db"
            i = req.doc["filter"]["i"]
            req.reply({"cursor": {"id": 0, "ns": "db.coll", "firstBatch": [{"_id": i, "i": i}]}, "ok": 1})
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    return json.loads(stdout.strip().splitlines()[-1]), stderr


@pytest.fixture
def mongo() -> Any:
    hello = {
        "ismaster": True,
        "isWritablePrimary": True,
        "helloOk": True,
        "minWireVersion": 0,
        "maxWireVersion": 21,
    }
    s = MockupDB(auto_ismaster=hello)
    s.autoresponds("hello", **hello)
    s.autoresponds("endSessions")
    s.run()
    yield s
    s.stop()


def test_redis_router_and_pymongo_under_gevent(tmp_path: Path, redis_port: int, mongo: MockupDB) -> None:
    out, stderr = _run(tmp_path, redis_port, mongo)
    assert out["patched"] is True
    assert out["blocked_at_once"] == N  # every greenlet was inside BLPOP at the same moment
    assert out["blpop"] == [f"v{i}" for i in range(N)]
    assert out["log_starts_first"] is True
    assert out["mismatches"] == 0 and out["ctr"] == N * 50
    assert out["router_outcomes"] == ["ok"] and out["router_ctr"] == N * 10
    assert out["mongo"] == list(range(N))
    assert "cannot switch to a different thread" not in stderr
    assert "LoopExit" not in stderr and "Traceback" not in stderr
