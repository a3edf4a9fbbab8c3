"""Initial chunks for collections sharded on a ranged ``tenant_id`` prefix, made before any write.

Why: since 6.0.3 nothing splits chunks as data arrives (the autosplitter is gone) and the balancer
weighs data size, moving data only once shards differ by three chunk sizes (3 x 128 MB). A ranged
collection sharded while empty is one chunk on its primary shard and stays there for a whole run:
the other shards idle and the per-shard figures say nothing about the shard key.

How: zones defined before ``shardCollection``. For an empty collection with zone ranges,
``shardCollection`` creates one chunk per range directly on the range's shard (the server's
SingleChunkPerTagSplitPolicy), so no chunk has to migrate. ``split`` + ``moveRange`` would reach
the same layout with one migration per chunk (critical section, range deletion) on a machine with
two cores; ``configureCollectionBalancing {chunkSize: 1}`` would have the balancer migrate data
*during* the run, in the middle of the faults being measured. The ranges stay in place: a
tenant's data never moves mid-run, and ``drop`` (the reset between variants) removes them.

The tenant space t00001..tNNNNN is cut into ``chunks_per_shard`` ranges per shard of equal tenant
count, dealt to the shards in turn, so each shard holds as many tenants as another and both hot
(low-numbered: the Zipf head) and cold ones. Names sort as strings, which is also how MongoDB
orders them; a whale (``whale``) sorts after every ``t...`` name, into the last range.

A hot tenant write-sharded by a suffix in the key (``{tenant_id: 1, shard_suffix: 1, ...}``, the
hot-partition case study's fix) gets its own suffixes cut out of its range and dealt to the shards
in turn (:func:`split_tenant`), so its writes are spread from the first one.

Hashed shard keys need none of this: on an empty collection ``shardCollection`` already spreads
chunks over all shards (two per shard in 7.0, one since 7.2, where ``numInitialChunks`` became
deprecated and ignored).
``presplitHashedZones`` is not sent for a compound key hashed after ``tenant_id``: it refuses a
zone whose lower bound is MinKey, which the first range must be.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bson import SON
from bson.max_key import MaxKey
from bson.min_key import MinKey

from harness.workload.model.tenants import tenant_name

TENANT_FIELD = "tenant_id"
#: A hot tenant's write-sharding suffix in a shard key (:func:`split_tenant`).
SUFFIX_FIELD = "shard_suffix"


@dataclass(frozen=True)
class ZoneRange:
    min: SON[str, Any]  # inclusive, every shard key field
    max: SON[str, Any]  # exclusive
    zone: str  # one zone per shard, named after it


def presplittable(shard_key: Mapping[str, Any]) -> bool:
    """A shard key whose first field is a ranged ``tenant_id``."""
    first = next(iter(shard_key.items()), None)
    return first == (TENANT_FIELD, 1)


@functools.lru_cache(maxsize=8)  # the same for every collection of a deployment
def tenant_starts(tenants: int, ranges: int) -> tuple[str, ...]:
    """The first tenant of every range but the first: ``ranges`` ranges of equal tenant count
    (within one) in string order."""
    names = [tenant_name(i) for i in range(1, tenants + 1)]
    if tenants > 99_999:  # t100000 sorts before t10001: string order is the server's order
        names.sort()
    return tuple(names[i * tenants // ranges] for i in range(1, ranges))


def zone_ranges(
    shard_key: Mapping[str, Any], shards: Sequence[str], tenants: int, chunks_per_shard: int
) -> list[ZoneRange]:
    """The ranges covering the whole key space, dealt to ``shards`` in turn; none when the key is
    not presplittable or there is nothing to spread (one shard, one tenant)."""
    ranges = min(len(shards) * chunks_per_shard, tenants)
    if not presplittable(shard_key) or len(shards) < 2 or ranges < 2:
        return []
    fields = list(shard_key)

    def bound(first: Any, rest: Any) -> SON[str, Any]:
        return SON([(fields[0], first), *((f, rest) for f in fields[1:])])

    starts = [bound(t, MinKey()) for t in tenant_starts(tenants, ranges)]
    lows = [bound(MinKey(), MinKey()), *starts]
    highs = [*starts, bound(MaxKey(), MaxKey())]
    return [
        ZoneRange(lo, hi, shards[i % len(shards)]) for i, (lo, hi) in enumerate(zip(lows, highs, strict=True))
    ]


def _first_below(a: Any, b: Any) -> bool:
    """``a < b`` for a shard key's first field as the server orders it: MinKey first, MaxKey last."""
    if isinstance(a, MaxKey) or isinstance(b, MinKey):
        return False
    if isinstance(a, MinKey) or isinstance(b, MaxKey):
        return True
    return bool(a < b)


def split_tenant(
    ranges: Sequence[ZoneRange],
    shard_key: Mapping[str, Any],
    tenant: str,
    parts: int,
    shards: Sequence[str],
    suffix: str = SUFFIX_FIELD,
) -> list[ZoneRange]:
    """``ranges`` with ``tenant``'s own keys cut into ``parts`` ranges by its write-sharding
    ``suffix`` (values 0..parts-1), suffix ``s`` dealt to ``shards[s % len(shards)]``: the
    hot-partition case study's fix, so a whale's suffixes live on every shard from the first
    write. What the range held besides the tenant keeps its zone. Needs a key ``{tenant_id: 1,
    <suffix>: 1, ...}``; with nothing to cut (another key, one part, no range holding the tenant)
    ``ranges`` is returned as it is."""
    fields = list(shard_key)
    if parts < 2 or fields[1:2] != [suffix] or not presplittable(shard_key) or shard_key[suffix] != 1:
        return list(ranges)

    def bound(suffix: Any, rest: Any) -> SON[str, Any]:
        return SON([(fields[0], tenant), (fields[1], suffix), *((f, rest) for f in fields[2:])])

    out: list[ZoneRange] = []
    for r in ranges:
        lo, hi = r.min[fields[0]], r.max[fields[0]]
        if _first_below(tenant, lo) or not _first_below(tenant, hi):  # [lo, hi) does not hold it
            out.append(r)
            continue
        if lo != tenant:  # the tenants before it stay where they were
            out.append(ZoneRange(r.min, bound(MinKey(), MinKey()), r.zone))
        cuts = [bound(MinKey(), MinKey()), *(bound(s, MinKey()) for s in range(1, parts))]
        ends = [*cuts[1:], bound(MaxKey(), MaxKey())]
        out += [
            ZoneRange(a, b, shards[s % len(shards)]) for s, (a, b) in enumerate(zip(cuts, ends, strict=True))
        ]
        out.append(ZoneRange(bound(MaxKey(), MaxKey()), r.max, r.zone))
    return out
