"""The query service's Redis reads (capstone Part XIII), each with its read preference recorded, and
a read-your-writes path on a versioned profile hash.

Reads (process ``query`` by default; ``read_pref`` = ``master`` or ``replica`` on every invoke):

* last-5-minute counters — one ``MGET`` of the five minute buckets per write shard of the tenant
  (a shard's five keys share its hash tag, so each MGET is single-slot), summed over shards.
  Op ``counters_read``: invoke ``tenant``, ``keys``; ``ok`` ``value`` = the total,
  ``per_minute`` (newest first).
* timeline — ``ZREVRANGE timeline:{t:<tenant>}:<user> 0 19 WITHSCORES``; members are the JSON
  strings of :meth:`harness.workload.model.generator.Event.timeline_entry`. Op ``timeline_read``: invoke
  ``tenant``, ``key``; ``ok`` ``tenants`` (the tenant stored in each entry, ``None`` for an entry
  that does not parse, which the tenant-isolation checker then counts as foreign), ``ids`` (event
  ids), ``value`` = the number of entries.
* unique users — ``PFCOUNT unique:{t:<tenant>}:users:<YYYYMMDDHH>``, recorded in the unique_users
  checker's vocabulary: op ``pfcount``, invoke ``key``, ``tenant``; ``ok`` ``value`` = the estimate.

Read-your-writes (the read_your_writes / monotonic_reads checkers' vocabulary) on
``profile:{t:<tenant>}:<user>``: ``write`` = ``MULTI; HSET tenant user; HINCRBY version 1; EXEC`` on
the master, optionally followed on the same connection by ``WAIT <n> <ms>`` (recorded as
``wait`` / ``wait_acked``; the write is acknowledged by the master either way); ``read`` =
``HMGET version tenant`` from the master or the replica, ``value`` = the version (None when absent).
:meth:`RedisQueries.read_your_write` runs one session step in a named mode: ``master``,
``replica``, or ``replica_after_wait`` (read the replica only when ``WAIT 1`` reported it had the
write, else fall back to the master; recorded with ``read_concern="wait"`` and ``fallback``).

Assumptions: ``master`` is a :class:`SlotRouter` over the masters (cluster or one primary);
``replica`` is a router whose connections read from replicas: a ``SlotRouter`` over the replica of a
replicated topology, or a :class:`ReplicaRouter` (cluster, ``READONLY`` on every connection). Both
stamp replies with the recorder's clock (``now_ns=recorder.clock.now_ns``). Keys come from
:class:`KeyScheme`, as the ingest path writes them: a write-sharded tenant's timeline is on its
user's shard, and its active users are spread over its shards' HyperLogLogs (disjoint by user),
so the estimate is the sum of one ``pfcount`` per shard. Profiles are not write-sharded.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import redis
from redis.connection import Connection

from harness.clients.redis_router import Address, Reply, SlotRouter
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.workload.model.keys import KeyScheme

ReadPref = Literal["master", "replica"]
RywMode = Literal["master", "replica", "replica_after_wait"]
PROCESS = "query"
MINUTE_MS = 60_000


def profile_key(keys: KeyScheme, tenant: str, user: str) -> str:
    return f"profile:{keys.tag(tenant, 0)}:{user}"


def last5_keys(keys: KeyScheme, tenant: str, now_ms: int) -> list[list[str]]:
    """Per write shard, the five minute-bucket keys ending at ``now_ms``'s minute, newest first."""
    return [
        [keys.counter_key(tenant, s, now_ms - i * MINUTE_MS) for i in range(5)]
        for s in range(keys.shards(tenant))
    ]


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _int(v: Any) -> int:
    return 0 if v is None else int(v)


@dataclass(frozen=True)
class TimelineEntry:
    event_id: str | None
    event_type: str | None
    tenant: str | None
    score: float


def parse_timeline(reply: Sequence[Any]) -> list[TimelineEntry]:
    """``ZREVRANGE ... WITHSCORES``: RESP3 pairs ``[[member, score], ...]`` (redis-py 8's default
    protocol) or a flat RESP2 array ``[member, score, ...]``."""
    if reply and isinstance(reply[0], list | tuple):
        pairs = [(p[0], p[1]) for p in reply]
    else:
        pairs = list(zip(reply[0::2], reply[1::2], strict=True))
    out = []
    for member, score in pairs:
        try:
            doc = json.loads(_text(member))
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            out.append(TimelineEntry(None, None, None, float(_text(score))))
            continue
        out.append(
            TimelineEntry(doc.get("event_id"), doc.get("event_type"), doc.get("tenant"), float(_text(score)))
        )
    return out


def _worst(replies: Sequence[Reply]) -> Reply | None:
    """The first reply that is not ok, preferring unknown (``info``) over ``fail``."""
    bad = [r for r in replies if r.outcome != OpType.OK]
    if not bad:
        return None
    return next((r for r in bad if r.outcome == OpType.INFO), bad[0])


class RedisQueries:
    def __init__(
        self,
        master: SlotRouter,
        recorder: HistoryRecorder,
        keys: KeyScheme,
        *,
        replica: SlotRouter | None = None,
        variant: str = "",
        process: str = PROCESS,
    ) -> None:
        self.master = master
        self.replica = replica
        self.rec = recorder
        self.keys = keys
        self.variant = variant
        self.process = process
        # When set (by an open-loop caller, before each read), invokes carry the scheduled time so
        # latency is measured from it (no coordinated omission).
        self.sched_ns: int | None = None

    def _sched(self) -> dict[str, int]:
        return {} if self.sched_ns is None else {"sched_ns": self.sched_ns}

    def _router(self, read_pref: ReadPref) -> SlotRouter:
        if read_pref == "master":
            return self.master
        if self.replica is None:
            raise ValueError("read_pref 'replica' needs a replica router")
        return self.replica

    def _run(
        self, f: str, read_pref: ReadPref, commands: list[tuple[Any, ...]], route: list[str], **inv: Any
    ) -> tuple[int, list[Reply], Reply | None]:
        router = self._router(read_pref)  # a missing replica router raises before any record
        op = self.rec.invoke(
            self.process, f, read_pref=read_pref, variant=self.variant, **self._sched(), **inv
        )
        replies = router.execute(commands, route)
        bad = _worst(replies)
        if bad is not None:
            done = max(r.done_ns for r in replies)
            self.rec.complete(op, bad.outcome, self.process, f, time_ns=done, error=str(bad.value))
        return op, replies, bad

    def _ok(self, op: int, f: str, replies: list[Reply], **fields: Any) -> None:
        done = max(r.done_ns for r in replies)
        self.rec.complete(op, OpType.OK, self.process, f, time_ns=done, **fields)

    # -- the query service's reads ---------------------------------------------------------------

    def counters_last5(self, tenant: str, now_ms: int, read_pref: ReadPref = "master") -> int | None:
        """Events of ``tenant`` in the last five minute buckets (None when the read was not ok)."""
        groups = last5_keys(self.keys, tenant, now_ms)
        commands: list[tuple[Any, ...]] = [("MGET", *g) for g in groups]
        route = [g[0] for g in groups]
        flat = [k for g in groups for k in g]
        op, replies, bad = self._run("counters_read", read_pref, commands, route, tenant=tenant, keys=flat)
        if bad is not None:
            return None
        per_minute = [0] * 5
        for r in replies:
            for i, v in enumerate(r.value):
                per_minute[i] += _int(v)
        total = sum(per_minute)
        self._ok(op, "counters_read", replies, value=total, per_minute=per_minute)
        return total

    def timeline(
        self, tenant: str, user: str, read_pref: ReadPref = "master", count: int = 20
    ) -> list[TimelineEntry] | None:
        key = self.keys.user_timeline_key(tenant, user)
        cmd: tuple[Any, ...] = ("ZREVRANGE", key, 0, count - 1, "WITHSCORES")
        op, replies, bad = self._run("timeline_read", read_pref, [cmd], [key], tenant=tenant, key=key)
        if bad is not None:
            return None
        entries = parse_timeline(replies[0].value)
        self._ok(
            op,
            "timeline_read",
            replies,
            value=len(entries),
            tenants=[e.tenant for e in entries],
            ids=[e.event_id for e in entries],
        )
        return entries

    def unique_users(self, tenant: str, epoch_ms: int, read_pref: ReadPref = "master") -> int | None:
        """The tenant's active users in the hour: one ``pfcount`` per write shard (the checker
        judges each key), summed; None when any shard could not be read."""
        total = 0
        for shard in range(self.keys.shards(tenant)):
            key = self.keys.hll_key(tenant, shard, epoch_ms)
            op, replies, bad = self._run(
                "pfcount", read_pref, [("PFCOUNT", key)], [key], tenant=tenant, key=key
            )
            if bad is not None:
                return None
            value = int(replies[0].value)
            self._ok(op, "pfcount", replies, value=value)
            total += value
        return total

    # -- read-your-writes ------------------------------------------------------------------------

    def profile_write(
        self, tenant: str, user: str, session: str, *, wait_replicas: int = 0, wait_ms: int = 100
    ) -> tuple[int | None, int | None]:
        """Bumps the profile's version on the master: ``(version, wait_acked)``; version is None
        when the write did not complete ok, wait_acked None without WAIT."""
        key = profile_key(self.keys, tenant, user)
        commands: list[tuple[Any, ...]] = [
            ("MULTI",),
            ("HSET", key, "tenant", tenant, "user", user),
            ("HINCRBY", key, "version", 1),
            ("EXEC",),
        ]
        inv: dict[str, Any] = {"key": key, "session": session, "tenant": tenant}
        if wait_replicas:
            commands.append(("WAIT", wait_replicas, wait_ms))
            inv["wait"] = wait_replicas
        op = self.rec.invoke(self.process, "write", variant=self.variant, **self._sched(), **inv)
        replies = self.master.execute(commands, [key] * len(commands))
        done = max(r.done_ns for r in replies)
        bad = _worst(replies[:4])
        exec_reply = replies[3].value
        if bad is None and not isinstance(exec_reply, list):
            # EXEC answered nil or an error value: the transaction was not applied.
            bad = Reply(OpType.FAIL, f"EXEC: {exec_reply!r}", done)
        if bad is not None:
            self.rec.complete(op, bad.outcome, self.process, "write", time_ns=done, error=str(bad.value))
            return None, None
        version = int(exec_reply[1])
        acked: int | None = None
        extra: dict[str, Any] = {}
        if wait_replicas:
            w = replies[4]
            acked = int(w.value) if w.outcome == OpType.OK else None
            extra["wait_acked"] = acked
            if acked is None:
                extra["wait_error"] = str(w.value)
        self.rec.complete(op, OpType.OK, self.process, "write", time_ns=done, value=version, **extra)
        return version, acked

    def profile_read(
        self,
        tenant: str,
        user: str,
        session: str,
        read_pref: ReadPref,
        *,
        read_concern: str = "local",
        **extra: Any,
    ) -> int | None:
        """The profile's version as ``read_pref`` sees it (0 when absent; None when not ok)."""
        key = profile_key(self.keys, tenant, user)
        op, replies, bad = self._run(
            "read",
            read_pref,
            [("HMGET", key, "version", "tenant")],
            [key],
            key=key,
            session=session,
            tenant=tenant,
            read_concern=read_concern,
            **extra,
        )
        if bad is not None:
            return None
        version, owner = replies[0].value
        value = None if version is None else int(version)
        self._ok(op, "read", replies, value=value, tenants=[] if owner is None else [_text(owner)])
        return 0 if value is None else value

    def read_your_write(
        self, tenant: str, user: str, session: str, mode: RywMode, *, wait_ms: int = 100
    ) -> tuple[int | None, int | None]:
        """One session step: write, then read back per ``mode``. Returns ``(written, read)``."""
        if mode == "replica_after_wait":
            written, acked = self.profile_write(tenant, user, session, wait_replicas=1, wait_ms=wait_ms)
            if written is None:
                return None, None
            if acked is not None and acked >= 1:
                return written, self.profile_read(
                    tenant, user, session, "replica", read_concern="wait", fallback=False
                )
            # The replica did not confirm in time: only the master is sure to have the write.
            return written, self.profile_read(
                tenant, user, session, "master", read_concern="wait", fallback=True
            )
        written, _ = self.profile_write(tenant, user, session)
        if written is None:
            return None, None
        return written, self.profile_read(tenant, user, session, mode)


class _ReadOnlyConnection(Connection):
    """A cluster connection that may serve reads from a replica: ``READONLY`` after every connect."""

    def on_connect_check_health(self, check_health: bool = True) -> None:
        super().on_connect_check_health(check_health)
        self.send_command("READONLY", check_health=check_health)  # type: ignore[no-untyped-call]
        if _text(self.read_response()) != "OK":
            raise redis.ConnectionError("READONLY refused")


class ReplicaRouter(SlotRouter):
    """Routes each slot to its first replica in ``CLUSTER SLOTS``, over connections in ``READONLY``
    mode. No retries, like :class:`SlotRouter`.

    ``CLUSTER SLOTS`` lists only replicas the cluster sees as available (a fresh replica appears once
    it has reported its replication offset). A slot range without one is served by its master only
    with ``master_fallback=True``; by default :meth:`refresh` raises, so a read recorded as
    ``replica`` was never silently served by a master."""

    def __init__(
        self,
        seeds: Sequence[Address],
        *,
        cluster: bool,
        now_ns: Callable[[], int],
        socket_timeout: float = 2.0,
        master_fallback: bool = False,
    ) -> None:
        self.master_fallback = master_fallback
        super().__init__(seeds, cluster=cluster, now_ns=now_ns, socket_timeout=socket_timeout)

    connection_class = _ReadOnlyConnection

    def refresh(self) -> None:
        if not self.cluster:
            raise ValueError("ReplicaRouter is for clusters; use a SlotRouter on the replica otherwise")
        super().refresh()

    def _serving(self, entry: Sequence[Any]) -> Sequence[Any]:
        """The range's first available replica (its master only with ``master_fallback``)."""
        return entry[3] if len(entry) > 3 else entry[2]  # type: ignore[no-any-return]

    def _refuse(self, table: Sequence[Any]) -> str | None:
        bare = [f"{int(e[0])}-{int(e[1])}" for e in table if len(e) < 4]
        if bare and not self.master_fallback:
            return f"slots {', '.join(bare)} have no available replica"
        return None
