"""Database-backed session fallback (case study 5, "Data Loss from Improper Redis Persistence"):
sessions live in Redis hashes with a sliding TTL and are also written to MongoDB, so a session
Redis lost (a restart without persistence) is reloaded from MongoDB and re-cached.

Redis side as :mod:`harness.workload.redis_plane.sessions`: ``session:{tenant}:{id}`` hashes, ``HSET`` +
``EXPIRE`` on creation, ``HGETALL`` + ``EXPIRE`` on use, each pair in one ``MULTI``. MongoDB side:
the ``sessions`` collection, ``{_id: <redis key>, tenant_id, data, expires_at}`` with a TTL index on
``expires_at`` (``expireAfterSeconds: 0``, :meth:`FallbackSessionStore.ensure_indexes`); every use
slides ``expires_at`` too. The TTL monitor deletes late (up to a minute or more), so the fallback
lookup also filters ``expires_at > now``: an expired copy is never resurrected. Writes use
``w: majority`` (a session copy that a failover rolls back would defeat the fallback). Assumes the
client clock is the sessions' clock (``now_ms`` is recorded with every op, as the checker expects).

Ops recorded (process ``sessions`` unless given), in the sessions checker's vocabulary (``key`` =
the Redis key, ``tenant``, ``now_ms``, ``ttl_ms``):

``session_create`` — both stores written. ``ok`` when at least one store certainly has the session
    (a touch can find it there); otherwise ``info`` if either outcome is unknown, else ``fail``.
    Completion fields ``redis_error`` / ``db_error`` say which side failed.
``session_touch`` — ``HGETALL`` + ``EXPIRE``; when Redis has it, the MongoDB copy's ``expires_at``
    slides too; on a miss (or a Redis error) the copy is looked up in MongoDB (primary) and, if
    live, re-cached (``HSET`` + ``EXPIRE``) and slid. Completion ``ok``: ``value`` = the session's
    fields or null when neither store has it, ``source`` (``redis`` / ``db``). A session found only
    in MongoDB whose extension failed on both sides is ``info``/``fail``; a Redis error followed by
    a MongoDB miss is the Redis error's outcome (Redis may still hold it), never "not found".
``final_sessions`` — after healing: ``keys``, ``now_ms``; ``value`` = the keys that exist in Redis
    (``EXISTS``) or have a live MongoDB copy: a session the next request would reload is not lost.

Every op carries ``sched_ns`` when an open-loop caller set :attr:`FallbackSessionStore.sched_ns`.
:class:`FallbackSessionDriver` plays the platform's session schedule through the store (the seeded
choice of sessions and the semantics of :class:`harness.workload.redis_plane.sessions.SessionDriver`).

MongoDB copies are not recorded as ``doc_insert`` (their TTL slides; the retention checker assumes
a fixed expiry): the sessions checker judges them through the ops above.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import PyMongoError
from pymongo.read_preferences import ReadPreference
from pymongo.write_concern import WriteConcern

from harness.clients.mongo_outcomes import describe, write_outcome
from harness.clients.outcomes import describe as redis_describe
from harness.clients.outcomes import outcome_of as redis_outcome
from harness.clock import RunClock
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.workload.engine.openloop import DriverStats, Progress, run_schedule
from harness.workload.redis_plane.sessions import SessionConfig

PROCESS = "sessions"


def session_key(tenant: str, session_id: str) -> str:
    return f"session:{tenant}:{session_id}"


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _combine(*outcomes: OpType) -> OpType:
    """At least one side certainly applied: ok; else unknown if any side is unknown."""
    if OpType.OK in outcomes:
        return OpType.OK
    return OpType.INFO if OpType.INFO in outcomes else OpType.FAIL


@dataclass(frozen=True)
class TouchResult:
    outcome: OpType
    value: dict[str, str] | None
    source: str | None


class FallbackSessionStore:
    def __init__(
        self,
        cache: redis.Redis,
        db: Database[dict[str, Any]],
        recorder: HistoryRecorder,
        clock: RunClock,
        variant: str,
        *,
        ttl_s: int = 1800,
        process: str = PROCESS,
    ) -> None:
        self.cache = cache
        self.coll: Collection[dict[str, Any]] = db.get_collection(
            "sessions", write_concern=WriteConcern(w="majority"), read_preference=ReadPreference.PRIMARY
        )
        self.rec = recorder
        self.clock = clock
        self.variant = variant
        self.ttl_s = ttl_s
        self.process = process
        self.sched_ns: int | None = None  # set by an open-loop caller: latency from the schedule

    def ensure_indexes(self) -> str:
        """The TTL index on ``expires_at`` (idempotent)."""
        return self.coll.create_index([("expires_at", 1)], name="ttl_expires_at", expireAfterSeconds=0)

    def _now_ms(self) -> int:
        return self.clock.wall_ms_at(self.clock.now_ns())

    def _invoke(self, f: str, key: str, tenant: str, now_ms: int) -> int:
        return self.rec.invoke(
            self.process,
            f,
            key=key,
            tenant=tenant,
            now_ms=now_ms,
            ttl_ms=self.ttl_s * 1000,
            variant=self.variant,
            **({} if self.sched_ns is None else {"sched_ns": self.sched_ns}),
        )

    # -- Redis ---------------------------------------------------------------------------------

    def _cache_put(self, key: str, data: dict[str, str]) -> tuple[OpType, str | None]:
        try:
            pipe = self.cache.pipeline(transaction=True)
            pipe.hset(key, mapping=data)  # type: ignore[arg-type]
            pipe.expire(key, self.ttl_s)
            pipe.execute()
        except redis.RedisError as exc:
            return redis_outcome(exc), redis_describe(exc)
        return OpType.OK, None

    # -- MongoDB -------------------------------------------------------------------------------

    def _db_put(self, key: str, tenant: str, data: dict[str, str], now_ms: int) -> tuple[OpType, str | None]:
        doc = {"tenant_id": tenant, "data": data, "expires_at": _dt(now_ms + self.ttl_s * 1000)}
        try:
            self.coll.update_one({"_id": key}, {"$set": doc}, upsert=True)
        except PyMongoError as exc:
            return write_outcome(exc), describe(exc)
        return OpType.OK, None

    # -- ops -----------------------------------------------------------------------------------

    def create(self, tenant: str, session_id: str, data: dict[str, str]) -> OpType:
        key = session_key(tenant, session_id)
        now = self._now_ms()
        op = self._invoke("session_create", key, tenant, now)
        r_out, r_err = self._cache_put(key, data)
        d_out, d_err = self._db_put(key, tenant, data, now)
        outcome = _combine(r_out, d_out)
        errors: dict[str, Any] = {
            k: v for k, v in (("redis_error", r_err), ("db_error", d_err)) if v is not None
        }
        self.rec.complete(op, outcome, self.process, "session_create", **errors)
        return outcome

    def touch(self, tenant: str, session_id: str) -> TouchResult:
        key = session_key(tenant, session_id)
        now = self._now_ms()
        op = self._invoke("session_touch", key, tenant, now)
        fields: dict[str, Any] = {}
        redis_failed: OpType | None = None
        try:
            pipe = self.cache.pipeline(transaction=True)
            pipe.hgetall(key)
            pipe.expire(key, self.ttl_s)
            found_raw, _ = pipe.execute()
        except redis.RedisError as exc:
            redis_failed, found_raw = redis_outcome(exc), None
            fields["redis_error"] = redis_describe(exc)
        if found_raw:
            data = {_text(k): _text(v) for k, v in dict(found_raw).items()}
            d_out, d_err = self._db_put(key, tenant, data, now)  # slide the copy as well
            if d_err is not None:
                fields["db_error"] = d_err
            return self._done(op, OpType.OK, data, "redis", fields)
        try:
            copy = self.coll.find_one({"_id": key, "tenant_id": tenant, "expires_at": {"$gt": _dt(now)}})
        except PyMongoError as exc:
            fields["db_error"] = describe(exc)
            return self._done(op, redis_failed or OpType.FAIL, None, None, fields)
        if copy is None:
            if redis_failed is not None:  # Redis may still hold it: not an observation of absence
                return self._done(op, redis_failed, None, None, fields)
            return self._done(op, OpType.OK, None, None, fields)
        data = {str(k): str(v) for k, v in dict(copy.get("data") or {}).items()}
        r_out, r_err = self._cache_put(key, data)  # re-cache, with a full TTL
        d_out, d_err = self._db_put(key, tenant, data, now)
        fields.update({k: v for k, v in (("recache_error", r_err), ("db_error", d_err)) if v is not None})
        outcome = _combine(r_out, d_out)
        return self._done(op, outcome, data, "db", fields)

    def _done(
        self,
        op: int,
        outcome: OpType,
        value: dict[str, str] | None,
        source: str | None,
        fields: dict[str, Any],
    ) -> TouchResult:
        if outcome == OpType.OK:
            self.rec.complete(
                op, outcome, self.process, "session_touch", value=value, source=source, **fields
            )
        else:
            self.rec.complete(op, outcome, self.process, "session_touch", **fields)
        return TouchResult(outcome, value, source)

    def final_sessions(self, keys: list[str], batch: int = 500) -> int:
        """Which sessions exist after the run, in either store (no extension); recorded as
        ``final_sessions``. Returns how many keys could not be read."""
        unread = 0
        for start in range(0, len(keys), batch):
            chunk = keys[start : start + batch]
            now = self._now_ms()
            op = self.rec.invoke("final", "final_sessions", keys=chunk, now_ms=now, variant=self.variant)
            try:
                pipe = self.cache.pipeline(transaction=False)
                for k in chunk:
                    pipe.exists(k)
                in_redis = {k for k, n in zip(chunk, pipe.execute(), strict=True) if n}
                live = {
                    d["_id"]
                    for d in self.coll.find(
                        {"_id": {"$in": chunk}, "expires_at": {"$gt": _dt(now)}}, {"_id": 1}
                    )
                }
            except (redis.RedisError, PyMongoError) as exc:
                unread += len(chunk)
                error = redis_describe(exc) if isinstance(exc, redis.RedisError) else describe(exc)
                self.rec.complete(op, OpType.FAIL, "final", "final_sessions", error=error)
                continue
            found = [k for k in chunk if k in in_redis or k in live]
            self.rec.complete(op, OpType.OK, "final", "final_sessions", value=found)
        return unread


class FallbackSessionDriver:
    """Open-loop user sessions through a :class:`FallbackSessionStore`, one op after another.

    As :class:`harness.workload.redis_plane.sessions.SessionDriver`: each scheduled event picks a session
    (seeded, at most once per batch); a session not believed to exist is created, otherwise
    touched; a touch that finds it in neither store forgets it (the next use logs in again); a
    create of unknown outcome is kept (a touch will tell). Keys and tenants are the same
    (``session:t<n % tenants>:s<n>``), and :attr:`stats` has the same shape."""

    def __init__(self, store: FallbackSessionStore, cfg: SessionConfig, rng: random.Random) -> None:
        if store.ttl_s != cfg.ttl_s:
            raise ValueError(f"the store's TTL ({store.ttl_s} s) is not the schedule's ({cfg.ttl_s} s)")
        self.store = store
        self.cfg = cfg
        self.rng = rng
        self.stats = DriverStats()
        self.created: set[int] = set()  # sessions the workload believes exist
        self.counter_keys: set[str] = set()  # every session key used (read back at the end)

    def run(self, on_progress: Progress | None = None) -> DriverStats:
        return run_schedule(
            self.store.clock,
            self.cfg,
            stats=self.stats,
            send=lambda _first, sched, _backlog: self._batch(sched),
            on_progress=on_progress,
        )

    def _batch(self, sched: list[int]) -> None:
        cfg, store = self.cfg, self.store
        chosen: dict[int, None] = {}
        for _ in sched:
            chosen.setdefault(self.rng.randrange(cfg.sessions))
        for i, sid in enumerate(chosen):
            tenant, session_id = f"t{sid % cfg.tenants}", f"s{sid}"
            self.counter_keys.add(session_key(tenant, session_id))
            store.sched_ns = sched[min(i, len(sched) - 1)]
            if sid in self.created:
                touched = store.touch(tenant, session_id)
                outcome = touched.outcome
                if outcome == OpType.OK and touched.value is None:
                    self.created.discard(sid)  # gone from both stores: the next use logs in again
            else:
                outcome = store.create(tenant, session_id, {"user": f"u{sid}", "tenant": tenant})
                if outcome != OpType.FAIL:  # an unknown create may exist: keep touching it
                    self.created.add(sid)
            if outcome == OpType.OK:
                self.stats.admitted += 1
            self.stats.outcomes[outcome.value] += 1
