"""The whole platform driver against a real redis-server: ingestion, the query mix with its cache,
sessions and background jobs on their own schedules; the MongoDB side through recording fakes
(its commands are contract-tested against mockupdb), and the history judged by the checkers."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from harness.checkers import build_checkers, run_checkers
from harness.clients.redis_router import SlotRouter
from harness.clock import RunClock, seeded_random
from harness.history.loader import stream_ops
from harness.history.recorder import HistoryRecorder
from harness.topology import redis as redis_nodes
from harness.topology.deployment import Deployment
from harness.topology.local import run_id_now
from harness.topology.spec import load_topology
from harness.workload.model.generator import Event, EventGenerator, GeneratorConfig
from harness.workload.model.keys import KeyScheme
from harness.workload.model.tenants import TenantMix, TenantPicker
from harness.workload.platform.driver import PlatformConfig, PlatformDriver, redis_dashboard_loader
from harness.workload.redis_plane.cache import Cache, CacheConfig
from harness.workload.redis_plane.events import final_reads
from harness.workload.redis_plane.ingest import RedisIngestConfig, RedisIngestor, ingest_script
from harness.workload.redis_plane.reads import RedisQueries
from harness.workload.redis_plane.sessions import SessionConfig, SessionDriver, final_sessions
from tests.conftest import needs_servers
from tests.live.backend import deploy

pytestmark = [pytest.mark.live, needs_servers]


@pytest.fixture(scope="module")
def dep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    run_id = run_id_now("test-")
    with deploy(load_topology("redis-replicated"), tmp_path_factory.mktemp("run") / run_id, run_id) as d:
        yield d


class FakeMongoWriter:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.sched: list[int] = []

    def write(self, events: Sequence[Event], sched_ns: Sequence[int]) -> None:
        self.events += events
        self.sched += sched_ns


class FakeMongoReader:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int]] = []

    def query(self, tenant: str, user: str, rng: random.Random, sched_ns: int) -> None:
        self.calls.append((tenant, user, sched_ns))


def test_platform_driver_runs_every_schedule_and_its_history_checks_valid(
    dep: Deployment, tmp_path: Path
) -> None:
    master = dep.redis[0]
    master.admin().flushall()
    sha = str(master.admin().script_load(ingest_script()))
    addr = (master.client_proxy.listen_host, master.client_proxy.listen_port)
    clock = RunClock()
    history = tmp_path / "history.jsonl"
    rec = HistoryRecorder(history, clock)
    routers = [SlotRouter([addr], cluster=False, now_ns=clock.now_ns) for _ in range(4)]
    keys = KeyScheme({})
    mix = TenantMix(50, 1.0, None, 0.0)
    gen = EventGenerator(
        TenantPicker(mix, seeded_random(3, "tenants")),
        seeded_random(3, "events"),
        GeneratorConfig(users_per_tenant=5),
    )
    ingestor = RedisIngestor(
        routers[0], rec, clock, keys, RedisIngestConfig(limit=20, window_ms=1000), "v", sha
    )
    client = dep.client(master.name, socket_timeout=2, retry=redis_nodes.no_retry())
    cache = Cache(
        client,
        rec,
        clock,
        keys,
        redis_dashboard_loader(routers[1], rec, keys, clock, "v"),
        "mutex",
        CacheConfig(ttl_ms=300),
        rng=seeded_random(3, "cache"),
        run_variant="v",
    )
    sessions = SessionDriver(
        routers[2],
        rec,
        clock,
        SessionConfig(rate=50, duration_s=2, sessions=40, ttl_s=30),
        "v",
        seeded_random(3, "s"),
    )
    writer, reader = FakeMongoWriter(), FakeMongoReader()
    job_runs: list[bool] = []

    def job(stop: threading.Event) -> None:
        while not stop.wait(0.05):
            job_runs.append(True)

    driver = PlatformDriver(
        clock=clock,
        generator=gen,
        ingestor=ingestor,
        cfg=PlatformConfig(rate=600, duration_s=2, reads_per_s=100, users_per_tenant=5, sessions_per_s=50),
        queries=RedisQueries(routers[3], rec, keys, variant="v"),
        cache=cache,
        read_picker=TenantPicker(mix, seeded_random(3, "read-tenants")),
        read_rng=seeded_random(3, "reads"),
        sessions=sessions,
        mongo_writer=writer,
        mongo_reader=reader,
        background=[("job", job)],
    )
    stats = driver.run()
    final_reads(routers[0], rec, sorted(driver.counter_keys), "v")
    final_sessions(routers[0], rec, clock, sorted(sessions.counter_keys), "v")
    cache.close()
    client.close()
    for r in routers:
        r.close()
    rec.close()

    assert driver.errors == []
    assert stats.offered == 1200 and stats.sent == 1200
    assert stats.admitted + stats.rate_limited == 1200 and stats.rate_limited > 0  # the limit bites
    # Only admitted events reach MongoDB, each once, with its scheduled time.
    ops = list(stream_ops(history))
    admitted = {
        op.get("event_id")
        for op in ops
        if op.f == "rate_limit" and op.outcome == "ok" and op.value["allowed"]
    }
    assert [e.seq for e in writer.events] == sorted(e.seq for e in writer.events)  # in schedule order
    assert {e.event_id for e in writer.events} == admitted and len(writer.events) == len(admitted)
    assert len(writer.sched) == len(writer.events)
    # Every read kind ran, and the MongoDB queries were offered their share.
    rs = driver.read_stats
    assert rs.offered == 200 and sum(rs.by_kind.values()) == 200
    assert set(rs.by_kind) == {"counters", "timeline", "unique_users", "dashboard", "profile", "mongo"}
    assert len(reader.calls) == rs.by_kind["mongo"]
    assert all(op.get("variant") == "v" for op in ops)  # every op is judged with its variant
    reads = {op.f for op in ops if op.process in {"query", "cache"}}
    assert {"counters_read", "timeline_read", "pfcount", "write", "read", "cache_get"} <= reads
    assert all("sched_ns" in op.invoke for op in ops if op.process == "query")
    assert job_runs, "the background job never ran"
    assert sessions.stats.sent == 100
    verdicts = run_checkers(
        build_checkers(
            [
                "rate-limit-holds",
                "counters-reconcile",
                "unique-user-estimates",
                "tenant-isolation",
                "read-your-writes",
                "sessions",
            ],
            {"sessions": {"ttl_ms": 30_000}},
        ),
        stream_ops(history),
    )
    assert {v.name: v.status for v in verdicts} == {v.name: "valid" for v in verdicts}, [
        (v.name, v.summary) for v in verdicts if v.status != "valid"
    ]


def test_read_mix_names_are_validated() -> None:
    with pytest.raises(ValueError, match="unknown read kind"):
        PlatformConfig(rate=1, duration_s=1, read_mix={"everything": 1})
    with pytest.raises(ValueError, match="cannot be negative"):
        PlatformConfig(rate=1, duration_s=1, read_mix={"counters": -1})
