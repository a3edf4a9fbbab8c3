"""The background refresher of the hot-read cache's ``background_refresh`` variant
(:mod:`harness.workload.redis_plane.cache`): one daemon thread that reloads the keys readers found
hot before they expire, so readers never load.

Ops recorded (process ``cache-refresher``): ``cache_refresh`` — invoke ``tenant``, ``key``,
``cache``, ``variant``; ``ok`` with ``refreshed`` (whether it reloaded) and ``tenants`` (of the
value loaded). Redis errors map through :func:`harness.clients.outcomes.outcome_of`; a loader
error is ``info`` (retried on the next pass).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import redis

from harness.clients.outcomes import describe, outcome_of
from harness.ops import OpType

if TYPE_CHECKING:
    from harness.workload.redis_plane.cache import Cache

REFRESHER = "cache-refresher"


class BackgroundRefresher:
    """One daemon thread that keeps registered (hot) keys filled: a key whose PTTL is below
    ``refresh_ahead_ms`` (or that is missing) is reloaded and set with PX ``ttl_ms + grace_ms``.

    :meth:`refresh_once` is one pass of the loop, callable directly so tests need no thread."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self._hot: dict[str, None] = {}  # insertion-ordered set of tenants
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0  # registrations refused because max_hot keys are already kept
        self.errors = 0

    def register(self, tenant: str) -> None:
        with self._lock:
            if tenant in self._hot:
                return
            if len(self._hot) >= self.cache.cfg.max_hot:
                self.dropped += 1
                return
            self._hot[tenant] = None

    def hot(self) -> list[str]:
        with self._lock:
            return list(self._hot)

    def refresh_once(self) -> int:
        """Reloads every hot key due for it; returns how many were reloaded."""
        c = self.cache
        done = 0
        for tenant in self.hot():
            key = c.key(tenant)
            op = c.rec.invoke(
                REFRESHER, "cache_refresh", tenant=tenant, key=key, cache=c.variant, variant=c.run_variant
            )
            try:
                pttl = int(c.client.pttl(key))  # -2: missing, -1: no expiry (not ours to renew)
                if pttl == -1 or pttl >= c.cfg.refresh_ahead_ms:
                    c.rec.complete(op, OpType.OK, REFRESHER, "cache_refresh", refreshed=False)
                    continue
                value = c.load_and_fill(tenant, key, c.cfg.ttl_ms + c.cfg.grace_ms, by_reader=False)
            except (redis.RedisError, OSError) as exc:
                self.errors += 1
                c.rec.complete(op, outcome_of(exc), REFRESHER, "cache_refresh", error=describe(exc))
                continue
            except Exception as exc:  # the loader's failure: retried on the next pass
                self.errors += 1
                c.rec.complete(op, OpType.INFO, REFRESHER, "cache_refresh", error=describe(exc))
                continue
            fields: dict[str, Any] = {"refreshed": True}
            tenants = c.tenants_of(value)
            if tenants is not None:
                fields["tenants"] = tenants
            c.rec.complete(op, OpType.OK, REFRESHER, "cache_refresh", **fields)
            done += 1
        return done

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="cache-refresher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        period = self.cache.cfg.refresh_interval_ms / 1000
        while not self._stop.is_set():
            self.refresh_once()
            self._stop.wait(period)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
