"""The hot-read cache's four variants against a real redis-server: the stampede and its fixes.

No timing thresholds: the slow loader is gated on the cache's own counters (it returns only once
every reader has missed, and for the mutex once every loser has lost the lock), so how many loads
happen is decided by the variant's logic alone."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from redis import Redis

from harness.checkers.tenant_isolation import check_tenant_isolation
from harness.clock import RunClock, seeded_random
from harness.history.loader import load_history, stream_ops
from harness.history.recorder import HistoryRecorder
from harness.topology.deployment import Deployment
from harness.topology.local import run_id_now
from harness.topology.redis import no_retry
from harness.topology.spec import load_topology
from harness.workload.model.keys import KeyScheme
from harness.workload.redis_plane.cache import (
    Cache,
    CacheConfig,
    CacheStats,
    LoaderError,
    Variant,
    cache_key,
    xfetch_recompute,
)
from tests.conftest import needs_servers
from tests.live.backend import deploy

pytestmark = [pytest.mark.live, needs_servers]

READERS = 8
KEYS = KeyScheme({})


@pytest.fixture(scope="module")
def dep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    run_id = run_id_now("test-")
    with deploy(load_topology("redis-replicated"), tmp_path_factory.mktemp("run") / run_id, run_id) as d:
        yield d


@pytest.fixture
def client(dep: Deployment) -> Iterator[Redis]:
    dep.node("r1").admin().flushall()
    c = dep.client("r1", retry=no_retry(), socket_timeout=5, max_connections=4 * READERS)
    yield c
    c.close()


class GatedLoader:
    """A slow, deterministic loader: each call blocks until ``ready(stats)`` holds, then returns the
    tenant's dashboard (or ``serve``'s tenant: a loader bug that ignores its tenant filter)."""

    def __init__(self, ready: Callable[[CacheStats], bool], serve: str | None = None) -> None:
        self.ready = ready
        self.serve = serve
        self.calls = 0
        self.stats: CacheStats | None = None
        self._lock = threading.Lock()

    def __call__(self, tenant: str) -> dict[str, Any]:
        with self._lock:
            self.calls += 1
            n = self.calls
        assert self.stats is not None
        if not self.stats.wait_for(self.ready, timeout_s=5):
            raise TimeoutError("the readers never reached the gate")
        return {"tenant": self.serve or tenant, "events_5m": 42, "load": n}


def make(client: Redis, rec: HistoryRecorder, variant: Variant, loader: GatedLoader, **cfg: Any) -> Cache:
    cache = Cache(
        client, rec, rec.clock, KEYS, loader, variant, CacheConfig(**cfg), rng=seeded_random(1, "c")
    )
    loader.stats = cache.stats
    return cache


def expire_now(client: Redis, key: str) -> None:
    """The cached value reaches its expiry now (a PEXPIRE in the past deletes the key as expired)."""
    assert client.pexpire(key, 0)
    assert not client.exists(key)


def readers(cache: Cache, tenant: str, n: int = READERS) -> list[Any]:
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda _: cache.get(tenant), range(n)))


def test_cache_aside_stampedes_at_expiry(client: Redis, tmp_path: Path) -> None:
    with HistoryRecorder(tmp_path / "h.jsonl", RunClock()) as rec:
        # The first reader fills the cache alone; then it expires under N concurrent readers.
        loader = GatedLoader(lambda s: s.misses >= 1)
        cache = make(client, rec, "cache_aside", loader)
        assert cache.get("acme")["tenant"] == "acme"
        key = cache_key(KEYS, "acme")
        expire_now(client, key)
        loader.ready = lambda s: s.misses >= 1 + READERS
        values = readers(cache, "acme")
    assert all(v["tenant"] == "acme" for v in values)
    assert loader.calls == 1 + READERS
    assert cache.stats.bursts[key] == [1, READERS]  # every reader loaded: the stampede
    gets = [o for o in load_history(tmp_path / "h.jsonl") if o.f == "cache_get"]
    assert [o.completion and o.completion["loaded"] for o in gets].count(True) == 1 + READERS
    assert all(o.outcome == "ok" and o.get("cache") == "cache_aside" for o in gets)


def test_mutex_loads_once_and_losers_wait_for_the_fill(client: Redis, tmp_path: Path) -> None:
    with HistoryRecorder(tmp_path / "h.jsonl", RunClock()) as rec:
        # The winner's load returns only when every other reader has missed and lost the lock.
        loader = GatedLoader(lambda s: s.misses >= READERS and s.lock_lost >= READERS - 1)
        cache = make(client, rec, "mutex", loader, lock_wait_ms=5000, poll_ms=2)
        values = readers(cache, "acme")
    assert loader.calls == 1
    assert cache.stats.bursts[cache_key(KEYS, "acme")] == [1]
    assert cache.stats.lock_lost == READERS - 1 and cache.stats.lock_timeouts == 0
    assert [v["load"] for v in values] == [1] * READERS  # everyone got the winner's value
    assert client.keys("lock:*") == []  # the winner released its lock
    gets = [o for o in load_history(tmp_path / "h.jsonl") if o.f == "cache_get"]
    assert sorted(bool(o.completion and o.completion["loaded"]) for o in gets) == [False] * 7 + [True]
    assert all(o.outcome == "ok" and o.completion and o.completion["tenants"] == ["acme"] for o in gets)


def test_mutex_loser_out_of_patience_fails_without_loading(client: Redis, tmp_path: Path) -> None:
    release = threading.Event()
    started = threading.Event()

    def slow(tenant: str) -> dict[str, Any]:
        started.set()
        release.wait(5)
        return {"tenant": tenant}

    with HistoryRecorder(tmp_path / "h.jsonl", RunClock()) as rec:
        cfg = CacheConfig(lock_wait_ms=50, poll_ms=10)
        winner = Cache(client, rec, rec.clock, KEYS, slow, "mutex", cfg)
        # The loser's polls do not really sleep: its patience runs out after five polls.
        polls: list[float] = []
        loser = Cache(client, rec, rec.clock, KEYS, slow, "mutex", cfg, sleep=polls.append)
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(winner.get, "acme")
            assert started.wait(5)
            with pytest.raises(Exception, match="lock wait timed out"):
                loser.get("acme")
            release.set()
            assert first.result()["tenant"] == "acme"
    assert polls == [0.01] * 5
    assert loser.stats.reader_loads == 0 and loser.stats.lock_timeouts == 1
    outcomes = sorted(o.outcome or "" for o in load_history(tmp_path / "h.jsonl"))
    assert outcomes == ["fail", "ok"]


def test_background_refresh_readers_never_load(client: Redis, tmp_path: Path) -> None:
    with HistoryRecorder(tmp_path / "h.jsonl", RunClock()) as rec:
        loader = GatedLoader(lambda s: True)
        cache = make(client, rec, "background_refresh", loader, ttl_ms=60_000, refresh_ahead_ms=10_000)
        assert cache.refresher is not None
        assert cache.get("acme") is None  # a cold miss registers the key, it does not load
        assert cache.refresher.hot() == ["acme"] and loader.calls == 0
        assert cache.refresher.refresh_once() == 1
        key = cache_key(KEYS, "acme")
        assert cache.refresher.refresh_once() == 0  # fresh: nothing due
        client.pexpire(key, 5_000)  # nearing expiry (below refresh_ahead_ms): due again
        assert cache.refresher.refresh_once() == 1 and client.pttl(key) > 60_000
        values = readers(cache, "acme")
        # The real thread: after a drop it refills the key by itself.
        client.delete(key)
        cache.refresher.start()
        assert cache.stats.wait_for(lambda s: s.refresher_loads >= 3, timeout_s=5)
        cache.close()
    assert all(v["tenant"] == "acme" for v in values)
    assert cache.stats.reader_loads == 0 and loader.calls == cache.stats.refresher_loads
    assert client.exists(key)
    gets = [o for o in load_history(tmp_path / "h.jsonl") if o.f == "cache_get"]
    assert [o.completion["result"] for o in gets if o.completion] == ["miss"] + ["hit"] * READERS
    assert not any(o.completion and o.completion["loaded"] for o in gets)


def test_early_expiration_recomputes_before_expiry_as_the_seed_says(client: Redis, tmp_path: Path) -> None:
    now = [0.0]

    def loader(tenant: str) -> dict[str, Any]:
        now[0] += 100  # each load takes 100 ms of the controllable clock: delta = 100
        return {"tenant": tenant}

    with HistoryRecorder(tmp_path / "h.jsonl", RunClock()) as rec:
        cfg = CacheConfig(ttl_ms=1000, grace_ms=60_000, beta=1.0)
        cache = Cache(
            client, rec, rec.clock, KEYS, loader, "early_expiration", cfg,
            rng=seeded_random(9, "xfetch"), now_ms=lambda: now[0],
        )  # fmt: skip
        cache.get("acme")  # fills at t=100 with expiry 1100
        twin = seeded_random(9, "xfetch")  # the same stream predicts each decision
        early_at = None
        for t in range(200, 1100, 10):
            now[0] = float(t)
            u = 1.0 - twin.random()
            predicted = xfetch_recompute(t, 100, 1100, 1.0, u)
            cache.get("acme")
            assert cache.stats.early == int(predicted)
            if predicted:
                early_at = t
                break
    assert early_at is not None and early_at < 1100  # renewed before the logical expiry
    gets = [o for o in load_history(tmp_path / "h.jsonl") if o.f == "cache_get"]
    last = gets[-1].completion
    assert last is not None and last["early"] and last["loaded"] and last["result"] == "hit"
    assert sum(bool(o.completion and o.completion["loaded"]) for o in gets) == 2
    assert cache.stats.bursts[cache_key(KEYS, "acme")] == [1, 1]


def test_cache_serving_another_tenants_value_is_flagged(client: Redis, tmp_path: Path) -> None:
    with HistoryRecorder(tmp_path / "h.jsonl", RunClock()) as rec:
        good = make(client, rec, "cache_aside", GatedLoader(lambda s: True))
        bad = make(client, rec, "cache_aside", GatedLoader(lambda s: True, serve="acme"))
        good.get("acme")
        bad.get("globex")  # the loader forgot its tenant filter: globex is served acme's dashboard
    verdict = check_tenant_isolation(stream_ops(tmp_path / "h.jsonl"))
    assert verdict.status == "invalid" and verdict.violations == 1
    assert verdict.examples[0]["tenant"] == "globex" and verdict.examples[0]["foreign_tenants"] == ["acme"]


def test_loader_error_is_recorded_unknown(client: Redis, tmp_path: Path) -> None:
    def broken(tenant: str) -> Any:
        raise RuntimeError("mongo down")

    with HistoryRecorder(tmp_path / "h.jsonl", RunClock()) as rec:
        cache = Cache(client, rec, rec.clock, KEYS, broken, "cache_aside")
        with pytest.raises(LoaderError):
            cache.get("acme")
    (op,) = load_history(tmp_path / "h.jsonl")
    assert op.outcome == "info" and op.completion and "mongo down" in op.completion["error"]


def test_background_refresh_serves_stale_when_the_refresher_falls_behind(
    client: Redis, tmp_path: Path
) -> None:
    now = [0.0]
    with HistoryRecorder(tmp_path / "h.jsonl", RunClock()) as rec:
        cfg = CacheConfig(ttl_ms=1000, grace_ms=60_000)
        cache = Cache(
            client, rec, rec.clock, KEYS, lambda t: {"tenant": t}, "background_refresh", cfg,
            now_ms=lambda: now[0],
        )  # fmt: skip
        assert cache.refresher is not None
        cache.get("acme")
        cache.refresher.refresh_once()  # filled at t=0: logically fresh until t=1000
        now[0] = 999
        cache.get("acme")
        now[0] = 1000  # the refresher did not run: the value outlived its logical lifetime
        assert cache.get("acme") == {"tenant": "acme"}
        cache.close()
    results = [
        o.completion["result"]
        for o in load_history(tmp_path / "h.jsonl")
        if o.f == "cache_get" and o.completion
    ]
    assert results == ["miss", "hit", "stale"]
    assert cache.stats.reader_loads == 0
