"""The pieces of the sharded case studies that need no server: the write-sharding suffix, the
events collection on another shard key (its unique indexes), the initial chunks that deal a hot
tenant's suffixes over the shards, and the kind's rules (what it needs, what a variant may ask)."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import pytest
from bson.max_key import MaxKey
from bson.min_key import MinKey

from harness.topology.mongo_presplit import split_tenant, zone_ranges
from harness.topology.mongo_spec import load_collections
from harness.workload.model.generator import Event
from harness.workload.mongo_plane.sharded_events import (
    events_zones,
    idempotency_key,
    shard_suffix,
    suffix_fields,
)
from tests.sharded import zone_of

SHARDS = ["shard1", "shard2"]
SUFFIXED = {"tenant_id": 1, "shard_suffix": 1, "event_time": 1}


def event(tenant: str, event_id: str) -> Event:
    return Event(0, tenant, event_id, "page.view", "1.2", "u", "s", "10.0.0.1", 0, "standard", 1, None, 0, 0)


# -- the suffix -----------------------------------------------------------------------------------


def test_the_suffix_is_the_events_own_and_spreads_evenly() -> None:
    ids = [f"evt_{i:016x}" for i in range(20_000)]
    assert [shard_suffix(i, 10) for i in ids[:50]] == [
        shard_suffix(i, 10) for i in ids[:50]
    ]  # a resend: the same
    counts = Counter(shard_suffix(i, 10) for i in ids)
    assert set(counts) == set(range(10))
    assert max(counts.values()) < 1.1 * min(counts.values())
    fields = suffix_fields({"whale": 10})
    assert fields(event("whale", ids[3])) == {"shard_suffix": shard_suffix(ids[3], 10)}
    assert fields(event("t00001", ids[3])) == {"shard_suffix": 0}  # every other tenant: one value


# -- the events collection on another key --------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "idempotency"),
    [
        ({"tenant_id": 1}, {"tenant_id": 1, "event_time": 1, "event_id": 1}),  # already starts with it
        ({"tenant_id": 1, "event_time": 1}, {"tenant_id": 1, "event_time": 1, "event_id": 1}),
        ({"event_id": "hashed"}, {"event_id": 1, "tenant_id": 1, "event_time": 1}),
        (SUFFIXED, {"tenant_id": 1, "shard_suffix": 1, "event_time": 1, "event_id": 1}),
    ],
)
def test_unique_indexes_start_with_the_variant_key(key: dict[str, Any], idempotency: dict[str, Any]) -> None:
    base = load_collections("platform").collection("events")
    spec = base.sharded_on(key)
    assert spec.shard_key == key and list(spec.shard_key) == list(key)
    index = next(i for i in spec.indexes if i.index_name == "idempotency")
    assert dict(index.key) == idempotency and list(index.key) == list(idempotency) and index.unique
    assert spec.unique_index_problems() == []  # what MongoDB would refuse
    assert idempotency_key(spec) == tuple(idempotency)  # how a duplicate's keyPattern is recognised
    others = [(i.index_name, dict(i.key)) for i in spec.indexes if not i.unique]
    assert others == [(i.index_name, dict(i.key)) for i in base.indexes if not i.unique]  # untouched


# -- the initial chunks ---------------------------------------------------------------------------


def test_the_whale_suffixes_are_dealt_over_the_shards_and_everyone_else_stays() -> None:
    base = zone_ranges(SUFFIXED, SHARDS, tenants=8, chunks_per_shard=2)
    zones = events_zones(SUFFIXED, SHARDS, 8, 2, {"whale": 4})
    assert [z.zone for z in zones[:3]] == [z.zone for z in base[:3]]
    last = base[3]  # [t00007, MaxKey): "whale" sorts after every t-name
    cut = zones[3:]
    w = "whale"
    assert [(dict(z.min), dict(z.max), z.zone) for z in cut] == [
        (dict(last.min), {"tenant_id": w, "shard_suffix": MinKey(), "event_time": MinKey()}, last.zone),
        ({"tenant_id": w, "shard_suffix": MinKey(), "event_time": MinKey()},
         {"tenant_id": w, "shard_suffix": 1, "event_time": MinKey()}, "shard1"),
        ({"tenant_id": w, "shard_suffix": 1, "event_time": MinKey()},
         {"tenant_id": w, "shard_suffix": 2, "event_time": MinKey()}, "shard2"),
        ({"tenant_id": w, "shard_suffix": 2, "event_time": MinKey()},
         {"tenant_id": w, "shard_suffix": 3, "event_time": MinKey()}, "shard1"),
        ({"tenant_id": w, "shard_suffix": 3, "event_time": MinKey()},
         {"tenant_id": w, "shard_suffix": MaxKey(), "event_time": MaxKey()}, "shard2"),
        ({"tenant_id": w, "shard_suffix": MaxKey(), "event_time": MaxKey()}, dict(last.max), last.zone),
    ]  # fmt: skip
    # Contiguous, covering the whole key space, in shard key order.
    assert all(a.max == b.min for a, b in itertools.pairwise(zones))
    assert dict(zones[0].min) == {"tenant_id": MinKey(), "shard_suffix": MinKey(), "event_time": MinKey()}
    assert dict(zones[-1].max) == {"tenant_id": MaxKey(), "shard_suffix": MaxKey(), "event_time": MaxKey()}
    assert {zone_of(zones, w, s) for s in range(4)} == set(SHARDS)
    assert zone_of(zones, "t00008") == last.zone


def test_a_tenant_starting_its_range_and_keys_that_cannot_carry_a_suffix() -> None:
    base = zone_ranges(SUFFIXED, SHARDS, tenants=8, chunks_per_shard=2)
    starts = base[1].min["tenant_id"]  # a tenant that starts a range has nothing before it there
    cut = split_tenant(base, SUFFIXED, starts, 2, SHARDS)
    assert len(cut) == len(base) + 2 and cut[1].min == base[1].min
    # Nothing to cut: no suffix second, a hashed key, one part. The ranges are left as they are.
    capstone = {"tenant_id": 1, "event_time": 1}
    assert events_zones(capstone, SHARDS, 8, 2, {"whale": 4}) == zone_ranges(capstone, SHARDS, 8, 2)
    assert (
        split_tenant(base, {"tenant_id": 1, "event_time": 1, "shard_suffix": 1}, "whale", 4, SHARDS) == base
    )
    assert split_tenant(base, SUFFIXED, "whale", 1, SHARDS) == base
    assert events_zones({"event_id": "hashed"}, SHARDS, 8, 2, {}) == []
