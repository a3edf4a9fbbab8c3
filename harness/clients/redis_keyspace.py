"""Filler keys that give a Redis server a keyspace of steady size before a measurement, and the
state of its keyspace tables read from ``MEMORY STATS``.

Why: started empty, a capacity search doubles the keyspace five times (16k to 262k keys), and at
each doubling Redis grows its main and expires tables and rehashes them incrementally; the step
that crossed 262,144 keys cost the server 22.5 us an event against 21.0 around it, and at the
knee's rate that failed the third repeat of every search one morning (README "Capacity
validation"). A production server holds millions of keys and seldom doubles. The filler keys
carry a TTL (so the expires table grows with the main one) and a prefix no key class matches.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis

FILLER_PREFIX = "capacity-filler:"
_CHUNK = 50_000  # keys per script call: about a tenth of a second of server time uncapped
_SWEEPS = 3  # lookups over every filler key at most, each moving the rehash on by as many buckets

_FILL = """
local first, n = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = first, first + n - 1 do
  redis.call('SET', KEYS[1] .. i, '1', 'EX', ARGV[3])
end
return n
"""
# Every lookup while a table is rehashing moves one bucket of it (dictFind's rehash step), and
# EXISTS looks a key up in both tables: a sweep finishes in seconds what serverCron's 1 ms per
# 100 ms takes 15 s for at 1.1M keys (measured).
_TOUCH = """
local first, n = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = first, first + n - 1 do
  redis.call('EXISTS', KEYS[1] .. i)
end
return n
"""

# Redis 7.0 and 7.2 (64-bit) report a table's overhead as entries x sizeof(dictEntry) (+ a robj
# per key for the main table) + buckets x a pointer; other versions differ, and then the buckets
# derived are not of the two shapes below and the state is reported unknown.
_ENTRY, _ROBJ, _PTR = 24, 16, 8


@dataclass(frozen=True)
class Table:
    buckets: int | None  # None: not derivable on this server version
    rehashing: bool | None  # None: unknown

    def to_dict(self) -> dict[str, Any]:
        return {"buckets": self.buckets, "rehashing": self.rehashing}


def table_state(overhead: int, entries: int, per_entry: int) -> Table:
    """A table's buckets from its reported overhead: a power of two when settled, the sum of two
    (the old table and the new one) while rehashing, anything else: not this version's formula."""
    rest = overhead - entries * per_entry
    if rest <= 0 or rest % _PTR:
        return Table(None, None)
    buckets = rest // _PTR
    bits = bin(buckets).count("1")
    if bits > 2:
        return Table(None, None)
    return Table(buckets, bits == 2)


def tables(admin: redis.Redis) -> dict[str, Table]:
    """db0's main and expires tables, from ``MEMORY STATS`` and ``INFO keyspace``."""
    db = admin.memory_stats().get("db.0") or {}
    ks = admin.info("keyspace").get("db0") or {}
    keys, expires = int(ks.get("keys", 0)), int(ks.get("expires", 0))
    return {
        "main": table_state(int(db.get("overhead.hashtable.main", 0)), keys, _ENTRY + _ROBJ),
        "expires": table_state(int(db.get("overhead.hashtable.expires", 0)), expires, _ENTRY),
    }


def prefill(admin: redis.Redis, keys: int, ttl_s: int) -> dict[str, Any]:
    """Writes ``keys`` filler keys (TTL ``ttl_s``), then looks them up until neither table is
    rehashing (at most :data:`_SWEEPS` sweeps): what it wrote, what it cost the server's memory,
    how long it took and the tables' final state."""
    start = time.monotonic()
    used0 = int(admin.info("memory")["used_memory"])
    for first in range(0, keys, _CHUNK):
        admin.eval(_FILL, 1, FILLER_PREFIX, first, min(_CHUNK, keys - first), ttl_s)
    state = tables(admin)
    sweeps = 0
    # where the state cannot be read (another version's MEMORY STATS), one sweep all the same
    while sweeps < _SWEEPS and any(
        t.rehashing or (t.rehashing is None and sweeps == 0) for t in state.values()
    ):
        for first in range(0, keys, _CHUNK):
            admin.eval(_TOUCH, 1, FILLER_PREFIX, first, min(_CHUNK, keys - first))
        sweeps += 1
        state = tables(admin)
    settled = all(t.rehashing is False for t in state.values())
    unknown = any(t.rehashing is None for t in state.values())
    return {
        "keys": keys,
        "ttl_s": ttl_s,
        "prefix": FILLER_PREFIX,
        "used_memory": int(admin.info("memory")["used_memory"]) - used0,
        "seconds": round(time.monotonic() - start, 1),
        "sweeps": sweeps,
        "tables": {k: t.to_dict() for k, t in state.items()},
        "settled": True if settled else (None if unknown else False),
    }
