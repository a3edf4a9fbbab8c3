"""Read-your-writes paths for user-facing reads (case study 2, "Stale Reads from Replication Lag"):
a versioned user profile written, then read back by the same user session, in one of four modes
a scenario selects to compare them.

Modes (:data:`MODES`):

``secondary`` — the bug: write to the primary (``w: 1``), read back with ``secondaryPreferred`` and
    read concern ``local``: a lagging secondary answers the old version.
``primary`` — fix 1: write ``w: majority``, read from the primary (``local``).
``causal`` — fix 2: one causally consistent session per user session
    (``client.start_session(causal_consistency=True)``), write and read concern ``majority``, reads
    from secondaries (``secondaryPreferred``): the driver sends ``afterClusterTime`` so the
    secondary waits until it has the session's own write.
``write_through`` — fix 3: write ``w: majority`` then ``SET user:<key> <json> EX ttl`` in Redis;
    reads are served from that cache entry, and on a miss from the primary (then re-cached). A
    failed cache update after a successful write is recorded (``cache_error``) and leaves the old
    entry in place, as the case study's code would: the checker then sees the stale read.

Assumes a ``profiles`` collection (created on first upsert) with documents ``{_id: key, tenant_id,
version, updated_at}``; ``key`` is unique across tenants (e.g. ``profile:<tenant>:<user>``) and
every read and write filters on both ``_id`` and ``tenant_id``. Versions grow by one per write
(``$inc``, ``findAndModify`` with ``new: true``), never reused.

Ops recorded (process ``ryw`` unless given), in the read_your_writes / monotonic_reads checkers'
vocabulary (with ``sched_ns`` when an open-loop caller set :attr:`ProfileStore.sched_ns`):

``write`` — invoke: ``key``, ``session``, ``tenant``, ``write_concern``, ``mode``; completion ``ok``:
    ``value`` = the version installed (optional ``cache_error``). Errors as
    :mod:`harness.clients.mongo_outcomes` (a timeout is ``info``).
``read`` — invoke: ``key``, ``session``, ``tenant``, ``read_pref`` (``cache`` in ``write_through``
    mode), ``read_concern``, ``mode``; completion ``ok``: ``value`` = the version read, or null when
    absent; ``tenants`` (the document's ``tenant_id``, for tenant isolation) and, in
    ``write_through`` mode, ``source`` (``cache`` / ``db``). A read that did not return is ``fail``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import redis
from pymongo import MongoClient, ReturnDocument
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.errors import PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from harness.clients.mongo_outcomes import describe, read_preference, write_outcome
from harness.clock import RunClock
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.topology.mongo_spec import DATABASE

PROCESS = "ryw"


@dataclass(frozen=True)
class ModeSpec:
    w: int | str
    read_pref: str
    read_concern: str
    causal: bool = False
    cache: bool = False


MODE_SPECS: dict[str, ModeSpec] = {
    "secondary": ModeSpec(1, "secondaryPreferred", "local"),
    "primary": ModeSpec("majority", "primary", "local"),
    "causal": ModeSpec("majority", "secondaryPreferred", "majority", causal=True),
    "write_through": ModeSpec("majority", "primary", "local", cache=True),
}
MODES = tuple(MODE_SPECS)


def cache_key(key: str) -> str:
    return f"user:{key}"


class ProfileStore:
    """The profile service of one mode; :meth:`session` gives one user session's handle."""

    def __init__(
        self,
        client: MongoClient[dict[str, Any]],
        recorder: HistoryRecorder,
        clock: RunClock,
        variant: str,
        mode: str,
        *,
        database: str = DATABASE,
        cache: redis.Redis | None = None,
        cache_ttl_s: int = 3600,
        process: str = PROCESS,
    ) -> None:
        if mode not in MODE_SPECS:
            raise ValueError(f"unknown read-your-writes mode {mode!r}; one of {', '.join(MODES)}")
        self.spec = MODE_SPECS[mode]
        if self.spec.cache and cache is None:
            raise ValueError("write_through mode needs a Redis client (cache=...)")
        self.client = client
        self.rec = recorder
        self.clock = clock
        self.variant = variant
        self.mode = mode
        self.cache = cache
        self.cache_ttl_s = cache_ttl_s
        self.process = process
        self.sched_ns: int | None = None  # set by an open-loop caller: latency from the schedule
        self.wc = WriteConcern(w=self.spec.w)
        self.coll: Collection[dict[str, Any]] = client.get_database(database).get_collection(
            "profiles",
            write_concern=self.wc,
            read_concern=ReadConcern(self.spec.read_concern),
            read_preference=read_preference(self.spec.read_pref),
        )

    def session(self, session_id: str) -> ProfileSession:
        return ProfileSession(self, session_id)


class ProfileSession:
    """One user session: its writes and reads run in order (a user clicking through pages)."""

    def __init__(self, store: ProfileStore, session_id: str) -> None:
        self.store = store
        self.session_id = session_id
        self.mongo_session: ClientSession | None = (
            store.client.start_session(causal_consistency=True) if store.spec.causal else None
        )

    def close(self) -> None:
        if self.mongo_session is not None:
            self.mongo_session.end_session()
            self.mongo_session = None

    def __enter__(self) -> ProfileSession:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def write(self, tenant: str, key: str) -> int | None:
        """One profile update; returns the version installed, or ``None`` when not acknowledged."""
        st, rec = self.store, self.store.rec
        op = rec.invoke(
            st.process,
            "write",
            key=key,
            session=self.session_id,
            tenant=tenant,
            write_concern=st.wc.document,
            mode=st.mode,
            variant=st.variant,
            **({} if st.sched_ns is None else {"sched_ns": st.sched_ns}),
        )
        try:
            doc = st.coll.find_one_and_update(
                {"_id": key, "tenant_id": tenant},
                {"$inc": {"version": 1}, "$set": {"updated_at": datetime.now(UTC)}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
                session=self.mongo_session,
            )
        except PyMongoError as exc:
            rec.complete(op, write_outcome(exc), st.process, "write", error=describe(exc))
            return None
        version = int(doc["version"]) if doc is not None else None
        extra: dict[str, Any] = {}
        if st.cache is not None and doc is not None:
            try:
                st.cache.set(cache_key(key), _cache_value(doc), ex=st.cache_ttl_s)
            except redis.RedisError as exc:
                extra["cache_error"] = f"{type(exc).__name__}: {exc}"
        rec.complete(op, OpType.OK, st.process, "write", value=version, **extra)
        return version

    def read(self, tenant: str, key: str) -> int | None:
        """One profile read; returns the version seen (``None``: absent, or the read failed)."""
        st, rec = self.store, self.store.rec
        op = rec.invoke(
            st.process,
            "read",
            key=key,
            session=self.session_id,
            tenant=tenant,
            read_pref="cache" if st.cache is not None else st.spec.read_pref,
            read_concern=st.spec.read_concern,
            mode=st.mode,
            variant=st.variant,
            **({} if st.sched_ns is None else {"sched_ns": st.sched_ns}),
        )
        extra: dict[str, Any] = {}
        if st.cache is not None:
            try:
                cached = st.cache.get(cache_key(key))
            except redis.RedisError as exc:
                cached, extra["cache_error"] = None, f"{type(exc).__name__}: {exc}"
            if cached is not None:
                doc = json.loads(cached)
                version = int(doc["version"])
                rec.complete(
                    op,
                    OpType.OK,
                    st.process,
                    "read",
                    value=version,
                    tenants=[doc["tenant_id"]],
                    source="cache",
                )
                return version
            extra["source"] = "db"
        try:
            found = st.coll.find_one({"_id": key, "tenant_id": tenant}, session=self.mongo_session)
        except PyMongoError as exc:
            rec.complete(op, OpType.FAIL, st.process, "read", error=describe(exc), **extra)
            return None
        if found is not None and st.cache is not None and "cache_error" not in extra:
            try:
                st.cache.set(cache_key(key), _cache_value(found), ex=st.cache_ttl_s)
            except redis.RedisError as exc:
                extra["cache_error"] = f"{type(exc).__name__}: {exc}"
        seen = int(found["version"]) if found is not None else None
        tenants = [found.get("tenant_id")] if found is not None else []
        rec.complete(op, OpType.OK, st.process, "read", value=seen, tenants=tenants, **extra)
        return seen


def _cache_value(doc: dict[str, Any]) -> str:
    return json.dumps({"_id": doc["_id"], "tenant_id": doc.get("tenant_id"), "version": doc["version"]})
