"""The per-event ingest script against a real redis-server (standalone) and a real cluster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.crc import key_slot

from harness.bench.suite import standalone_topology
from harness.checkers import build_checkers, run_checkers
from harness.clients.redis_router import SlotRouter
from harness.clock import RunClock, seeded_random
from harness.history.loader import stream_ops
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.topology.deployment import Deployment
from harness.topology.local import run_id_now
from harness.topology.spec import load_topology
from harness.workload.model.generator import Event, EventGenerator
from harness.workload.model.keys import KeyScheme
from harness.workload.model.tenants import TenantMix, TenantPicker
from harness.workload.redis_plane.events import final_reads
from harness.workload.redis_plane.ingest import RedisIngestConfig, RedisIngestor, ingest_script
from tests.conftest import needs_servers
from tests.live.backend import deploy

pytestmark = [pytest.mark.live, needs_servers]
T0 = 1_700_000_000_000


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    run_id = run_id_now("test-")
    with deploy(standalone_topology(), tmp_path_factory.mktemp("run") / run_id, run_id) as dep:
        yield dep


def event(seq: int, tenant: str, user: str, time_ms: int) -> Event:
    eid = f"evt_{seq:016x}"
    return Event(seq, tenant, eid, "page.view", "2.0", user, "s", "10.0.0.1", time_ms, "standard",
                 time_ms + 1000, None, 0, 0)  # fmt: skip


def setup(
    dep: Deployment, tmp_path: Path, cfg: RedisIngestConfig, keys: KeyScheme | None = None
) -> tuple[RedisIngestor, HistoryRecorder, SlotRouter, redis.Redis]:
    node = dep.redis[0]
    admin = node.admin()
    admin.flushall()
    sha = str(admin.script_load(ingest_script()))
    clock = RunClock()
    rec = HistoryRecorder(tmp_path / "history.jsonl", clock)
    addr = (node.client_proxy.listen_host, node.client_proxy.listen_port)
    router = SlotRouter([addr], cluster=False, now_ns=clock.now_ns)
    return RedisIngestor(router, rec, clock, keys or KeyScheme({}), cfg, "v", sha), rec, router, admin


def test_limiter_admits_exactly_the_limit_and_only_admitted_events_leave_effects(
    standalone: Deployment, tmp_path: Path
) -> None:
    ing, rec, router, admin = setup(standalone, tmp_path, RedisIngestConfig(limit=5, window_ms=1000))
    events = [event(i, "acme", f"user_{i}", T0 + i) for i in range(12)]  # all in one window
    result = ing.ingest(events)
    later = ing.ingest([event(100, "acme", "user_100", T0 + 2000)])  # the next window admits again
    rec.close()
    router.close()
    assert result.allowed == [1] * 5 + [0] * 7 and later.allowed == [1]
    assert result.counters == [1, 2, 3, 4, 5] + [0] * 7
    assert result.admitted() == [0, 1, 2, 3, 4]
    assert ing.stats.admitted == 6 and ing.stats.rejected == 7
    k = KeyScheme({})
    assert int(admin.get(k.counter_key("acme", 0, T0))) == 6  # the same minute: 5 + the later one
    assert admin.pfcount(k.hll_key("acme", 0, T0)) == 6
    for i, ev in enumerate(events):
        present = admin.zscore(k.timeline_key("acme", 0, ev.user_id), ev.timeline_entry()) is not None
        assert present == (i < 5)
    rl = [op for op in stream_ops(tmp_path / "history.jsonl") if op.f == "rate_limit"]
    assert sum(1 for op in rl if op.value["allowed"] is False) == 7  # rejected events are recorded


def test_timeline_keeps_the_newest_100_for_a_day(standalone: Deployment, tmp_path: Path) -> None:
    ing, rec, router, admin = setup(standalone, tmp_path, RedisIngestConfig(limit=10_000, window_ms=1000))
    events = [event(i, "acme", "user_1", T0 + i) for i in range(150)]
    ing.ingest(events)
    rec.close()
    router.close()
    key = KeyScheme({}).timeline_key("acme", 0, "user_1")
    members = admin.zrange(key, 0, -1)
    assert list(members) == [e.timeline_entry() for e in events[50:]]
    assert 86_390 <= admin.ttl(key) <= 86_400
    assert 590 <= admin.ttl(KeyScheme({}).counter_key("acme", 0, T0)) <= 600


@pytest.mark.parametrize("stream", [False, True], ids=["batch-at-a-time", "pipelined-stream"])
def test_generated_traffic_checks_valid(standalone: Deployment, tmp_path: Path, stream: bool) -> None:
    keys = KeyScheme({"whale": 2})
    cfg = RedisIngestConfig(limit=40, window_ms=1000, tenant_limits={"whale": 100})
    ing, rec, router, admin = setup(standalone, tmp_path, cfg, keys)
    gen = EventGenerator(
        TenantPicker(TenantMix(30, 0.8, "whale", 0.4), seeded_random(5, "t")), seeded_random(5, "e")
    )
    batches = [(gen.batch(b * 200, [T0 + b * 200 + i for i in range(200)]), None) for b in range(10)]
    results = list(ing.ingest_stream(batches)) if stream else [ing.ingest(events) for events, _ in batches]
    assert sum(r.allowed.count(1) for r in results) == ing.stats.admitted
    assert ing.stats.rejected > 0 and ing.stats.outcomes["ok"] == 2000
    final_reads(router, rec, sorted(ing.counter_keys), "v")
    exact: dict[str, set[str]] = {}
    rec.flush()  # the exact user sets come from the recorded adds
    for op in stream_ops(tmp_path / "history.jsonl"):
        if op.f == "pfadd" and op.outcome == "ok":
            exact.setdefault(op.get("key"), set()).update(op.get("value"))
    for key in sorted(ing.hll_keys):
        op_id = rec.invoke("final", "pfcount", variant="v", key=key)
        estimate = int(admin.pfcount(key))
        rec.complete(op_id, OpType.OK, "final", "pfcount", value=estimate)
        assert abs(estimate - len(exact[key])) <= 1  # tiny sets are counted exactly
    tl = sorted(ing.timeline_keys)
    op_id = rec.invoke("final", "final_keys", variant="v", keys=tl, now_ms=T0 + 5000)
    rec.complete(op_id, OpType.OK, "final", "final_keys", value=[k for k in tl if admin.exists(k)])
    rec.close()
    router.close()
    counters = {k: int(admin.get(k) or 0) for k in ing.counter_keys}
    assert sum(counters.values()) == ing.stats.admitted
    names = ["rate-limit-holds", "acknowledged-increments-survive", "unique-user-estimates", "retention",
             "counters-reconcile"]  # fmt: skip
    verdicts = run_checkers(build_checkers(names), stream_ops(tmp_path / "history.jsonl"))
    assert [(v.name, v.status) for v in verdicts] == [(n, "valid") for n in names], [
        v.summary for v in verdicts
    ]


def test_cluster_every_event_touches_one_slot(tmp_path: Path) -> None:
    run_id = run_id_now("test-")
    with deploy(load_topology("redis-cluster"), tmp_path / run_id, run_id) as dep:
        sha = ""
        for n in dep.current_masters():
            sha = str(n.admin().script_load(ingest_script()))
        clock = RunClock()
        seeds = [(n.client_proxy.listen_host, n.client_proxy.listen_port) for n in dep.redis]
        router = SlotRouter(seeds, cluster=True, now_ns=clock.now_ns)
        keys = KeyScheme({"whale": 3})
        with HistoryRecorder(tmp_path / "history.jsonl", clock) as rec:
            ing = RedisIngestor(
                router, rec, clock, keys, RedisIngestConfig(limit=1000, window_ms=1000), "v", sha
            )
            gen = EventGenerator(
                TenantPicker(TenantMix(50, 0.8, "whale", 0.3), seeded_random(2, "t")), seeded_random(2, "e")
            )
            events = gen.batch(0, [T0 + i for i in range(500)])
            p = ing.pack(events)
            for keys_of_event in zip(p.k_lim, p.k_cnt, p.k_hll, p.k_tl, strict=True):
                assert len({key_slot(k.encode()) for k in keys_of_event}) == 1
            assert len({key_slot(r.encode()) for r in p.k_lim}) > 10  # tenants spread over the cluster
            result = ing.ingest(events)
        router.close()
    assert all(o is OpType.OK for o in result.outcomes), result.outcomes
    assert ing.stats.admitted == 500


def test_a_stream_left_early_leaves_no_reply_for_the_next_caller(
    standalone: Deployment, tmp_path: Path
) -> None:
    ing, rec, router, _admin = setup(standalone, tmp_path, RedisIngestConfig(limit=10_000, window_ms=1000))
    batches = [
        ([event(b * 10 + i, "acme", f"user_{i}", T0 + b * 10 + i) for i in range(10)], None) for b in range(3)
    ]
    stream = ing.ingest_stream(batches)
    first = next(stream)  # batch 1's limiter round is in flight by now
    stream.close()
    assert first.allowed == [1] * 10
    # The next command on this router gets its own reply, not batch 1's left on the socket.
    (pong,) = router.execute([("PING",)], ["k"])
    assert pong.outcome is OpType.OK and pong.value in (b"PONG", "PONG", True)
    rec.close()
    router.close()
    ops = [op for op in stream_ops(tmp_path / "history.jsonl") if op.f == "rate_limit"]
    assert sum(op.outcome == "ok" for op in ops) == 10
    assert sum(op.outcome is None for op in ops) == 10  # sent, never read: unknown, not dropped
