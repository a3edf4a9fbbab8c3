"""Pure parts of the cache and the query service's Redis reads: XFetch's decision, burst counting,
key builders and the timeline parser (no server)."""

from __future__ import annotations

import math
import threading

import pytest
from redis.crc import key_slot

from harness.clock import seeded_random
from harness.workload.model.keys import KeyScheme, hour_bucket
from harness.workload.redis_plane.cache import CacheConfig, CacheStats, cache_key, lock_key, xfetch_recompute
from harness.workload.redis_plane.reads import (
    last5_keys,
    parse_timeline,
    profile_key,
)

# 2024-01-15 10:07:30 UTC
T = 1_705_313_250_000


def test_xfetch_never_recomputes_far_from_expiry_and_always_at_it() -> None:
    rng = seeded_random(1, "xfetch")
    us = [1.0 - rng.random() for _ in range(2000)]
    # 2000 ms before expiry with a 10 ms computation: probability exp(-200), i.e. never.
    assert not any(xfetch_recompute(0, 10, 2000, 1.0, u) for u in us)
    # At and after the logical expiry every reader recomputes, whatever it drew.
    assert all(xfetch_recompute(2000, 10, 2000, 1.0, u) for u in us)
    assert all(xfetch_recompute(2500, 10, 2000, 1.0, u) for u in us)
    assert xfetch_recompute(0, 10, 2000, 1.0, 0.0)  # ln(0) = -inf: the formula's limit


def test_xfetch_probability_is_exp_of_minus_gap_over_delta_beta() -> None:
    rng = seeded_random(2, "xfetch")
    us = [1.0 - rng.random() for _ in range(20_000)]
    for gap, delta, beta in [(100, 100, 1.0), (200, 100, 1.0), (200, 100, 2.0), (50, 100, 0.5)]:
        share = sum(xfetch_recompute(1000 - gap, delta, 1000, beta, u) for u in us) / len(us)
        assert share == pytest.approx(math.exp(-gap / (delta * beta)), abs=0.015), (gap, delta, beta)


def test_xfetch_larger_beta_or_slower_load_starts_earlier() -> None:
    rng = seeded_random(3, "xfetch")
    us = [1.0 - rng.random() for _ in range(5000)]

    def count(delta: float, beta: float) -> int:
        return sum(xfetch_recompute(700, delta, 1000, beta, u) for u in us)

    assert count(100, 1.0) < count(100, 2.0) < count(100, 4.0)
    assert count(50, 1.0) < count(100, 1.0) < count(300, 1.0)
    # Every u that recomputes with the smaller beta also recomputes with the larger one.
    assert all(
        xfetch_recompute(700, 100, 1000, 2.0, u) for u in us if xfetch_recompute(700, 100, 1000, 1.0, u)
    )


def test_same_seed_same_decisions() -> None:
    def decisions(seed: int) -> list[bool]:
        rng = seeded_random(seed, "xfetch")
        return [xfetch_recompute(900, 100, 1000, 1.0, 1.0 - rng.random()) for _ in range(200)]

    assert decisions(5) == decisions(5) != decisions(6)


def test_stats_group_loads_into_one_burst_per_expiry() -> None:
    stats = CacheStats()
    for _ in range(3):  # three readers missed before anyone filled: one burst of 3
        stats.load_started("k", by_reader=True)
    stats.filled("k")
    stats.filled("k")
    stats.load_started("k", by_reader=False)  # the next expiry
    stats.filled("k")
    stats.load_started("other", by_reader=True)
    assert stats.bursts == {"k": [3, 1], "other": [1]}
    assert stats.stampede("k") == 3 and stats.stampede("never") == 0
    assert (stats.reader_loads, stats.refresher_loads) == (4, 1)


def test_stats_wait_for_wakes_on_change() -> None:
    stats = CacheStats()
    t = threading.Thread(target=lambda: [stats.bump("misses") for _ in range(3)])
    t.start()
    assert stats.wait_for(lambda s: s.misses >= 3, timeout_s=5)
    t.join()
    assert not stats.wait_for(lambda s: s.misses >= 4, timeout_s=0)


def test_cache_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        CacheConfig(ttl_ms=0)
    with pytest.raises(ValueError):
        CacheConfig(beta=0)
    with pytest.raises(ValueError):
        CacheConfig(lock_wait_ms=-1)


def test_every_key_of_a_tenant_shares_the_counter_slot() -> None:
    keys = KeyScheme({})
    built = [
        keys.counter_key("acme", 0, T),
        cache_key(keys, "acme"),
        lock_key(keys, "acme"),
        keys.hll_key("acme", 0, T),
        keys.user_timeline_key("acme", "user_7"),
        profile_key(keys, "acme", "user_7"),
    ]
    assert len({key_slot(k.encode()) for k in built}) == 1
    assert keys.hll_key("acme", 0, T) == "unique:{t:acme}:users:2024011510"
    assert keys.user_timeline_key("acme", "user_7") == "timeline:{t:acme}:user_7"
    assert profile_key(keys, "acme", "user_7") == "profile:{t:acme}:user_7"
    assert hour_bucket(T) == "2024011510"
    # A write-sharded tenant: reads find a user's timeline on the shard ingest wrote it to.
    sharded = KeyScheme({"whale": 4})
    user_shard = sharded.user_shard("whale", "user_7")
    assert sharded.user_timeline_key("whale", "user_7") == sharded.timeline_key("whale", user_shard, "user_7")
    assert len({sharded.hll_key("whale", s, T) for s in range(4)}) == 4


def test_last5_keys_are_five_minutes_per_shard_each_on_one_slot() -> None:
    keys = KeyScheme({"whale": 3})
    groups = last5_keys(keys, "whale", T)
    assert len(groups) == 3
    assert [k.rsplit(":", 2)[-2:] for k in groups[0]] == [
        ["2024011510", "07"],
        ["2024011510", "06"],
        ["2024011510", "05"],
        ["2024011510", "04"],
        ["2024011510", "03"],
    ]
    for g in groups:
        assert len({key_slot(k.encode()) for k in g}) == 1  # one MGET per shard is single-slot
    assert len({key_slot(g[0].encode()) for g in groups}) == 3
    assert last5_keys(KeyScheme({}), "acme", T)[0][0] == "counter:{t:acme}:events:2024011510:07"


def test_parse_timeline_reads_entries_and_marks_unparsable_ones() -> None:
    flat = [
        b'{"event_id":"evt_1","event_type":"page.view","tenant":"acme"}',
        b"20",
        b"not json",
        b"10",
        b'{"event_id":"evt_0","event_type":"api.call","tenant":"other"}',
        b"5",
    ]
    expected = [("evt_1", "acme", 20.0), (None, None, 10.0), ("evt_0", "other", 5.0)]
    assert [(e.event_id, e.tenant, e.score) for e in parse_timeline(flat)] == expected
    resp3 = [[flat[i], float(flat[i + 1])] for i in range(0, len(flat), 2)]
    assert [(e.event_id, e.tenant, e.score) for e in parse_timeline(resp3)] == expected
    assert parse_timeline([]) == []
