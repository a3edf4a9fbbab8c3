"""The pure parts of the hot-read cache (:mod:`harness.workload.redis_plane.cache`): its variants'
names, its configuration, the key builders, XFetch's recompute decision, the default reading of
which tenant(s) a value belongs to, and :class:`CacheStats`, which counts loader calls per key per
expiry: the loads that started while the key was empty (or due for recomputation) before the first
of them filled it form one burst, whose size is the stampede size. No server, no recording.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.workload.model.keys import KeyScheme

Variant = Literal["cache_aside", "mutex", "early_expiration", "background_refresh"]
VARIANTS: tuple[Variant, ...] = ("cache_aside", "mutex", "early_expiration", "background_refresh")


def cache_key(keys: KeyScheme, tenant: str, name: str = "dashboard") -> str:
    return f"cache:{keys.tag(tenant, 0)}:{name}"


def lock_key(keys: KeyScheme, tenant: str, name: str = "dashboard") -> str:
    return f"lock:{keys.tag(tenant, 0)}:{name}"


def xfetch_recompute(now_ms: float, delta_ms: float, expiry_ms: float, beta: float, u: float) -> bool:
    """XFetch's decision: recompute when ``now - delta·beta·ln(u) >= expiry``, ``u`` in (0, 1].

    ``-ln(u)`` is exponentially distributed, so the chance to recompute at ``t`` ms before expiry is
    ``exp(-t / (delta·beta))``: negligible far from expiry, 1 at and after it. A larger ``beta``
    (or a slower computation) starts earlier."""
    if u <= 0.0:
        return True  # ln(0) = -inf: the limit of the formula
    return now_ms - delta_ms * beta * math.log(u) >= expiry_ms


def default_tenants_of(value: Any) -> list[str] | None:
    if isinstance(value, dict) and isinstance(value.get("tenant"), str):
        return [value["tenant"]]
    return None


@dataclass(frozen=True)
class CacheConfig:
    ttl_ms: int = 5_000  # logical lifetime of a cached value
    grace_ms: int = 5_000  # early_expiration / background_refresh: PX = ttl_ms + grace_ms
    lock_ms: int = 2_000  # mutex: the lock's PX
    lock_wait_ms: int = 1_000  # mutex: how long a loser polls before it fails
    poll_ms: int = 10  # mutex: a loser's wait between polls
    beta: float = 1.0  # early_expiration: XFetch's beta
    refresh_ahead_ms: int = 1_000  # background_refresh: reload when PTTL is below this
    refresh_interval_ms: int = 100  # background_refresh: the refresher's loop period
    max_hot: int = 1_000  # background_refresh: at most this many keys kept fresh

    def __post_init__(self) -> None:
        if min(self.ttl_ms, self.lock_ms, self.poll_ms, self.refresh_interval_ms, self.max_hot) < 1:
            raise ValueError("ttl_ms, lock_ms, poll_ms, refresh_interval_ms and max_hot must be positive")
        if self.grace_ms < 0 or self.lock_wait_ms < 0 or self.beta <= 0:
            raise ValueError("grace_ms and lock_wait_ms cannot be negative, beta must be positive")


@dataclass
class CacheStats:
    """Loader calls per key, grouped into bursts (one burst = the loads of one expiry)."""

    bursts: dict[str, list[int]] = field(default_factory=dict)
    reader_loads: int = 0  # loads run by cache_get calls
    refresher_loads: int = 0
    misses: int = 0
    lock_lost: int = 0
    lock_timeouts: int = 0
    early: int = 0
    _open: set[str] = field(default_factory=set)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def load_started(self, key: str, by_reader: bool) -> None:
        with self.cond:
            if key not in self._open:
                self._open.add(key)
                self.bursts.setdefault(key, []).append(0)
            self.bursts[key][-1] += 1
            if by_reader:
                self.reader_loads += 1
            else:
                self.refresher_loads += 1
            self.cond.notify_all()

    def filled(self, key: str) -> None:
        with self.cond:
            self._open.discard(key)
            self.cond.notify_all()

    def bump(self, name: str) -> None:
        with self.cond:
            setattr(self, name, getattr(self, name) + 1)
            self.cond.notify_all()

    def wait_for(self, predicate: Callable[[CacheStats], bool], timeout_s: float) -> bool:
        """Blocks until ``predicate(self)`` holds (a readiness check for tests and loaders)."""
        with self.cond:
            return self.cond.wait_for(lambda: predicate(self), timeout_s)

    def stampede(self, key: str) -> int:
        """The largest burst of loads for ``key`` (0 when never loaded)."""
        with self.cond:
            return max(self.bursts.get(key, [0]))

    def figures(self) -> dict[str, Any]:
        """The counts and the origin's load per expiry, for metrics.json: ``expiries`` is the
        number of bursts over every key (each fill of an empty or due key, a cold first load
        included), ``loads_per_expiry_mean`` the loads per burst (1.0: no stampede; None: never
        loaded), ``max_stampede`` the largest burst."""
        with self.cond:
            sizes = [n for per_key in self.bursts.values() for n in per_key]
            return {
                "reader_loads": self.reader_loads,
                "refresher_loads": self.refresher_loads,
                "misses": self.misses,
                "lock_timeouts": self.lock_timeouts,
                "early": self.early,
                "expiries": len(sizes),
                "loads_per_expiry_mean": sum(sizes) / len(sizes) if sizes else None,
                "max_stampede": max(sizes, default=0),
            }
