"""The query service's Redis reads and the read-your-writes path against a real primary + replica.

The replica is made to lag without timing: ``CLIENT PAUSE WRITE`` on the replica stops it applying
the replication stream while it still answers reads, and a SIGSTOP freezes it outright."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from harness.checkers.read_your_writes import check_read_your_writes
from harness.checkers.tenant_isolation import check_tenant_isolation
from harness.checkers.unique_users import check_unique_users
from harness.clients.redis_router import SlotRouter
from harness.clock import RunClock, seeded_random
from harness.history.loader import load_history, stream_ops
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.topology.deployment import Deployment
from harness.topology.local import run_id_now
from harness.topology.spec import load_topology
from harness.workload.model.generator import EventGenerator
from harness.workload.model.keys import KeyScheme
from harness.workload.model.tenants import TenantMix, TenantPicker
from harness.workload.redis_plane.reads import RedisQueries, ReplicaRouter
from tests.conftest import needs_servers
from tests.live.backend import deploy

pytestmark = [pytest.mark.live, needs_servers]

# 2024-01-15 10:07:30 UTC
T = 1_705_313_250_000
KEYS = KeyScheme({"whale": 3})


@pytest.fixture(scope="module")
def dep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    run_id = run_id_now("test-")
    with deploy(load_topology("redis-replicated"), tmp_path_factory.mktemp("run") / run_id, run_id) as d:
        yield d


@dataclass
class Env:
    q: RedisQueries
    rec: HistoryRecorder
    path: Path
    dep: Deployment

    def sync_replica(self) -> None:
        """Readiness: the replica has everything written so far (WAIT on the writers' connection)."""
        assert self.q.master.execute([("WAIT", 1, 5000)], ["x"])[0].value == 1


@pytest.fixture
def env(dep: Deployment, tmp_path: Path) -> Iterator[Env]:
    dep.node("r1").admin().flushall()
    clock = RunClock()
    path = tmp_path / "history.jsonl"

    def router(name: str) -> SlotRouter:
        p = dep.node(name).client_proxy
        return SlotRouter([(p.listen_host, p.listen_port)], cluster=False, now_ns=clock.now_ns)

    master, replica = router("r1"), router("r2")
    with HistoryRecorder(path, clock) as rec:
        yield Env(RedisQueries(master, rec, KEYS, replica=replica, variant="v"), rec, path, dep)
    master.close()
    replica.close()


def write(env: Env, *commands: tuple[object, ...]) -> None:
    replies = env.q.master.execute(list(commands), [str(c[1]) for c in commands])
    assert all(r.outcome == OpType.OK for r in replies), replies


def test_last5_counters_sum_minutes_and_write_shards(env: Env) -> None:
    minute = 60_000
    for shard in range(3):  # the whale writes to three shards; the reader gathers them
        for back in range(6):  # six minutes written, the oldest is outside the window
            write(
                env, ("INCRBY", KEYS.counter_key("whale", shard, T - back * minute), 10 * (back + 1) + shard)
            )
    write(env, ("INCRBY", KEYS.counter_key("acme", 0, T), 7))
    assert env.q.counters_last5("whale", T) == sum(3 * 10 * (b + 1) + 3 for b in range(5))
    assert env.q.counters_last5("acme", T) == 7
    assert env.q.counters_last5("nobody", T) == 0
    env.sync_replica()
    assert env.q.counters_last5("whale", T, read_pref="replica") == 465
    env.rec.flush()
    reads = [o for o in load_history(env.path) if o.f == "counters_read"]
    assert [o.get("read_pref") for o in reads] == ["master"] * 3 + ["replica"]
    assert reads[0].completion and reads[0].completion["per_minute"] == [33, 63, 93, 123, 153]
    assert len(reads[0].get("keys")) == 15


def test_timeline_returns_newest_twenty_with_their_tenants(env: Env) -> None:
    gen = EventGenerator(
        TenantPicker(TenantMix(1, 1.0, None, 0.0), seeded_random(4, "t")), seeded_random(4, "g")
    )
    events = gen.batch(0, [T + i for i in range(30)])
    key = KEYS.user_timeline_key("t00001", "user_1")
    for e in events:
        write(env, ("ZADD", key, e.time_ms, e.timeline_entry()))
    entries = env.q.timeline("t00001", "user_1")
    assert entries is not None
    assert [e.event_id for e in entries] == [e.event_id for e in reversed(events)][:20]
    assert {e.tenant for e in entries} == {"t00001"}
    # Someone wrote another tenant's event into this user's timeline: the read shows it.
    write(env, ("ZADD", key, T + 100, events[0].timeline_entry().replace('"t00001"', '"t00002"')))
    env.q.timeline("t00001", "user_1")
    env.rec.flush()
    reads = [o for o in load_history(env.path) if o.f == "timeline_read"]
    assert reads[0].completion and reads[0].completion["ids"] == [e.event_id for e in entries]
    verdict = check_tenant_isolation(stream_ops(env.path))
    assert verdict.status == "invalid" and verdict.violations == 1
    (ex,) = verdict.examples
    assert ex["foreign_tenants"] == ["t00002"] and ex["foreign_ids"] == [events[0].event_id]
    assert ex["key"] == key


def test_clean_timeline_is_valid_for_tenant_isolation(env: Env) -> None:
    key = KEYS.user_timeline_key("acme", "u")
    write(env, ("ZADD", key, 1, '{"event_id":"evt_a","event_type":"page.view","tenant":"acme"}'))
    assert env.q.timeline("acme", "u") is not None
    assert env.q.timeline("acme", "nobody") == []
    env.rec.flush()
    verdict = check_tenant_isolation(stream_ops(env.path))
    assert verdict.status == "valid" and verdict.details["items"] == 1


def test_unique_users_pfcount_judged_by_the_checker(env: Env) -> None:
    key = KEYS.hll_key("acme", 0, T)
    users = [f"user_{i}" for i in range(500)]
    op = env.rec.invoke("writer", "pfadd", key=key, tenant="acme", value=users)
    write(env, ("PFADD", key, *users))
    env.rec.complete(op, OpType.OK, "writer", "pfadd", value=1)
    estimate = env.q.unique_users("acme", T)
    assert estimate is not None and abs(estimate - 500) <= 13  # 3 standard errors of 0.81%
    env.sync_replica()
    assert env.q.unique_users("acme", T, read_pref="replica") == estimate
    env.rec.flush()
    verdict = check_unique_users(stream_ops(env.path))
    assert verdict.status == "valid"
    counts = [o for o in load_history(env.path) if o.f == "pfcount"]
    assert [(o.get("key"), o.get("read_pref")) for o in counts] == [(key, "master"), (key, "replica")]


def in_sync_replica_read(env: Env, session: str) -> tuple[int | None, int | None]:
    """A read-your-write step through the replica once it has the write: the same write and read
    ops as ``read_your_write(..., "replica")``, without racing replication."""
    written, _ = env.q.profile_write("acme", "u1", session)
    env.sync_replica()
    return written, env.q.profile_read("acme", "u1", session, "replica")


def test_replica_read_misses_own_write_while_the_replica_lags(env: Env) -> None:
    replica = env.dep.node("r2").admin()
    assert in_sync_replica_read(env, "s1") == (1, 1)
    replica.execute_command("CLIENT", "PAUSE", 10_000, "WRITE")  # stops applying the stream
    try:
        stale = env.q.read_your_write("acme", "u1", "s1", "replica")
        fresh = env.q.read_your_write("acme", "u1", "s2", "master")
        # The paused replica acknowledges nothing, so the WAIT path reads the master instead.
        waited = env.q.read_your_write("acme", "u1", "s3", "replica_after_wait", wait_ms=50)
    finally:
        replica.execute_command("CLIENT", "UNPAUSE")
    assert stale == (2, 1) and fresh == (3, 3) and waited == (4, 4)
    env.rec.flush()
    verdict = check_read_your_writes(stream_ops(env.path))
    assert verdict.status == "invalid" and verdict.violations == 1
    (ex,) = verdict.examples
    assert (ex["read_pref"], ex["observed_version"], ex["expected_min_version"]) == ("replica", 1, 2)
    assert verdict.details["by_read_pref"] == {
        "replica": {"reads": 2, "stale": 1},
        "master": {"reads": 2, "stale": 0},
    }
    waited_write = [o for o in load_history(env.path) if o.f == "write"][-1].completion
    assert waited_write is not None and waited_write["wait_acked"] == 0


def test_wait_then_replica_falls_back_to_master_when_the_replica_is_frozen(env: Env) -> None:
    node = env.dep.node("r2")
    assert node.process is not None
    # WAIT returns when the replica acknowledges: a long timeout costs nothing, a short one fails on a
    # slow machine (stays under the router's 2 s socket timeout)
    assert env.q.read_your_write("acme", "u1", "s1", "replica_after_wait", wait_ms=1500) == (1, 1)
    os.kill(node.process.pid, signal.SIGSTOP)
    try:
        frozen = env.q.read_your_write("acme", "u1", "s1", "replica_after_wait", wait_ms=50)
    finally:
        os.kill(node.process.pid, signal.SIGCONT)
    assert frozen == (2, 2)
    env.rec.flush()
    ops = load_history(env.path)
    writes = [o.completion for o in ops if o.f == "write"]
    assert [w and w["wait_acked"] for w in writes] == [1, 0]
    reads = [o for o in ops if o.f == "read"]
    assert [(o.get("read_pref"), o.get("fallback")) for o in reads] == [("replica", False), ("master", True)]
    verdict = check_read_your_writes(stream_ops(env.path))
    assert verdict.status == "valid" and verdict.details["reads_after_own_write"] == 2


def test_replica_read_of_a_frozen_replica_is_unknown_not_stale(env: Env) -> None:
    node = env.dep.node("r2")
    assert node.process is not None
    replica = env.q.replica
    assert replica is not None
    replica.socket_timeout = 0.2  # applies to connections opened from now on
    assert in_sync_replica_read(env, "s1") == (1, 1)  # connected
    os.kill(node.process.pid, signal.SIGSTOP)
    try:
        written, read = env.q.read_your_write("acme", "u1", "s1", "replica")
    finally:
        os.kill(node.process.pid, signal.SIGCONT)
    assert (written, read) == (2, None)
    env.rec.flush()
    read_op = [o for o in load_history(env.path) if o.f == "read"][-1]
    # The read was sent and no answer came: unknown, never a stale (or fresh) observation.
    assert read_op.outcome == "info" and read_op.completion is not None
    assert "Timeout" in read_op.completion["error"]
    verdict = check_read_your_writes(stream_ops(env.path))
    assert verdict.status == "valid" and verdict.details["reads_not_ok"] == 1


def replica_router(seeds: list[tuple[str, int]], clock: RunClock) -> ReplicaRouter:
    """Readiness: a fresh cluster lists its replicas in CLUSTER SLOTS once they reported their
    replication offsets; until then the router refuses (it never reads a master instead)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return ReplicaRouter(seeds, cluster=True, now_ns=clock.now_ns)
        except redis.RedisError as exc:
            if time.monotonic() > deadline:
                raise
            assert "no available replica" in str(exc)
            time.sleep(0.05)


def test_cluster_replica_router_reads_replicas_in_readonly_mode(tmp_path: Path) -> None:
    run_id = run_id_now("test-")
    with deploy(load_topology("redis-cluster"), tmp_path / run_id, run_id) as dep:
        clock = RunClock()
        seeds = [(n.client_proxy.listen_host, n.client_proxy.listen_port) for n in dep.redis]
        master = SlotRouter(seeds, cluster=True, now_ns=clock.now_ns)
        replica: ReplicaRouter | None = None
        try:
            writes = [("INCRBY", KEYS.counter_key("whale", s, T), 5 + s) for s in range(3)]
            writes.append(("INCRBY", KEYS.counter_key("acme", 0, T), 9))
            # A replica is listed once its replication offset is not 0: give every master a write.
            warm = {master.node_for(f"warm{i}"): f"warm{i}" for i in range(100)}
            assert len(warm) == 3
            writes += [("SET", k, 1) for k in warm.values()]
            assert all(r.outcome == OpType.OK for r in master.execute(writes, [w[1] for w in writes]))
            # Readiness: each master's replica has its writes (WAIT on the writers' connections).
            waits = master.execute([("WAIT", 1, 5000)] * len(writes), [w[1] for w in writes])
            assert [r.value for r in waits] == [1] * len(writes)
            replica = replica_router(seeds, clock)
            by_proxy = {(n.client_proxy.listen_host, n.client_proxy.listen_port): n for n in dep.redis}
            # Every slot is served by a replica, each replica serving its own master's slots.
            assert {by_proxy[a].spec.role for a in replica.masters()} == {"replica"}
            assert len(replica.masters()) == 3
            with HistoryRecorder(tmp_path / "h.jsonl", clock) as rec:
                q = RedisQueries(master, rec, KEYS, replica=replica)
                assert q.counters_last5("whale", T, read_pref="replica") == 18
                assert q.counters_last5("acme", T, read_pref="replica") == 9
                key = KEYS.counter_key("acme", 0, T)
                node = by_proxy[replica.node_for(key)]
                assert node.spec.replica_of == by_proxy[master.node_for(key)].name
        finally:
            master.close()
            if replica is not None:
                replica.close()
