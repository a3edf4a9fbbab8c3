"""Redis key design for the per-tenant limiter and per-minute counters, plain or write-sharded.

Keys of one tenant share the hash tag ``{t:<tenant>}`` so the capstone's multi-key reads (MGET of
the last five minute buckets) stay on one slot: this is exactly what puts a whale tenant on one
master (case study 1). A write-sharded tenant gets N tags ``{t:<tenant>#<i>}``, spreading its keys
over slots and masters; reads gather all N, and its limit is split N ways.

The ingest path's HyperLogLog and timeline keys carry the same tag as the event's limiter and
counter keys, so the whole per-event script touches one slot. For a write-sharded tenant the shard
is chosen by user (:meth:`KeyScheme.user_shard`): a user's timeline then lives in one key (a read is
one ``ZREVRANGE``) and the N hourly HyperLogLogs hold disjoint sets of users, so the tenant's active
users are the *sum* of the N ``PFCOUNT`` s (no cross-slot ``PFMERGE`` needed).

An optional ``prefix`` goes before every key (Locust's ``--key-prefix``: a namespace per run on
servers others share); it holds no braces, so the hash tag stays the tenant's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


def hour_bucket(epoch_ms: int) -> str:
    """``YYYYMMDDHH`` in UTC, the capstone's unique-users bucket."""
    return time.strftime("%Y%m%d%H", time.gmtime(epoch_ms / 1000))


def minute_bucket(epoch_ms: int) -> str:
    """``YYYYMMDDHH:MM`` in UTC, the capstone's counter bucket."""
    return time.strftime("%Y%m%d%H:%M", time.gmtime(epoch_ms / 1000))


@dataclass(frozen=True)
class KeyScheme:
    sharded: dict[str, int]  # tenant -> number of write shards (absent = 1)
    prefix: str = ""  # before every key: a namespace per run where others share the servers (Locust)

    def __post_init__(self) -> None:
        if "{" in self.prefix or "}" in self.prefix:
            raise ValueError(f"key prefix {self.prefix!r}: braces would change every key's hash tag")

    def shards(self, tenant: str) -> int:
        return self.sharded.get(tenant, 1)

    def tag(self, tenant: str, shard: int) -> str:
        return f"{{t:{tenant}}}" if self.shards(tenant) == 1 else f"{{t:{tenant}#{shard}}}"

    def limiter_key(self, tenant: str, shard: int) -> str:
        return f"{self.prefix}ratelimit:{self.tag(tenant, shard)}:events"

    def counter_key(self, tenant: str, shard: int, epoch_ms: int) -> str:
        return f"{self.prefix}counter:{self.tag(tenant, shard)}:events:{minute_bucket(epoch_ms)}"

    def hll_key(self, tenant: str, shard: int, epoch_ms: int) -> str:
        """``unique:{t:<tenant>}:users:<YYYYMMDDHH>``, the hourly active-users HyperLogLog."""
        return f"{self.prefix}unique:{self.tag(tenant, shard)}:users:{hour_bucket(epoch_ms)}"

    def timeline_key(self, tenant: str, shard: int, user: str) -> str:
        """``timeline:{t:<tenant>}:<user>``, the user's recent events (sorted set by event time)."""
        return f"{self.prefix}timeline:{self.tag(tenant, shard)}:{user}"

    def user_timeline_key(self, tenant: str, user: str) -> str:
        """The timeline ``user``'s events go to (on the user's shard for a write-sharded tenant)."""
        return self.timeline_key(tenant, self.user_shard(tenant, user), user)

    def user_shard(self, tenant: str, user: str) -> int:
        """The write shard of ``user``'s events: stable across processes (FNV-1a, not ``hash``)."""
        n = self.shards(tenant)
        if n == 1:
            return 0
        h = 2166136261
        for ch in user.encode():
            h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
        return h % n

    def shard_limit(self, tenant: str, limit: int) -> int:
        """Each of N shards admits ceil(limit / N): the group can admit up to N × that per window
        (the documented cost of sharding a limiter without coordination)."""
        n = self.shards(tenant)
        return -(-limit // n)
