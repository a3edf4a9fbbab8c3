"""The ingestion service's whole per-event Redis work, in one of two designs.

* ``"script"`` (default): one ``EVALSHA`` of ``ingest.lua`` per event, doing all of it atomically:
  the capstone's limiter, then for an admitted event ``INCR`` counter + ``EXPIRE`` 600 s, ``PFADD``
  hourly users, ``ZADD`` timeline + ``ZREMRANGEBYRANK`` to the newest 100 + ``EXPIRE`` 86400 s.
* ``"pipeline"`` (the capstone's own shape): round 1 runs the limiter script (``ratelimit.lua``)
  per event; round 2 pipelines the same plain commands for the admitted events only,
  non-transactional as the capstone's ``RealTimeCounters`` and ``UserTimelineCache`` send them. It
  costs the server a few µs less per event (no Lua call around six commands) but the driver twice
  as much (seven commands packed and seven replies parsed per event): on a two-core machine, where
  drivers and server share the cores, the one script gives more events/s end to end
  (``python -m harness.bench --only ingest`` measures both).

Keys share one hash tag per event (:class:`KeyScheme`), so both designs are cluster-safe; a
write-sharded tenant's shard is chosen by user (:meth:`KeyScheme.user_shard`).

:class:`RedisIngestor` packs RESP itself, pipelines through :class:`SlotRouter` (no retries) and
records the history through the recorder's batch calls, in one of two forms:

* ``"compact"`` (default): per event one ``ingest`` op (design script) or one ``ingest_rl`` op for
  the limiter plus, for an admitted event whose side effects were sent, one ``ingest_fx`` op
  (design pipeline); :func:`harness.history.ingest.expand_compact` turns them into the checkers'
  vocabulary when the history is streamed. ``ingest``/``ingest_rl`` invoke: ``tenant``,
  ``event_id``, ``user``, ``sched_ns``, ``variant``, ``window`` (the counter's minute bucket),
  ``keys`` = [limiter, counter, hll, timeline], ``value`` = ``{now_ms, limit, window_ms,
  group_limit, shards, ttl_ms}``; ok completion: ``value`` = ``[allowed 0/1, remaining, counter]``
  (``ingest``) or ``[allowed 0/1, remaining]`` (``ingest_rl``); fail/info: ``error``.
  ``ingest_fx`` invoke: ``rl`` (the ``ingest_rl`` op's id), timed when round 2 is sent; completion
  ``value`` = the counter ``INCR`` returned (null unless ok) and, unless all of it was ok, ``side`` =
  the outcomes of [incr, pfadd, ttl_write] and ``error``.
* ``"ops"``: the vocabulary op by op: ``rate_limit`` (link id ``event_id``), then ``incr`` (with
  ``window``), ``pfadd`` and the timeline's ``ttl_write`` — invoked with the script (design script)
  or when round 2 is sent (design pipeline, admitted events only).

A rejected event has no side-effect ops' effects (script: they are recorded ``fail``; pipeline: they
are never sent, so not recorded). A refused command (``fail``) certainly did nothing; a timeout or a
broken connection (``info``) may have done it. In design pipeline each side effect has its own
outcome: ``incr`` and ``pfadd`` their command's, ``ttl_write`` ok when ``ZADD``, ``ZREMRANGEBYRANK``
and ``EXPIRE`` all were, fail when all were refused, else info. An admitted event whose round 2 was
never sent (the run died between the rounds) has no side-effect ops: the rate_limit checker then
reports it ``admitted-request-lost``, which is what happened.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal, Protocol

from harness.clients.outcomes import describe, outcome_of
from harness.clients.redis_router import Reply, SlotRouter
from harness.clock import RunClock
from harness.ops import OpType
from harness.workload.generator import Event
from harness.workload.keys import KeyScheme, hour_bucket, minute_bucket

PROCESS = "ingest"
Recording = Literal["compact", "ops"]
Design = Literal["pipeline", "script"]
DEFAULT_DESIGN: Design = "pipeline"
#: commands per admitted event in round 2 (design pipeline)
EFFECTS = 6


def ingest_script(design: Design = DEFAULT_DESIGN) -> str:
    """The script ``design`` runs per event: the limiter alone (pipeline) or the whole work."""
    name = "ratelimit.lua" if design == "pipeline" else "ingest.lua"
    return resources.files("harness.workload").joinpath(name).read_text()


class Recorder(Protocol):
    """What the ingestor needs of :class:`harness.history.recorder.HistoryRecorder`."""

    def invoke_batch(
        self,
        process: str,
        f: str,
        fields: Sequence[dict[str, Any]],
        *,
        time_ns: int | Sequence[int] | None = None,
    ) -> list[int]: ...

    def complete_batch(
        self,
        op_ids: Sequence[int],
        outcomes: OpType | Sequence[OpType],
        process: str,
        f: str,
        fields: Sequence[dict[str, Any]],
        *,
        time_ns: int | Sequence[int] | None = None,
    ) -> None: ...


class NullRecorder:
    """Records nothing: the benchmark's baseline for the cost of recording."""

    def invoke_batch(
        self,
        process: str,
        f: str,
        fields: Sequence[dict[str, Any]],
        *,
        time_ns: int | Sequence[int] | None = None,
    ) -> list[int]:
        return [0] * len(fields)

    def complete_batch(
        self,
        op_ids: Sequence[int],
        outcomes: OpType | Sequence[OpType],
        process: str,
        f: str,
        fields: Sequence[dict[str, Any]],
        *,
        time_ns: int | Sequence[int] | None = None,
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
    #: outcomes of the per-event script (the limiter's, in design pipeline)
    outcomes: dict[str, int] = field(default_factory=lambda: {"ok": 0, "fail": 0, "info": 0})
    #: design pipeline: outcomes of the admitted events' round 2 (all six commands ok = ok)
    effects: dict[str, int] = field(default_factory=lambda: {"ok": 0, "fail": 0, "info": 0})


#: (event, minute bucket, limiter, counter, hll and timeline keys, per-key limit, group limit, shards)
_Meta = tuple[Event, str, str, str, str, str, int, int, int]


def _bulk(b: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(b), b)


def _effect_outcomes(values: list[Any]) -> tuple[OpType, OpType, OpType]:
    """incr, pfadd and ttl_write outcomes from round 2's six replies (see the module doc)."""
    o = [OpType.OK if not isinstance(v, Exception) else outcome_of(v) for v in values]
    tl = o[3:6]
    # partly applied (e.g. ZADD refused but EXPIRE done) is unknown as a whole
    ttl = tl[0] if tl[0] is tl[1] is tl[2] else OpType.INFO
    return o[0], o[2], ttl


class RedisIngestor:
    """Runs the per-event work for batches of events and records them (see the module doc)."""

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
        design: Design = DEFAULT_DESIGN,
    ) -> None:
        """``script_sha`` is the loaded :func:`ingest_script` of ``design``."""
        self.router = router
        self.rec = recorder
        self.clock = clock
        self.keys = keys
        self.cfg = cfg
        self.variant = variant
        self.recording = recording
        self.design = design
        # A NullRecorder run builds no records at all: the honest baseline for recording's cost.
        self._recorded = not isinstance(recorder, NullRecorder)
        # HistoryRecorder's fast path for ok completions that are small int arrays, when present
        self._complete_values: Callable[..., None] | None = getattr(recorder, "complete_values", None)
        self.stats = IngestStats()
        self.counter_keys: set[str] = set()
        self.hll_keys: set[str] = set()
        self.timeline_keys: set[str] = set()
        sha = _bulk(script_sha.encode())
        win = _bulk(str(cfg.window_ms).encode())
        # Each command as one bytes template (%b parts), formatted once per event.
        if design == "script":
            tail = b"".join(
                _bulk(str(v).encode()) for v in (cfg.counter_ttl_s, cfg.timeline_keep, cfg.timeline_ttl_s)
            )
            self._tmpl = (
                b"*16\r\n$7\r\nEVALSHA\r\n"
                + sha.replace(b"%", b"%%")
                + b"$1\r\n4\r\n"
                + b"$%d\r\n%b\r\n" * 5
                + win.replace(b"%", b"%%")
                + b"$%d\r\n%b\r\n" * 4
                + tail.replace(b"%", b"%%")
            )
        else:
            self._tmpl = (
                b"*8\r\n$7\r\nEVALSHA\r\n"
                + sha.replace(b"%", b"%%")
                + b"$1\r\n1\r\n"
                + b"$%d\r\n%b\r\n" * 2
                + win.replace(b"%", b"%%")
                + b"$%d\r\n%b\r\n" * 2
            )
            c_ttl = _bulk(str(cfg.counter_ttl_s).encode()).replace(b"%", b"%%")
            keep = _bulk(str(-(cfg.timeline_keep + 1)).encode()).replace(b"%", b"%%")
            t_ttl = _bulk(str(cfg.timeline_ttl_s).encode()).replace(b"%", b"%%")
            arg = b"$%d\r\n%b\r\n"
            self._fx = (
                (b"*2\r\n$4\r\nINCR\r\n" + arg)
                + (b"*3\r\n$6\r\nEXPIRE\r\n" + arg + c_ttl)
                + (b"*3\r\n$5\r\nPFADD\r\n" + arg * 2)
                + (b"*4\r\n$4\r\nZADD\r\n" + arg * 3)
                + (b"*4\r\n$15\r\nZREMRANGEBYRANK\r\n" + arg + b"$1\r\n0\r\n" + keep)
                + (b"*3\r\n$6\r\nEXPIRE\r\n" + arg + t_ttl)
            )
        self._ttl_ms = cfg.timeline_ttl_s * 1000
        self._buckets: dict[int, tuple[str, str]] = {}  # epoch minute -> (minute, hour bucket)
        self._tenants: dict[str, tuple[int, int, int, bytes]] = {}  # shards, group, limit, limit bytes

    def _bucket(self, time_ms: int) -> tuple[str, str]:
        minute = time_ms // 60_000
        b = self._buckets.get(minute)
        if b is None:
            if len(self._buckets) > 1024:
                self._buckets.clear()
            b = self._buckets[minute] = (minute_bucket(time_ms), hour_bucket(time_ms))
        return b

    def _tenant(self, tenant: str) -> tuple[int, int, int, bytes]:
        t = self._tenants.get(tenant)
        if t is None:
            shards = self.keys.shards(tenant)
            group_limit = self.cfg.tenant_limits.get(tenant, self.cfg.limit)
            limit = -(-group_limit // shards)
            if len(self._tenants) > 100_000:
                self._tenants.clear()
            t = self._tenants[tenant] = (shards, group_limit, limit, str(limit).encode())
        return t

    def ingest(self, events: Sequence[Event], sched_ns: Sequence[int] | None = None) -> list[Reply]:
        """Runs the per-event work (design script: one round; pipeline: limiter round, then the
        admitted events' side effects). Returns one Reply per event shaped as the script's:
        outcome and ``[allowed, remaining, counter]`` — in design pipeline the outcome and the first
        two are the limiter's, ``counter`` what round 2's ``INCR`` returned (0 when rejected or not
        returned), ``done_ns`` when the event's last round answered.
        ``sched_ns[i]`` is when event ``i`` was due (open loop); absent, the send time is used."""
        packed, route, meta = self.pack(events)
        send_ns = self.clock.now_ns()
        compact = self.recording == "compact"
        sched = [send_ns] * len(meta) if sched_ns is None else list(sched_ns)
        invoked: list[int] = []

        def record_invokes() -> None:
            # runs once the batch is sent: serialising overlaps the server's work, and the records
            # are only buffered either way (a crash loses the unflushed buffer, not more)
            invoked.extend(self._invoke(meta, sched, send_ns, compact))

        replies = self.router.execute_packed(packed, route, while_waiting=record_invokes)
        if self.design == "script":
            self._complete_script(invoked, meta, replies, compact)
            return replies
        admitted = [i for i, r in enumerate(replies) if self._count(r)]

        limiter_recorded: list[bool] = []

        def record_limiter() -> None:
            if not limiter_recorded:
                limiter_recorded.append(True)
                self._complete_limiter(invoked, replies, admitted, compact)

        if not admitted:
            record_limiter()
        out = [
            Reply(r.outcome, [r.value[0], r.value[1], 0], r.done_ns, r.node) if r.outcome is OpType.OK else r
            for r in replies
        ]
        if admitted:
            try:
                effects = self._effects(admitted, meta, invoked, sched, compact, record_limiter)
            finally:
                # round 2 failed before it was sent: the admissions are still history (and, with no
                # side-effect ops after them, the rate_limit checker reports them lost)
                record_limiter()
            for i, fx in zip(admitted, effects, strict=True):
                counter = fx.value[0] if fx.outcome is OpType.OK else None
                out[i].value[2] = counter if type(counter) is int else 0
                out[i].done_ns = fx.done_ns
        return out

    def pack(self, events: Sequence[Event]) -> tuple[list[bytes], list[str], list[_Meta]]:
        """Each event's ``EVALSHA`` (round 1) as RESP bytes, its routing key, and what recording and
        round 2 need."""
        keys, tenant_info, bucket = self.keys, self._tenant, self._bucket
        tmpl, script = self._tmpl, self.design == "script"
        packed: list[bytes] = []
        route: list[str] = []
        meta: list[_Meta] = []
        for ev in events:
            tenant, user, t_ms = ev.tenant, ev.user_id, ev.time_ms
            shards, group_limit, limit, limit_b = tenant_info(tenant)
            tag = keys.tag(tenant, keys.user_shard(tenant, user) if shards > 1 else 0)
            minute, hour = bucket(t_ms)
            k_lim = f"ratelimit:{tag}:events"
            k_cnt = f"counter:{tag}:events:{minute}"
            k_hll = f"unique:{tag}:users:{hour}"
            k_tl = f"timeline:{tag}:{user}"
            b_lim = k_lim.encode()
            now_b = b"%d" % t_ms
            id_b = ev.event_id.encode()
            if script:
                b_cnt, b_hll, b_tl, b_user = k_cnt.encode(), k_hll.encode(), k_tl.encode(), user.encode()
                entry = ev.timeline_entry().encode()
                cmd = tmpl % (
                    len(b_lim), b_lim, len(b_cnt), b_cnt, len(b_hll), b_hll, len(b_tl), b_tl,
                    len(limit_b), limit_b, len(now_b), now_b, len(id_b), id_b,
                    len(b_user), b_user, len(entry), entry,
                )  # fmt: skip
            else:
                cmd = tmpl % (len(b_lim), b_lim, len(limit_b), limit_b, len(now_b), now_b, len(id_b), id_b)
            packed.append(cmd)
            route.append(k_lim)
            meta.append((ev, minute, k_lim, k_cnt, k_hll, k_tl, limit, group_limit, shards))
        return packed, route, meta

    def pack_effects(self, meta: Sequence[_Meta]) -> list[bytes]:
        """Round 2 (design pipeline): each event's six commands as one RESP chunk."""
        fx = self._fx
        out = []
        for ev, _m, _l, k_cnt, k_hll, k_tl, *_ in meta:
            c, h, t, u = k_cnt.encode(), k_hll.encode(), k_tl.encode(), ev.user_id.encode()
            now_b = b"%d" % ev.time_ms
            entry = ev.timeline_entry().encode()
            lc, lt = len(c), len(t)
            out.append(
                fx % (
                    lc, c, lc, c, len(h), h, len(u), u, lt, t, len(now_b), now_b, len(entry), entry,
                    lt, t, lt, t,
                )
            )  # fmt: skip
        return out

    # -- recording -------------------------------------------------------------------------------

    def _invoke(self, meta: list[_Meta], sched: list[int], send_ns: int, compact: bool) -> list[int]:
        """Invokes the round-1 ops: compact ``ingest``/``ingest_rl``, or op by op ``rate_limit`` (and,
        design script, the side-effect ops the script may do)."""
        variant, window_ms, ttl_ms = self.variant, self.cfg.window_ms, self._ttl_ms
        if not self._recorded:
            return []
        if compact:
            f = "ingest" if self.design == "script" else "ingest_rl"
            fields = [
                {
                    "sched_ns": sched[i],
                    "variant": variant,
                    "tenant": ev.tenant,
                    "event_id": ev.event_id,
                    "user": ev.user_id,
                    "window": minute,
                    "keys": [k_lim, k_cnt, k_hll, k_tl],
                    "value": {
                        "now_ms": ev.time_ms,
                        "limit": limit,
                        "window_ms": window_ms,
                        "group_limit": group_limit,
                        "shards": shards,
                        "ttl_ms": ttl_ms,
                    },
                }
                for i, (ev, minute, k_lim, k_cnt, k_hll, k_tl, limit, group_limit, shards) in enumerate(meta)
            ]
            return self.rec.invoke_batch(PROCESS, f, fields, time_ns=send_ns)
        rl = [
            {
                "sched_ns": sched[i],
                "key": k_lim,
                "value": {
                    "now_ms": ev.time_ms,
                    "limit": limit,
                    "window_ms": window_ms,
                    "req": ev.event_id,
                    "group": ev.tenant,
                    "group_limit": group_limit,
                    "shards": shards,
                },
                "variant": variant,
                "tenant": ev.tenant,
                "event_id": ev.event_id,
            }
            for i, (ev, _mi, k_lim, _c, _h, _t, limit, group_limit, shards) in enumerate(meta)
        ]
        ids = self.rec.invoke_batch(PROCESS, "rate_limit", rl, time_ns=send_ns)
        if self.design == "script":
            self._fx_ids = self._invoke_effects(meta, sched, send_ns)
        return ids

    def _invoke_effects(self, meta: Sequence[_Meta], sched: Sequence[int], send_ns: int) -> list[list[int]]:
        """Op by op: ``incr``, ``pfadd``, ``ttl_write`` per event; returns their ids per kind."""
        variant, ttl_ms, rec = self.variant, self._ttl_ms, self.rec

        inc, pf, tw = [], [], []
        for (ev, minute, _l, k_cnt, k_hll, k_tl, *_), s in zip(meta, sched, strict=True):
            base = {"variant": variant, "tenant": ev.tenant, "event_id": ev.event_id}
            inc.append({"sched_ns": s, "key": k_cnt, "window": minute, **base})
            pf.append({"sched_ns": s, "key": k_hll, "value": [ev.user_id], **base})
            tw.append({"sched_ns": s, "key": k_tl, "ttl_ms": ttl_ms, "now_ms": ev.time_ms, **base})
        return [
            rec.invoke_batch(PROCESS, "incr", inc, time_ns=send_ns),
            rec.invoke_batch(PROCESS, "pfadd", pf, time_ns=send_ns),
            rec.invoke_batch(PROCESS, "ttl_write", tw, time_ns=send_ns),
        ]

    def _count(self, reply: Reply) -> bool | None:
        """Tallies one reply; True = admitted, False = rejected, None = not ok."""
        st = self.stats
        st.events += 1
        if reply.outcome is not OpType.OK:
            st.outcomes[reply.outcome.value] += 1
            return None
        st.outcomes["ok"] += 1
        if int(reply.value[0]) == 1:
            st.admitted += 1
            return True
        st.rejected += 1
        return False

    def _touched(self, k_cnt: str, k_hll: str, k_tl: str) -> None:
        self.counter_keys.add(k_cnt)
        self.hll_keys.add(k_hll)
        self.timeline_keys.add(k_tl)

    def _complete_script(
        self, ids: list[int], meta: list[_Meta], replies: list[Reply], compact: bool
    ) -> None:
        rec = self.rec
        if not self._recorded:
            for m, reply in zip(meta, replies, strict=True):
                admitted = self._count(reply)
                if admitted or (admitted is None and reply.outcome is OpType.INFO):
                    self._touched(m[3], m[4], m[5])
            return
        outcomes: list[OpType] = []
        times: list[int] = []
        fields: list[dict[str, Any]] = []
        admitted_flags: list[bool | None] = []
        for m, reply in zip(meta, replies, strict=True):
            admitted = self._count(reply)
            admitted_flags.append(admitted)
            outcomes.append(reply.outcome)
            times.append(reply.done_ns)
            if admitted is None:
                fields.append({"error": str(reply.value)})
            else:
                v = reply.value
                fields.append({"value": [int(v[0]), int(v[1]), int(v[2])]})
            if admitted or (admitted is None and reply.outcome is OpType.INFO):
                self._touched(m[3], m[4], m[5])
        if compact:
            fast = self._complete_values
            if fast is not None and all(a is not None for a in admitted_flags):  # all ok: 3 ints each
                fast(ids, PROCESS, "ingest", [f["value"] for f in fields], time_ns=times)
            else:
                rec.complete_batch(ids, outcomes, PROCESS, "ingest", fields, time_ns=times)
            return
        rl = [
            f if a is None else {"value": {"allowed": a, "remaining": f["value"][1]}}
            for f, a in zip(fields, admitted_flags, strict=True)
        ]
        rec.complete_batch(ids, outcomes, PROCESS, "rate_limit", rl, time_ns=times)
        side_out: list[OpType] = []
        for o, a in zip(outcomes, admitted_flags, strict=True):
            side_out.append(o if a is None else OpType.OK if a else OpType.FAIL)
        rejected = {"error": "rejected by the rate limiter"}
        for k, f in enumerate(("incr", "pfadd", "ttl_write")):
            side: list[dict[str, Any]] = []
            for fl, a in zip(fields, admitted_flags, strict=True):
                if a is None:
                    side.append(fl)
                elif a:
                    side.append({"value": fl["value"][2]} if f == "incr" else {})
                else:
                    side.append(rejected)
            rec.complete_batch(self._fx_ids[k], side_out, PROCESS, f, side, time_ns=times)

    def _complete_limiter(
        self, ids: list[int], replies: list[Reply], admitted: list[int], compact: bool
    ) -> None:
        """Records round 1's completions (design pipeline; already counted)."""
        if not self._recorded:
            return
        times = [r.done_ns for r in replies]
        fast = self._complete_values
        if compact and fast is not None and len(admitted) == len(replies):  # all ok and admitted
            fast(
                ids,
                PROCESS,
                "ingest_rl",
                [[int(r.value[0]), int(r.value[1])] for r in replies],
                time_ns=times,
            )
            return
        fields: list[dict[str, Any]] = []
        for reply in replies:
            if reply.outcome is not OpType.OK:
                fields.append({"error": str(reply.value)})
                continue
            v = reply.value
            if compact:
                fields.append({"value": [int(v[0]), int(v[1])]})
            else:
                fields.append({"value": {"allowed": int(v[0]) == 1, "remaining": int(v[1])}})
        f = "ingest_rl" if compact else "rate_limit"
        self.rec.complete_batch(ids, [r.outcome for r in replies], PROCESS, f, fields, time_ns=times)

    def _effects(
        self,
        idx: list[int],
        meta: list[_Meta],
        rl_ids: list[int],
        sched: list[int],
        compact: bool,
        before: Callable[[], None],
    ) -> list[Reply]:
        """Round 2 (design pipeline): the admitted events' side effects, invoked when sent (their
        records, after ``before``'s, are serialised while the server works)."""
        sub = [meta[i] for i in idx]
        packed = self.pack_effects(sub)
        route = [m[2] for m in sub]
        send_ns = self.clock.now_ns()
        rec = self.rec
        recorded = self._recorded
        fx_ids: list[int] = []
        fx: list[list[int]] = []

        def record_invokes() -> None:
            before()
            if not recorded:
                return
            if compact:
                fx_ids.extend(
                    rec.invoke_batch(PROCESS, "ingest_fx", [{"rl": rl_ids[i]} for i in idx], time_ns=send_ns)
                )
            else:
                fx.extend(self._invoke_effects(sub, [sched[i] for i in idx], send_ns))

        replies = self.router.execute_packed(packed, route, EFFECTS, while_waiting=record_invokes)
        eff = self.stats.effects
        times = [r.done_ns for r in replies]
        per: list[tuple[OpType, OpType, OpType]] = []
        errors: list[str | None] = []
        all_ok = (OpType.OK, OpType.OK, OpType.OK)
        for m, reply in zip(sub, replies, strict=True):
            vals = reply.value
            if reply.outcome is OpType.OK and all(type(v) is int for v in vals):
                # the common case: six integer replies (no error object among them)
                per.append(all_ok)
                errors.append(None)
                eff["ok"] += 1
                self._touched(m[3], m[4], m[5])
                continue
            if reply.outcome is OpType.OK:
                o = _effect_outcomes(vals)
                err = None
                if o[0] is not OpType.OK or o[1] is not OpType.OK or o[2] is not OpType.OK:
                    err = "; ".join(describe(v) for v in reply.value if isinstance(v, Exception))
            else:
                o = (reply.outcome, reply.outcome, reply.outcome)
                err = str(reply.value)
            per.append(o)
            errors.append(err)
            whole = OpType.OK if err is None else OpType.INFO if OpType.INFO in o else OpType.FAIL
            eff[whole.value] += 1
            if whole is not OpType.FAIL:
                self._touched(m[3], m[4], m[5])
        if not recorded:
            return replies
        fast = self._complete_values
        if compact and fast is not None and all(e is None for e in errors):
            fast(fx_ids, PROCESS, "ingest_fx", [r.value[0] for r in replies], time_ns=times)
            return replies
        if compact:
            outcomes: list[OpType] = []
            fields: list[dict[str, Any]] = []
            for reply, o, err in zip(replies, per, errors, strict=True):
                if err is None:
                    outcomes.append(OpType.OK)
                    fields.append({"value": reply.value[0]})
                    continue
                outcomes.append(OpType.INFO if OpType.INFO in o else OpType.FAIL)
                counter = reply.value[0] if o[0] is OpType.OK else None
                fields.append({"value": counter, "side": [x.value for x in o], "error": err})
            rec.complete_batch(fx_ids, outcomes, PROCESS, "ingest_fx", fields, time_ns=times)
            return replies
        for k, f in enumerate(("incr", "pfadd", "ttl_write")):
            kf: list[dict[str, Any]] = []
            for reply, o, err in zip(replies, per, errors, strict=True):
                if o[k] is OpType.OK:
                    kf.append({"value": reply.value[0]} if f == "incr" else {})
                else:
                    kf.append({"error": err})
            rec.complete_batch(fx[k], [o[k] for o in per], PROCESS, f, kf, time_ns=times)
        return replies
