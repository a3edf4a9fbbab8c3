"""Sustained event storage with and without retention: the unbounded-growth case study on Redis.

Every event is stored as one key ``evt:{t:<tenant>}:<n>`` with a ``payload_bytes`` value. The
retention class says each lives ``retention_ms``; ``expire=True`` enforces it (``SET k v PX ttl``),
``expire=False`` is the case study's bug (``SET k v``: nothing is ever deleted). Writes are
recorded as ``ttl_write`` (invoke ``key``, ``ttl_ms`` = the class's retention, ``now_ms``, and
``expire`` = whether the command set it), so the ``retention`` checker judges the policy whether or
not the code enforced it. Beside the writes:

* a **checker** thread, every ``check_every_s``, reads back (``EXISTS``, one ``key_read`` op: ``keys``,
  ``now_ms``; ``ok`` ``value`` = the keys found) up to 50 keys whose write was acknowledged more
  than ``retention_ms + grace_ms`` ago: with retention none may be found;
* a **sampler** on the observer path, once a second: the master's ``used_memory`` and ``DBSIZE``.

A write refused because the server reached ``maxmemory`` (``OOM command not allowed``) completes
``fail`` and is counted (``oom_refusals``): the point where growth becomes an outage.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis

from harness.clients.redis_router import SlotRouter, failed
from harness.clock import RunClock
from harness.history.recorder import HistoryRecorder
from harness.metrics.trend import slope_per_s
from harness.ops import OpType
from harness.workload.engine.openloop import DriverStats, Progress, run_schedule
from harness.workload.engine.profile import RateProfile

PROCESS = "growth"
CHECK_KEYS = 50  # keys per retention read
FINAL_KEYS = 500  # the oldest keys, read back once the run is over


@dataclass(frozen=True)
class GrowthConfig:
    rate: float
    duration_s: float
    tenants: int
    retention_ms: int
    expire: bool
    payload_bytes: int = 512
    grace_ms: int = 1000  # Redis expires lazily and by sampling: a key may linger this long unread
    check_every_s: float = 0.5
    max_batch: int = 400
    drain_s: float = 5.0
    profile: RateProfile | None = None


@dataclass
class MemorySample:
    t_s: float
    used_memory: int
    keys: int


@dataclass
class GrowthStats:
    stored: int = 0  # writes acknowledged
    oom_refusals: int = 0
    checks: int = 0
    samples: list[MemorySample] = field(default_factory=list)


class GrowthDriver:
    def __init__(
        self,
        router: SlotRouter,
        recorder: HistoryRecorder,
        clock: RunClock,
        cfg: GrowthConfig,
        variant: str,
        rng: random.Random,
    ) -> None:
        self.router = router
        self.rec = recorder
        self.clock = clock
        self.cfg = cfg
        self.variant = variant
        self.rng = rng
        self.stats = DriverStats()
        self.growth = GrowthStats()
        self.written: deque[tuple[int, str]] = deque()  # (acknowledged at ns, key), oldest first
        self._lock = threading.Lock()
        self._payload = b"x" * cfg.payload_bytes
        self._first: list[str] = []  # the first keys stored: read back last (final_keys)

    def run(self, on_progress: Progress | None = None) -> DriverStats:
        return run_schedule(self.clock, self.cfg, stats=self.stats, send=self._send, on_progress=on_progress)

    def _send(self, first_seq: int, sched: list[int], _backlog: list[Any]) -> None:
        cfg, rec = self.cfg, self.rec
        keys = [f"evt:{{t:{self.rng.randrange(cfg.tenants):05d}}}:{first_seq + i}" for i in range(len(sched))]
        ttl = ("PX", cfg.retention_ms) if cfg.expire else ()
        now_ns = self.clock.now_ns()
        now_ms = self.clock.wall_ms_at(now_ns)
        ops = [
            rec.invoke(
                PROCESS,
                "ttl_write",
                time_ns=now_ns,
                key=k,
                ttl_ms=cfg.retention_ms,
                now_ms=now_ms,
                expire=cfg.expire,
                variant=self.variant,
                sched_ns=s,
            )
            for k, s in zip(keys, sched, strict=True)
        ]
        replies = self.router.execute([("SET", k, self._payload, *ttl) for k in keys], keys)
        for key, op, reply in zip(keys, ops, replies, strict=True):
            extra: dict[str, Any] = {} if reply.outcome is OpType.OK else {"error": str(reply.value)}
            self.rec.complete(op, reply.outcome, PROCESS, "ttl_write", time_ns=reply.done_ns, **extra)
            self.stats.outcomes[reply.outcome.value] += 1
            if reply.outcome is OpType.OK:
                self.growth.stored += 1
                self.stats.admitted += 1
                with self._lock:
                    self.written.append((reply.done_ns, key))
                if len(self._first) < FINAL_KEYS:
                    self._first.append(key)
            elif "maxmemory" in str(reply.value):  # OutOfMemoryError: used memory > maxmemory
                self.growth.oom_refusals += 1

    # -- beside the writes ------------------------------------------------------------------------
    def check_loop(self, router: SlotRouter, stop: threading.Event) -> None:
        """Reads back keys past their retention until ``stop`` (its own router: a thread of its own)."""
        cfg = self.cfg
        while not stop.wait(cfg.check_every_s):
            due_ns = self.clock.now_ns() - (cfg.retention_ms + cfg.grace_ms) * 1_000_000
            keys: list[str] = []
            with self._lock:  # a sample of what came due since the last look: its oldest keys
                while self.written and self.written[0][0] <= due_ns:
                    _, key = self.written.popleft()
                    if len(keys) < CHECK_KEYS:
                        keys.append(key)
            if keys:
                self.read_keys(router, keys, "key_read")

    def read_keys(self, router: SlotRouter, keys: list[str], f: str) -> bool:
        """One ``EXISTS`` per key, recorded as one op; True when every reply came back ok."""
        now_ns = self.clock.now_ns()
        op = self.rec.invoke(
            PROCESS, f, time_ns=now_ns, keys=keys, now_ms=self.clock.wall_ms_at(now_ns), variant=self.variant
        )
        replies = router.execute([("EXISTS", k) for k in keys], keys)
        done = max(r.done_ns for r in replies)
        bad = failed(replies)
        if bad is not None:
            self.rec.complete(op, bad[0], PROCESS, f, time_ns=done, error=bad[1])
            return False
        found = [k for k, r in zip(keys, replies, strict=True) if r.value]
        self.rec.complete(op, OpType.OK, PROCESS, f, time_ns=done, value=found)
        self.growth.checks += 1
        return True

    def sample_loop(
        self, masters: dict[str, redis.Redis], stop: threading.Event, t0: Callable[[], float]
    ) -> None:
        """The masters' memory and key count (summed) once a second, until ``stop``."""
        while True:
            with contextlib.suppress(redis.RedisError, OSError):  # a missed sample is a gap
                used = sum(int(a.info("memory")["used_memory"]) for a in masters.values())
                keys = sum(int(a.dbsize()) for a in masters.values())
                self.growth.samples.append(MemorySample(round(t0(), 3), used, keys))
            if stop.wait(1.0):
                return

    def first_keys(self) -> list[str]:
        return list(self._first)


def growth_summary(g: GrowthStats, retention_ms: int, expire: bool) -> dict[str, Any]:
    """The figures of one variant: memory and keys over time, the growth slope over the run's
    second half, memory per stored key, and that size at the capstone's 1B events a day."""
    s = g.samples
    out: dict[str, Any] = {
        "expire": expire,
        "retention_ms": retention_ms,
        "stored": g.stored,
        "oom_refusals": g.oom_refusals,
        "retention_reads": g.checks,
        "series": [(x.t_s, x.used_memory, x.keys) for x in s],
    }
    if len(s) < 2:
        return out
    peak = max(s, key=lambda x: x.used_memory)
    per_key = (
        (peak.used_memory - s[0].used_memory) / (peak.keys - s[0].keys) if peak.keys > s[0].keys else None
    )
    out |= {
        "used_memory_start": s[0].used_memory,
        "used_memory_end": s[-1].used_memory,
        "used_memory_peak": peak.used_memory,
        "keys_end": s[-1].keys,
        "keys_peak": max(x.keys for x in s),
        "slope_bytes_per_s_second_half": slope_per_s([(x.t_s, x.used_memory) for x in s[len(s) // 2 :]]),
        # at the capstone's 1B events a day, bytes a key is also GB written a day
        "bytes_per_key": round(per_key, 1) if per_key is not None else None,
    }
    return out
