"""The initial chunk layout of tenant-sharded collections (harness.topology.mongo_presplit)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from bson.max_key import MaxKey
from bson.min_key import MinKey

from harness.topology.mongo_presplit import ZoneRange, tenant_starts, zone_ranges
from harness.workload.model.tenants import TenantMix

CAPSTONE = {"tenant_id": 1, "event_time": 1}


def shard_of(tenant: str, ranges: list[ZoneRange]) -> str:
    """The zone holding ``tenant``'s documents, compared as the server compares strings."""
    starts = [r.min["tenant_id"] for r in ranges[1:]]
    return ranges[sum(1 for s in starts if s <= tenant)].zone


def test_ranges_cover_the_key_space_in_turn() -> None:
    ranges = zone_ranges(CAPSTONE, ["shard1", "shard2"], tenants=10, chunks_per_shard=2)
    assert [(dict(r.min), dict(r.max), r.zone) for r in ranges] == [
        (
            {"tenant_id": MinKey(), "event_time": MinKey()},
            {"tenant_id": "t00003", "event_time": MinKey()},
            "shard1",
        ),
        (
            {"tenant_id": "t00003", "event_time": MinKey()},
            {"tenant_id": "t00006", "event_time": MinKey()},
            "shard2",
        ),
        (
            {"tenant_id": "t00006", "event_time": MinKey()},
            {"tenant_id": "t00008", "event_time": MinKey()},
            "shard1",
        ),
        (
            {"tenant_id": "t00008", "event_time": MinKey()},
            {"tenant_id": MaxKey(), "event_time": MaxKey()},
            "shard2",
        ),
    ]
    assert [list(r.min) for r in ranges] == [["tenant_id", "event_time"]] * 4  # shard key order


@pytest.mark.parametrize(("tenants", "shards", "per_shard"), [(2000, 2, 4), (1000, 3, 4), (10_000, 4, 1)])
def test_every_shard_holds_as_many_tenants(tenants: int, shards: int, per_shard: int) -> None:
    names = [f"shard{i + 1}" for i in range(shards)]
    ranges = zone_ranges(CAPSTONE, names, tenants, per_shard)
    assert len(ranges) == shards * per_shard
    held = Counter(shard_of(t, ranges) for t in TenantMix(tenants, 0.8, None, 0.0).names())
    assert set(held) == set(names)
    assert max(held.values()) - min(held.values()) <= per_shard  # within one tenant per range


def test_the_hot_head_is_not_on_one_shard() -> None:
    """Zipf makes t00001.. the busiest: dealing the ranges in turn puts hot tenants on every shard."""
    ranges = zone_ranges(CAPSTONE, ["shard1", "shard2"], 2000, 4)
    mix = TenantMix(2000, 0.8, "whale", 0.2)
    cum = mix.cum_weights()
    weights = [b - a for a, b in zip([0.0, *cum[:-1]], cum, strict=True)]
    load: Counter[str] = Counter()
    for tenant, w in zip(mix.names(), weights, strict=True):
        load[shard_of(tenant, ranges)] += w
    assert shard_of("whale", ranges) == ranges[-1].zone  # sorts after every t-name
    assert min(load.values()) > 0.2  # neither shard idles


def test_string_order_beyond_five_digits() -> None:
    """t100000 sorts between t10000 and t10001: split points follow the server's (string) order."""
    (start,) = tenant_starts(100_000, 2)
    names = TenantMix(100_000, 0.8, None, 0.0).names()
    assert sum(1 for t in names if t < start) == 50_000


@pytest.mark.parametrize(
    ("key", "shards", "tenants"),
    [
        ({"event_id": "hashed"}, 2, 2000),  # shardCollection spreads an empty hashed collection itself
        ({"tenant_id": "hashed"}, 2, 2000),
        ({"event_time": 1, "tenant_id": 1}, 2, 2000),  # no tenant boundaries to split at
        (CAPSTONE, 1, 2000),  # nothing to spread over
        (CAPSTONE, 2, 1),
    ],
)
def test_no_ranges_where_there_is_nothing_to_spread(key: dict[str, Any], shards: int, tenants: int) -> None:
    assert zone_ranges(key, [f"shard{i + 1}" for i in range(shards)], tenants, 4) == []


def test_a_key_hashed_after_the_tenant_gets_minkey_bounds() -> None:
    ranges = zone_ranges({"tenant_id": 1, "event_id": "hashed"}, ["shard1", "shard2"], 4, 1)
    assert [dict(r.min) for r in ranges] == [
        {"tenant_id": MinKey(), "event_id": MinKey()},
        {"tenant_id": "t00003", "event_id": MinKey()},  # a hashed field takes MinKey/MaxKey/NumberLong only
    ]
