"""The platform driver's read workers (``read_workers``): the one read schedule draws every read,
every Redis read kind of the mix runs on N threads each with its own query paths, the MongoDB
queries keep their thread; readers of one shared cache are concurrent, so an expiry read by several
at once stampedes under cache_aside and is loaded once under mutex. No server: fakes (an
in-memory Redis for the real :class:`Cache`)."""

from __future__ import annotations

import random
import threading
from types import SimpleNamespace
from typing import Any

import pytest

from harness.clock import RunClock, seeded_random
from harness.history.loader import stream_ops
from harness.history.recorder import HistoryRecorder
from harness.workload.engine.openloop import DriverStats
from harness.workload.model.generator import EventGenerator
from harness.workload.model.keys import KeyScheme
from harness.workload.model.tenants import TenantMix, TenantPicker
from harness.workload.platform.driver import PlatformConfig, PlatformDriver
from harness.workload.redis_plane.cache import Cache, CacheConfig, CacheStats, Variant

KEYS = KeyScheme({})


class FakeRedis:
    """The commands :class:`Cache` sends (GET, SET NX PX, the lock's compare-and-delete), in
    memory and thread safe; expiry is not modelled (a test deletes a key to expire it)."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self.lock:
            return self.data.get(key)

    def set(self, key: str, value: str, *, nx: bool = False, px: int | None = None) -> bool | None:
        with self.lock:
            if nx and key in self.data:
                return None
            self.data[key] = value
            return True

    def eval(self, _script: str, _n: int, key: str, token: str) -> int:
        with self.lock:
            if self.data.get(key) != token:
                return 0
            del self.data[key]
            return 1


class FakeQueries:
    """Query paths that record which thread ran each read, and its scheduled time."""

    def __init__(self, made: list[FakeQueries] | None = None) -> None:
        self.sched_ns: int | None = None
        self.calls: list[tuple[str, str, int | None]] = []  # (kind, thread, sched_ns)
        if made is not None:
            made.append(self)

    def _call(self, kind: str) -> int:
        self.calls.append((kind, threading.current_thread().name, self.sched_ns))
        return 1

    def counters_last5(self, tenant: str, now_ms: int) -> int:
        return self._call("counters")

    def timeline(self, tenant: str, user: str) -> list[Any]:
        return [self._call("timeline")]

    def unique_users(self, tenant: str, now_ms: int) -> int:
        return self._call("unique_users")

    def read_your_write(
        self, tenant: str, user: str, session: str, mode: str, *, wait_ms: int
    ) -> tuple[int, int]:
        return self._call("profile"), 1


class FakeCache:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int | None]] = []  # (tenant, thread, sched_ns)
        self.lock = threading.Lock()

    def get(self, tenant: str, sched_ns: int | None = None) -> Any:
        with self.lock:
            self.calls.append((tenant, threading.current_thread().name, sched_ns))
        return {"tenant": tenant}


def driver(cfg: PlatformConfig, tenants: int = 5, **parts: Any) -> PlatformDriver:
    picker = TenantPicker(TenantMix(tenants, 1.0, None, 0.0), seeded_random(1, "t"))
    ingestor: Any = SimpleNamespace(stats=DriverStats())
    return PlatformDriver(
        clock=RunClock(),
        generator=EventGenerator(picker, seeded_random(1, "e")),
        ingestor=ingestor,
        cfg=cfg,
        read_picker=picker,
        read_rng=random.Random(1),
        **parts,
    )


def run_workers(d: PlatformDriver) -> None:
    """Starts the read workers, ends the schedule's hand-over, waits for them."""
    threads = d._read_threads()
    for t in threads:
        t.start()
    for _ in threads:
        d._read_q.put(None)
    for t in threads:
        t.join(timeout=10)
        assert not t.is_alive()


def test_every_redis_read_kind_runs_on_the_workers_each_with_its_own_query_paths() -> None:
    made: list[FakeQueries] = []
    shared, cache = FakeQueries(), FakeCache()

    class Reader:
        def query(self, tenant: str, user: str, rng: random.Random, sched_ns: int) -> None:
            pass

    mix = {"counters": 1, "timeline": 1, "unique_users": 1, "dashboard": 1, "profile": 1, "mongo": 1}
    cfg = PlatformConfig(rate=1, duration_s=1, reads_per_s=30, read_mix=mix, read_workers=3)
    d = driver(
        cfg,
        queries=shared,
        cache=cache,
        mongo_reader=Reader(),
        read_queries=lambda: FakeQueries(made),
    )
    sched = list(range(1, 121))
    d._reads(sched)
    assert not shared.calls and not cache.calls, "a Redis read ran on the schedule's thread"
    assert d._mongo_q.qsize() > 0 and not d.read_stats.by_kind  # MongoDB ones handed to their thread
    run_workers(d)
    assert len(made) == 3  # one set of query paths per worker
    ran = [c for q in made for c in q.calls] + [("dashboard", t, s) for _, t, s in cache.calls]
    assert {kind for kind, _, _ in ran} == {"counters", "timeline", "unique_users", "dashboard", "profile"}
    assert all(thread.startswith("reader-") for _, thread, _ in ran)
    for q in made:  # each worker's own paths ran on that worker alone
        assert len({thread for _, thread, _ in q.calls}) <= 1
    # Each read carries its own scheduled time (the cache's as a parameter: it is shared).
    assert sorted(s for _, _, s in ran) == sorted(set(sched) - set(_mongo_sched(d)))
    assert sum(d.read_stats.by_kind.values()) == len(ran) and "mongo" not in d.read_stats.by_kind


def _mongo_sched(d: PlatformDriver) -> list[int]:
    out = []
    d._mongo_q.put(None)
    while (item := d._mongo_q.get()) is not None:
        out.append(item[2])
    return out


def test_without_workers_every_read_runs_on_the_schedules_thread() -> None:
    shared, cache = FakeQueries(), FakeCache()
    cfg = PlatformConfig(rate=1, duration_s=1, reads_per_s=30, read_mix={"counters": 1, "dashboard": 1})
    d = driver(cfg, queries=shared, cache=cache)
    d._reads([10, 20, 30, 40])
    assert d._read_threads() == [] and d._read_q.qsize() == 0
    here = threading.current_thread().name
    ran = shared.calls + [("dashboard", t, s) for _, t, s in cache.calls]
    assert sorted(s for _, _, s in ran) == [10, 20, 30, 40] and {t for _, t, _ in ran} == {here}


def test_a_read_still_waiting_at_the_deadline_is_dropped_and_counted() -> None:
    cfg = PlatformConfig(rate=1, duration_s=1, reads_per_s=30, read_mix={"counters": 1}, read_workers=1)
    q = FakeQueries()
    d = driver(cfg, queries=FakeQueries(), read_queries=FakeQueries)
    d._read_q.put(("counters", "t1", "u", 5))
    d._read_q.put(None)
    d._run_read_worker(d.clock.now_ns() - 1, q)
    assert d.read_stats.redis_dropped == 1 and not q.calls and not d.read_stats.by_kind


def test_workers_need_their_query_paths_and_leave_mongodb_profile_steps_to_profiles() -> None:
    cfg = PlatformConfig(rate=1, duration_s=1, reads_per_s=30, read_mix={"timeline": 1}, read_workers=2)
    with pytest.raises(ValueError, match="need read_queries"):
        driver(cfg, queries=FakeQueries())
    steps: list[str] = []

    class Profiles:
        def step(self, tenant: str, user: str, sched_ns: int) -> bool:
            steps.append(threading.current_thread().name)
            return True

    mongo_mode = PlatformConfig(
        rate=1, duration_s=1, reads_per_s=30, read_mix={"profile": 1}, ryw_mode="primary", read_workers=2
    )
    d = driver(mongo_mode, queries=FakeQueries(), profiles=Profiles())  # no Redis read: no paths needed
    d._reads([1, 2, 3])
    assert steps == [threading.current_thread().name] * 3 and d._read_threads() == []
    with pytest.raises(ValueError, match="cannot be negative"):
        PlatformConfig(rate=1, duration_s=1, read_workers=-1)


def stampede(variant: Variant, recorder: HistoryRecorder, ready: Any, readers: int = 4) -> CacheStats:
    """``readers`` dashboard reads of one tenant on as many workers, the loader held until
    ``ready(stats)``: the readers are at the cache at once, as at a hot key's expiry."""
    stats_box: list[CacheStats] = []

    def load(tenant: str) -> dict[str, Any]:
        assert stats_box[0].wait_for(ready, timeout_s=5), "the readers never met at the cache"
        return {"tenant": tenant}

    cache = Cache(
        FakeRedis(),  # type: ignore[arg-type]
        recorder,
        recorder.clock,
        KEYS,
        load,
        variant,
        CacheConfig(ttl_ms=60_000, poll_ms=1, lock_wait_ms=5_000),
        rng=seeded_random(1, "c"),
        run_variant="v",
    )
    stats_box.append(cache.stats)
    cfg = PlatformConfig(
        rate=1, duration_s=1, reads_per_s=30, read_mix={"dashboard": 1}, read_workers=readers
    )
    d = driver(cfg, tenants=1, queries=FakeQueries(), cache=cache, read_queries=FakeQueries)
    d._reads(list(range(100, 100 + readers)))
    run_workers(d)
    assert d.read_stats.by_kind == {"dashboard": readers} and d.read_stats.not_ok == 0
    return cache.stats


def test_concurrent_readers_stampede_under_cache_aside(recorder: HistoryRecorder) -> None:
    stats = stampede("cache_aside", recorder, lambda s: s.misses >= 4)
    assert [n for burst in stats.bursts.values() for n in burst] == [4]  # one expiry, four loads
    recorder.flush()
    gets = [op for op in stream_ops(recorder.path) if op.f == "cache_get"]
    assert sorted(op.get("sched_ns") for op in gets) == [100, 101, 102, 103]  # each its own schedule


def test_concurrent_readers_load_once_under_mutex(recorder: HistoryRecorder) -> None:
    stats = stampede("mutex", recorder, lambda s: s.lock_lost >= 3)
    assert [n for burst in stats.bursts.values() for n in burst] == [1] and stats.reader_loads == 1
    recorder.flush()
    gets = [op for op in stream_ops(recorder.path) if op.f == "cache_get"]
    assert sorted(op.completion["loaded"] for op in gets if op.completion) == [False, False, False, True]
