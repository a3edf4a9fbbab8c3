"""The ingestion service's whole per-event Redis work: one ``EVALSHA`` of ``ingest.lua`` per event.

The script checks the tenant's sliding-window limit and, only for an admitted event, increments the
per-minute counter (``EXPIRE`` 600 s), adds the user to the hourly HyperLogLog and adds the event to
the user's timeline (trimmed to the newest 100, ``EXPIRE`` 86400 s), atomically. Its four keys share
one hash tag (:class:`KeyScheme`), so it is cluster-safe; a write-sharded tenant's shard is chosen by
user (:meth:`KeyScheme.user_shard`).

:class:`RedisIngestor` packs a batch of :class:`Event` s itself (RESP, one command per event),
pipelines it through :class:`SlotRouter` (no retries) and records the history in one of two forms:

* ``"compact"`` (default): one ``ingest`` op per event, which
  :func:`harness.history.ingest.expand_ingest` turns into the checkers' vocabulary when the history
  is streamed. Invoke: ``tenant``, ``event_id``, ``user``, ``sched_ns``, ``variant``, ``window`` (the
  counter's minute bucket), ``keys`` = [limiter, counter, hll, timeline], ``value`` =
  ``{now_ms, limit, window_ms, group_limit, shards, ttl_ms}``; ok completion: ``value`` =
  ``[allowed 0/1, remaining, counter]``; fail/info: ``error``.
* ``"ops"``: the vocabulary op by op, as the checkers read it: ``rate_limit`` (link id
  ``event_id``), then for an event that was (or may have been) admitted ``incr`` (with ``window``),
  ``pfadd`` and the timeline's ``ttl_write``, each with the script's outcome.

A rejected event is recorded (``rate_limit`` ok, ``allowed`` false) and has no side effects. A
refused script (``fail``, e.g. NOSCRIPT, MOVED) certainly did nothing; a timeout or a Lua error
after some writes (``info``) may have done all of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal, Protocol

from harness.clients.redis_router import Reply, SlotRouter
from harness.clock import RunClock
from harness.ops import OpType
from harness.workload.generator import Event
from harness.workload.keys import KeyScheme, hour_bucket, minute_bucket

PROCESS = "ingest"
Recording = Literal["compact", "ops"]


def ingest_script() -> str:
    return resources.files("harness.workload").joinpath("ingest.lua").read_text()


class Recorder(Protocol):
    """What the ingestor needs of :class:`harness.history.recorder.HistoryRecorder`."""

    def invoke(self, process: str, f: str, *, time_ns: int | None = None, **fields: Any) -> int: ...

    def complete(
        self, op_id: int, outcome: OpType, process: str, f: str, *, time_ns: int | None = None, **fields: Any
    ) -> None: ...


class NullRecorder:
    """Records nothing: the benchmark's baseline for the cost of recording."""

    def invoke(self, process: str, f: str, *, time_ns: int | None = None, **fields: Any) -> int:
        return 0

    def complete(
        self, op_id: int, outcome: OpType, process: str, f: str, *, time_ns: int | None = None, **fields: Any
    ) -> None:
        return None


@dataclass(frozen=True)
class IngestConfig:
    limit: int  # default per-tenant limit per window
    window_ms: int
    tenant_limits: dict[str, int] = field(default_factory=dict)
    counter_ttl_s: int = 600
    timeline_keep: int = 100
    timeline_ttl_s: int = 86_400


@dataclass
class IngestStats:
    events: int = 0
    admitted: int = 0
    rejected: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: {"ok": 0, "fail": 0, "info": 0})


#: (event, minute bucket, limiter, counter, hll and timeline keys, per-key limit, group limit, shards)
_Meta = tuple[Event, str, str, str, str, str, int, int, int]


def _bulk(b: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(b), b)


class RedisIngestor:
    """Runs the per-event script for batches of events and records them (see the module doc)."""

    def __init__(
        self,
        router: SlotRouter,
        recorder: Recorder,
        clock: RunClock,
        keys: KeyScheme,
        cfg: IngestConfig,
        variant: str,
        script_sha: str,
        recording: Recording = "compact",
    ) -> None:
        self.router = router
        self.rec = recorder
        self.clock = clock
        self.keys = keys
        self.cfg = cfg
        self.variant = variant
        self.recording = recording
        self.stats = IngestStats()
        self.counter_keys: set[str] = set()
        self.hll_keys: set[str] = set()
        self.timeline_keys: set[str] = set()
        # The command's fixed head and tail, packed once.
        self._head = b"*16\r\n$7\r\nEVALSHA\r\n" + _bulk(script_sha.encode()) + _bulk(b"4")
        self._window = _bulk(str(cfg.window_ms).encode())
        self._tail = b"".join(
            _bulk(str(v).encode()) for v in (cfg.counter_ttl_s, cfg.timeline_keep, cfg.timeline_ttl_s)
        )
        self._ttl_ms = cfg.timeline_ttl_s * 1000
        self._buckets: dict[int, tuple[str, str]] = {}  # epoch minute -> (minute, hour bucket)

    def _bucket(self, time_ms: int) -> tuple[str, str]:
        minute = time_ms // 60_000
        b = self._buckets.get(minute)
        if b is None:
            if len(self._buckets) > 1024:
                self._buckets.clear()
            b = self._buckets[minute] = (minute_bucket(time_ms), hour_bucket(time_ms))
        return b

    def ingest(self, events: Sequence[Event], sched_ns: Sequence[int] | None = None) -> list[Reply]:
        """Runs the script once per event (one pipelined round); returns the router's replies.
        ``sched_ns[i]`` is when event ``i`` was due (open loop); absent, the send time is used."""
        packed, route, meta = self.pack(events)
        send_ns = self.clock.now_ns()
        record = self._record_compact if self.recording == "compact" else self._record_ops
        return record(meta, sched_ns, send_ns, lambda: self.router.execute_packed(packed, route))

    def pack(self, events: Sequence[Event]) -> tuple[list[bytes], list[str], list[_Meta]]:
        """Each event's ``EVALSHA`` as RESP bytes, the key it is routed by, and what recording needs."""
        cfg, keys, tenant_limits = self.cfg, self.keys, self.cfg.tenant_limits
        head, win, tail = self._head, self._window, self._tail
        packed: list[bytes] = []
        route: list[str] = []
        meta: list[_Meta] = []
        for ev in events:
            tenant, user, t_ms = ev.tenant, ev.user_id, ev.time_ms
            shards = keys.shards(tenant)
            shard = keys.user_shard(tenant, user) if shards > 1 else 0
            tag = keys.tag(tenant, shard)
            minute, hour = self._bucket(t_ms)
            group_limit = tenant_limits.get(tenant, cfg.limit)
            limit = -(-group_limit // shards)
            k_lim = f"ratelimit:{tag}:events"
            k_cnt = f"counter:{tag}:events:{minute}"
            k_hll = f"unique:{tag}:users:{hour}"
            k_tl = f"timeline:{tag}:{user}"
            packed.append(
                b"".join(
                    (
                        head,
                        _bulk(k_lim.encode()),
                        _bulk(k_cnt.encode()),
                        _bulk(k_hll.encode()),
                        _bulk(k_tl.encode()),
                        _bulk(str(limit).encode()),
                        win,
                        _bulk(str(t_ms).encode()),
                        _bulk(ev.event_id.encode()),
                        _bulk(user.encode()),
                        _bulk(ev.timeline_entry().encode()),
                        tail,
                    )
                )
            )
            route.append(k_lim)
            meta.append((ev, minute, k_lim, k_cnt, k_hll, k_tl, limit, group_limit, shards))
        return packed, route, meta

    def _count(self, reply: Reply) -> bool | None:
        """Tallies one reply; True = admitted, False = rejected, None = not ok."""
        st = self.stats
        st.events += 1
        st.outcomes[reply.outcome.value] += 1
        if reply.outcome is not OpType.OK:
            return None
        if int(reply.value[0]) == 1:
            st.admitted += 1
            return True
        st.rejected += 1
        return False

    def _touched(self, k_cnt: str, k_hll: str, k_tl: str) -> None:
        self.counter_keys.add(k_cnt)
        self.hll_keys.add(k_hll)
        self.timeline_keys.add(k_tl)

    def _record_compact(
        self,
        meta: list[_Meta],
        sched_ns: Sequence[int] | None,
        send_ns: int,
        run: Callable[[], list[Reply]],
    ) -> list[Reply]:
        rec, variant, window_ms, ttl_ms = self.rec, self.variant, self.cfg.window_ms, self._ttl_ms
        ops = [
            rec.invoke(
                PROCESS,
                "ingest",
                time_ns=send_ns,
                sched_ns=send_ns if sched_ns is None else sched_ns[i],
                variant=variant,
                tenant=ev.tenant,
                event_id=ev.event_id,
                user=ev.user_id,
                window=minute,
                keys=[k_lim, k_cnt, k_hll, k_tl],
                value={
                    "now_ms": ev.time_ms,
                    "limit": limit,
                    "window_ms": window_ms,
                    "group_limit": group_limit,
                    "shards": shards,
                    "ttl_ms": ttl_ms,
                },
            )
            for i, (ev, minute, k_lim, k_cnt, k_hll, k_tl, limit, group_limit, shards) in enumerate(meta)
        ]
        replies = run()
        for op, m, reply in zip(ops, meta, replies, strict=True):
            admitted = self._count(reply)
            if admitted is None:
                rec.complete(
                    op, reply.outcome, PROCESS, "ingest", time_ns=reply.done_ns, error=str(reply.value)
                )
            else:
                v = reply.value
                rec.complete(
                    op,
                    OpType.OK,
                    PROCESS,
                    "ingest",
                    time_ns=reply.done_ns,
                    value=[int(v[0]), int(v[1]), int(v[2])],
                )
            if admitted or (admitted is None and reply.outcome is OpType.INFO):
                self._touched(m[3], m[4], m[5])
        return replies

    def _record_ops(
        self,
        meta: list[_Meta],
        sched_ns: Sequence[int] | None,
        send_ns: int,
        run: Callable[[], list[Reply]],
    ) -> list[Reply]:
        """The vocabulary op by op: every op is invoked before the script is sent (it may do them
        all); the side-effect ops are completed only when the script admitted the event or may have
        (info), and a certainly-refused or rejected event's side-effect ops are failed."""
        rec, variant, window_ms, ttl_ms = self.rec, self.variant, self.cfg.window_ms, self._ttl_ms
        invoked: list[tuple[int, int, int, int]] = []
        for i, (ev, minute, k_lim, k_cnt, k_hll, k_tl, limit, group_limit, shards) in enumerate(meta):
            s_ns = send_ns if sched_ns is None else sched_ns[i]
            common = {"variant": variant, "tenant": ev.tenant, "event_id": ev.event_id}
            invoked.append(
                (
                    rec.invoke(
                        PROCESS,
                        "rate_limit",
                        time_ns=send_ns,
                        sched_ns=s_ns,
                        key=k_lim,
                        value={
                            "now_ms": ev.time_ms,
                            "limit": limit,
                            "window_ms": window_ms,
                            "req": ev.event_id,
                            "group": ev.tenant,
                            "group_limit": group_limit,
                            "shards": shards,
                        },
                        **common,
                    ),
                    rec.invoke(
                        PROCESS, "incr", time_ns=send_ns, sched_ns=s_ns, key=k_cnt, window=minute, **common
                    ),
                    rec.invoke(
                        PROCESS,
                        "pfadd",
                        time_ns=send_ns,
                        sched_ns=s_ns,
                        key=k_hll,
                        value=[ev.user_id],
                        **common,
                    ),
                    rec.invoke(
                        PROCESS,
                        "ttl_write",
                        time_ns=send_ns,
                        sched_ns=s_ns,
                        key=k_tl,
                        ttl_ms=ttl_ms,
                        now_ms=ev.time_ms,
                        **common,
                    ),
                )
            )
        replies = run()
        for (rl, inc, pf, tw), m, reply in zip(invoked, meta, replies, strict=True):
            admitted = self._count(reply)
            t = reply.done_ns
            if admitted is None:
                err = str(reply.value)
                rec.complete(rl, reply.outcome, PROCESS, "rate_limit", time_ns=t, error=err)
                for op, f in ((inc, "incr"), (pf, "pfadd"), (tw, "ttl_write")):
                    rec.complete(op, reply.outcome, PROCESS, f, time_ns=t, error=err)
                if reply.outcome is OpType.INFO:
                    self._touched(m[3], m[4], m[5])
                continue
            v = reply.value
            rec.complete(
                rl,
                OpType.OK,
                PROCESS,
                "rate_limit",
                time_ns=t,
                value={"allowed": admitted, "remaining": int(v[1])},
            )
            if admitted:
                rec.complete(inc, OpType.OK, PROCESS, "incr", time_ns=t, value=int(v[2]))
                rec.complete(pf, OpType.OK, PROCESS, "pfadd", time_ns=t)
                rec.complete(tw, OpType.OK, PROCESS, "ttl_write", time_ns=t)
                self._touched(m[3], m[4], m[5])
            else:
                for op, f in ((inc, "incr"), (pf, "pfadd"), (tw, "ttl_write")):
                    rec.complete(op, OpType.FAIL, PROCESS, f, time_ns=t, error="rejected by the rate limiter")
        return replies
