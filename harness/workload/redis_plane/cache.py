"""The hot-read cache of the query service with the cache-stampede case study's four variants.

One cached value per tenant (the dashboard query result, or whatever ``loader(tenant)`` returns),
stored as a JSON envelope ``{"v": value, "delta_ms": d, "expiry_ms": e}`` under
``cache:{t:<tenant>}:<name>`` (the tenant's hash tag, so the lock key sits on the same slot):

* ``cache_aside`` — naive: GET; on a miss load and ``SET PX``. Every reader that misses while the
  loader runs also loads: the stampede.
* ``mutex`` — on a miss ``SET lock NX PX``; the winner re-checks the key, loads, fills and releases
  the lock (compare-and-delete, so an expired lock taken over by another reader is not deleted).
  Losers poll the key every ``poll_ms`` for at most ``lock_wait_ms``. Decision: a loser that is still
  empty-handed then **fails** (``fail``, ``error="lock wait timed out"``) rather than loading: the
  variant exists to protect the database, and a fallback load under a slow loader is exactly the
  stampede again. ``lock_ms`` (the lock's PX) bounds how long a crashed winner blocks the key.
* ``early_expiration`` — XFetch (Vattani et al.): the envelope keeps the last compute time ``delta``
  and the logical expiry; a reader recomputes early when ``now - delta·beta·ln(u) >= expiry`` with
  ``u`` from a seeded RNG, so the probability grows as expiry nears and one reader, not all, renews.
  The Redis key's PX outlives the logical expiry by ``grace_ms`` so the early window exists.
* ``background_refresh`` — readers never load. A miss registers the tenant as hot and completes
  ``ok`` with ``result="miss"`` and no value; one background thread (:class:`BackgroundRefresher`,
  at most ``max_hot`` keys) reloads hot keys whose remaining PTTL is below ``refresh_ahead_ms``.
  A value read past its logical expiry (the refresher fell behind) is served as ``stale``.

Assumptions: ``client`` is a redis-py ``Redis`` or ``RedisCluster`` built without retries (a
retried SET could hide an unknown outcome), with ``decode_responses`` off or on (both handled);
``now_ms`` is a monotonic millisecond clock shared by every reader of one run (a :class:`RunClock`
by default; tests inject a controllable one); the loader's value is JSON-serialisable and
``tenants_of(value)`` says which tenant(s) the value belongs to (default: a dict's ``"tenant"``).

Ops recorded (process ``cache`` by default):

``cache_get`` — invoke: ``tenant``, ``key``, ``cache`` (the cache variant), ``variant`` (the
scenario variant the op belongs to, ``run_variant``; the checkers select ops by it). Completion
``ok``: ``result`` (``hit`` | ``miss`` | ``stale``), ``loaded`` (this call ran the loader),
``early`` (an XFetch early recomputation), ``tenants`` (from the value returned; absent when
nothing was returned, so the tenant-isolation checker counts it as no evidence). Redis errors map through
:func:`harness.clients.outcomes.outcome_of` (a timeout is ``info``); a loader error is ``info``;
a mutex loser out of patience is ``fail``.
``cache_refresh`` — the background refresher's reloads (process ``cache-refresher``): invoke
``tenant``, ``key``, ``cache``, ``variant``; ``ok`` with ``tenants``.

The pure parts (configuration, key builders, XFetch's decision, :class:`CacheStats`, which counts
loader calls per key per expiry as bursts: the stampede size) are in
:mod:`harness.workload.redis_plane.cache_parts`, re-exported here.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from redis.cluster import RedisCluster

from harness.clients.outcomes import describe, outcome_of
from harness.clock import RunClock
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.workload.model.keys import KeyScheme
from harness.workload.redis_plane.cache_parts import (
    VARIANTS,
    CacheConfig,
    CacheStats,
    Variant,
    cache_key,
    default_tenants_of,
    lock_key,
    xfetch_recompute,
)

__all__ = [
    "PROCESS",
    "REFRESHER",
    "VARIANTS",
    "BackgroundRefresher",
    "Cache",
    "CacheConfig",
    "CacheStats",
    "Loader",
    "LoaderError",
    "RedisClient",
    "Variant",
    "cache_key",
    "default_tenants_of",
    "lock_key",
    "xfetch_recompute",
]

Loader = Callable[[str], Any]
RedisClient = redis.Redis | RedisCluster

PROCESS = "cache"
REFRESHER = "cache-refresher"

#: Deletes the lock only if it still holds our token (a lock that expired and was taken by another
#: reader must not be released by the first winner).
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class _LockTimeout(Exception):
    pass


class LoaderError(Exception):
    """The loader raised (its cause is chained)."""


class Cache:
    """One variant of the hot-read cache. Thread safe when ``client`` is (redis-py's are)."""

    def __init__(
        self,
        client: RedisClient,
        recorder: HistoryRecorder,
        clock: RunClock,
        keys: KeyScheme,
        loader: Loader,
        variant: Variant,
        cfg: CacheConfig | None = None,
        *,
        rng: random.Random | None = None,
        now_ms: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        tenants_of: Callable[[Any], list[str] | None] = default_tenants_of,
        name: str = "dashboard",
        process: str = PROCESS,
        run_variant: str = "",
    ) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown cache variant {variant!r}; one of {', '.join(VARIANTS)}")
        self.client = client
        self.rec = recorder
        self.clock = clock
        self.keys = keys
        self.loader = loader
        self.variant: Variant = variant
        self.run_variant = run_variant
        self.cfg = cfg or CacheConfig()
        self.rng = rng or random.Random(0)
        self._rng_lock = threading.Lock()
        self.now_ms: Callable[[], float] = now_ms or (lambda: clock.now_ns() / 1e6)
        self.sleep = sleep
        self.tenants_of = tenants_of
        self.name = name
        self.process = process
        self.stats = CacheStats()
        self.refresher: BackgroundRefresher | None = None
        if variant == "background_refresh":
            self.refresher = BackgroundRefresher(self)

    # -- public ---------------------------------------------------------------------------------

    def key(self, tenant: str) -> str:
        return cache_key(self.keys, tenant, self.name)

    def get(self, tenant: str, sched_ns: int | None = None) -> Any:
        """The cached (or freshly loaded) value for ``tenant``; None on a background_refresh miss.
        ``sched_ns``: when an open-loop caller scheduled this read (latency is measured from it); a
        parameter, not an attribute, because concurrent readers share one cache.
        Raises after recording the op when it did not complete ``ok``."""
        key = self.key(tenant)
        sched = {} if sched_ns is None else {"sched_ns": sched_ns}
        op = self.rec.invoke(
            self.process,
            "cache_get",
            tenant=tenant,
            key=key,
            cache=self.variant,
            variant=self.run_variant,
            **sched,
        )
        try:
            result, loaded, early, value, found = self._get(tenant, key)
        except _LockTimeout as exc:
            self.stats.bump("lock_timeouts")
            self._complete(op, OpType.FAIL, error=str(exc))
            raise
        except (redis.RedisError, OSError) as exc:
            self._complete(op, outcome_of(exc), error=describe(exc))
            raise
        except Exception as exc:  # the loader's failure or a damaged envelope: nothing is known
            self._complete(op, OpType.INFO, error=describe(exc))
            raise
        fields: dict[str, Any] = {"result": result, "loaded": loaded, "early": early}
        tenants = self.tenants_of(value) if found else None
        if tenants is not None:
            fields["tenants"] = tenants
        self._complete(op, OpType.OK, **fields)
        return value

    def close(self) -> None:
        if self.refresher is not None:
            self.refresher.stop()

    # -- variants -------------------------------------------------------------------------------

    def _get(self, tenant: str, key: str) -> tuple[str, bool, bool, Any, bool]:
        """(result, loaded, early, value, found)."""
        env = self._read(key)
        if self.variant == "cache_aside":
            if env is not None:
                return "hit", False, False, env["v"], True
            self.stats.bump("misses")
            return "miss", True, False, self._load_and_fill(tenant, key, self.cfg.ttl_ms), True
        if self.variant == "mutex":
            if env is not None:
                return "hit", False, False, env["v"], True
            self.stats.bump("misses")
            return self._mutex_miss(tenant, key)
        if self.variant == "early_expiration":
            px = self.cfg.ttl_ms + self.cfg.grace_ms
            if env is None:
                self.stats.bump("misses")
                return "miss", True, False, self._load_and_fill(tenant, key, px), True
            with self._rng_lock:
                u = 1.0 - self.rng.random()  # (0, 1]
            if xfetch_recompute(self.now_ms(), env["delta_ms"], env["expiry_ms"], self.cfg.beta, u):
                # Past the logical expiry the formula always recomputes: that is a plain miss.
                expired = self.now_ms() >= env["expiry_ms"]
                self.stats.bump("misses" if expired else "early")
                value = self._load_and_fill(tenant, key, px)
                return ("miss" if expired else "hit"), True, not expired, value, True
            return "hit", False, False, env["v"], True
        # background_refresh: readers never load
        assert self.refresher is not None
        self.refresher.register(tenant)
        if env is None:
            self.stats.bump("misses")
            return "miss", False, False, None, False
        result = "stale" if self.now_ms() >= env["expiry_ms"] else "hit"
        return result, False, False, env["v"], True

    def _mutex_miss(self, tenant: str, key: str) -> tuple[str, bool, bool, Any, bool]:
        lock = lock_key(self.keys, tenant, self.name)
        token = f"{threading.get_ident()}:{self.clock.now_ns()}"
        if self.client.set(lock, token, nx=True, px=self.cfg.lock_ms):
            try:
                env = self._read(key)  # another winner may have filled it just before our lock
                if env is not None:
                    return "hit", False, False, env["v"], True
                return "miss", True, False, self._load_and_fill(tenant, key, self.cfg.ttl_ms), True
            finally:
                self.client.eval(_RELEASE, 1, lock, token)
        self.stats.bump("lock_lost")
        waited = 0
        while waited < self.cfg.lock_wait_ms:
            step = min(self.cfg.poll_ms, self.cfg.lock_wait_ms - waited)
            self.sleep(step / 1000)
            waited += step
            env = self._read(key)
            if env is not None:
                return "miss", False, False, env["v"], True
        raise _LockTimeout(f"lock wait timed out after {self.cfg.lock_wait_ms} ms")

    # -- plumbing -------------------------------------------------------------------------------

    def _read(self, key: str) -> dict[str, Any] | None:
        raw = self.client.get(key)
        if raw is None:
            return None
        env = json.loads(raw)
        if not isinstance(env, dict) or "v" not in env:
            raise ValueError(f"{key}: not a cache envelope")
        return env

    def _load_and_fill(self, tenant: str, key: str, px_ms: int, by_reader: bool = True) -> Any:
        self.stats.load_started(key, by_reader)
        t0 = self.now_ms()
        try:
            value = self.loader(tenant)
        except Exception as exc:
            raise LoaderError(f"loader: {describe(exc)}") from exc
        now = self.now_ms()
        env = {"v": value, "delta_ms": max(0.0, now - t0), "expiry_ms": now + self.cfg.ttl_ms}
        self.client.set(key, json.dumps(env), px=px_ms)
        self.stats.filled(key)
        return value

    def _complete(self, op: int, outcome: OpType, **fields: Any) -> None:
        self.rec.complete(op, outcome, self.process, "cache_get", **fields)


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
                value = c._load_and_fill(tenant, key, c.cfg.ttl_ms + c.cfg.grace_ms, by_reader=False)
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
