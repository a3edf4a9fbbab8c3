"""The ingestion service's whole per-event Redis work, in one of two designs.

* ``"script"``: one ``EVALSHA`` of ``ingest.lua`` per event, doing all of it atomically:
  the capstone's limiter, then for an admitted event ``INCR`` counter + ``EXPIRE`` 600 s, ``PFADD``
  hourly users, ``ZADD`` timeline + ``ZREMRANGEBYRANK`` to the newest 100 + ``EXPIRE`` 86400 s.
* ``"pipeline"`` (the default; the capstone's own shape): round 1 runs the limiter script (``ratelimit.lua``)
  per event; round 2 pipelines the same plain commands for the admitted events only,
  non-transactional as the capstone's ``RealTimeCounters`` and ``UserTimelineCache`` send them. It
  costs the server a few µs less per event than the one script (no Lua call around six commands)
  and, with replies read in bulk, the driver about as little (``python -m harness.bench --only
  ingest`` measures both).

Keys share one hash tag per event (:class:`KeyScheme`), so both designs are cluster-safe; a
write-sharded tenant's shard is chosen by user (:meth:`KeyScheme.user_shard`).

:class:`RedisIngestor` packs RESP itself, pipelines through :class:`SlotRouter` (no retries, replies
read in bulk) and records through one of :mod:`harness.workload.redis_plane.ingest_record`'s forms: compact
batch records (the default) or op by op.

A rejected event has no side-effect ops' effects (script: they are recorded ``fail``; pipeline: they
are never sent, so not recorded). A refused command (``fail``) certainly did nothing; a timeout or a
broken connection (``info``) may have done it. In design pipeline each side effect has its own
outcome: ``incr`` and ``pfadd`` their command's, ``ttl_write`` ok when ``ZADD``, ``ZREMRANGEBYRANK``
and ``EXPIRE`` all were, fail when all were refused, else info. An admitted event whose round 2 was
never sent (the run died between the rounds) has no side-effect ops: the rate_limit checker then
reports it ``admitted-request-lost``, which is what happened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

from harness.clients.outcomes import describe, outcome_of
from harness.clients.redis_router import Replies, Sent, SlotRouter
from harness.clock import RunClock
from harness.ops import OpType
from harness.workload.model.generator import Event
from harness.workload.model.keys import KeyScheme, hour_bucket, minute_bucket
from harness.workload.redis_plane.ingest_record import (
    PROCESS,
    BatchRecording,
    CompactRecording,
    Context,
    Effects,
    Limited,
    NoRecording,
    OpRecording,
    Packed,
    Recorder,
)

__all__ = ["PROCESS", "Recorder"]

Recording = Literal["compact", "ops"]
Design = Literal["pipeline", "script"]
DEFAULT_DESIGN: Design = "pipeline"
#: commands per admitted event in round 2 (design pipeline)
EFFECTS = 6
_ALL_OK = (OpType.OK, OpType.OK, OpType.OK)


def ingest_script(design: Design = DEFAULT_DESIGN) -> str:
    """The script ``design`` runs per event: the limiter alone (pipeline) or the whole work."""
    name = "ratelimit.lua" if design == "pipeline" else "ingest.lua"
    return resources.files("harness.workload").joinpath(name).read_text()


@dataclass(frozen=True)
class RedisIngestConfig:
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


@dataclass(slots=True)
class _Flight:
    """A batch between its rounds: what was sent and is still to be read, and the record tokens."""

    p: Packed
    sched: list[int]
    token: Any
    sent: Sent | None  # the round whose replies are to be read next (None: none)
    lim: Limited | None = None
    idx: list[int] | None = None
    fx_token: Any = None


@dataclass(slots=True)
class Ingested:
    """One batch's result per event: the limiter's (design script: the script's) outcome,
    ``allowed`` 1/0 (None unless that was ok), the counter round 2's ``INCR`` (or the script)
    returned (0 when rejected or not known) and when the event's last round answered."""

    outcomes: list[OpType]
    allowed: list[int | None]
    counters: list[int]
    done_ns: list[int]

    def admitted(self) -> list[int]:
        """The indices of the events the limiter certainly admitted."""
        return [i for i, a in enumerate(self.allowed) if a == 1]


def _bulk(b: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(b), b)


def _effect_outcomes(values: list[Any]) -> tuple[OpType, OpType, OpType]:
    """incr, pfadd and ttl_write outcomes from round 2's six replies (see the module doc)."""
    o = [outcome_of(v) if isinstance(v, BaseException) else OpType.OK for v in values]
    tl = o[3:6]
    # partly applied (e.g. ZADD refused but EXPIRE done) is unknown as a whole
    ttl = tl[0] if tl[0] is tl[1] is tl[2] else OpType.INFO
    return o[0], o[2], ttl


class RedisIngestor:
    """Runs the per-event work for batches of events and records them (see the module doc)."""

    def __init__(
        self,
        router: SlotRouter,
        recorder: Recorder | None,
        clock: RunClock,
        keys: KeyScheme,
        cfg: RedisIngestConfig,
        variant: str,
        script_sha: str,
        recording: Recording = "compact",
        design: Design = DEFAULT_DESIGN,
    ) -> None:
        """``script_sha`` is the loaded :func:`ingest_script` of ``design``; no ``recorder``: record
        nothing (builds no records at all, the honest baseline for recording's cost)."""
        self.router = router
        self.rec = recorder
        self.clock = clock
        self.keys = keys
        self.cfg = cfg
        self.variant = variant
        self.recording = recording
        self.design = design
        self._script = design == "script"
        ctx = Context(variant, cfg.window_ms, cfg.timeline_ttl_s * 1000)
        self._record: BatchRecording
        if recorder is None:
            self._record = NoRecording()
        elif recording == "ops":
            self._record = OpRecording(recorder, ctx)
        else:
            self._record = CompactRecording(recorder, ctx)
        self.stats = IngestStats()
        self.counter_keys: set[str] = set()
        self.hll_keys: set[str] = set()
        self.timeline_keys: set[str] = set()
        self._tmpl, self._fx = self._templates(script_sha)
        self._buckets: dict[int, tuple[str, str]] = {}  # epoch minute -> (minute, hour bucket)
        self._tenants: dict[str, tuple[int, int, int, bytes]] = {}  # shards, group, limit, limit bytes

    def _templates(self, script_sha: str) -> tuple[bytes, bytes]:
        """Round 1's (or the script's) command and round 2's six as bytes %-templates, so packing
        an event is one format each."""
        cfg = self.cfg

        def lit(v: object) -> bytes:  # a constant argument, its % escaped for the template
            return _bulk(str(v).encode()).replace(b"%", b"%%")

        arg = b"$%d\r\n%b\r\n"
        sha, win = lit(script_sha), lit(cfg.window_ms)
        if self._script:
            tail = lit(cfg.counter_ttl_s) + lit(cfg.timeline_keep) + lit(cfg.timeline_ttl_s)
            return b"*16\r\n$7\r\nEVALSHA\r\n" + sha + b"$1\r\n4\r\n" + arg * 5 + win + arg * 4 + tail, b""
        limiter = b"*8\r\n$7\r\nEVALSHA\r\n" + sha + b"$1\r\n1\r\n" + arg * 2 + win + arg * 2
        effects = (
            (b"*2\r\n$4\r\nINCR\r\n" + arg)
            + (b"*3\r\n$6\r\nEXPIRE\r\n" + arg + lit(cfg.counter_ttl_s))
            + (b"*3\r\n$5\r\nPFADD\r\n" + arg * 2)
            + (b"*4\r\n$4\r\nZADD\r\n" + arg * 3)
            + (b"*4\r\n$15\r\nZREMRANGEBYRANK\r\n" + arg + b"$1\r\n0\r\n" + lit(-(cfg.timeline_keep + 1)))
            + (b"*3\r\n$6\r\nEXPIRE\r\n" + arg + lit(cfg.timeline_ttl_s))
        )
        return limiter, effects

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

    def pack(self, events: Sequence[Event]) -> Packed:
        """The batch as columns with each event's commands as RESP bytes (round 2's too, in design
        pipeline: packed with round 1 while the strings are at hand, sent for the admitted)."""
        keys, tenant_info, bucket = self.keys, self._tenant, self._bucket
        tmpl, fx, script = self._tmpl, self._fx, self._script
        rows = []
        for ev in events:
            tenant, user, t_ms = ev.tenant, ev.user_id, ev.time_ms
            shards, group_limit, limit, limit_b = tenant_info(tenant)
            tag = keys.tag(tenant, keys.user_shard(tenant, user) if shards > 1 else 0)
            minute, hour = bucket(t_ms)
            k_lim = f"ratelimit:{tag}:events"
            k_cnt = f"counter:{tag}:events:{minute}"
            k_hll = f"unique:{tag}:users:{hour}"
            k_tl = f"timeline:{tag}:{user}"
            b_lim, b_cnt, b_hll, b_tl, b_user = (
                k_lim.encode(), k_cnt.encode(), k_hll.encode(), k_tl.encode(), user.encode()
            )  # fmt: skip
            now_b = b"%d" % t_ms
            id_b = ev.event_id.encode()
            entry = ev.timeline_entry().encode()
            lc, lt = len(b_cnt), len(b_tl)
            if script:
                cmd = tmpl % (
                    len(b_lim), b_lim, lc, b_cnt, len(b_hll), b_hll, lt, b_tl,
                    len(limit_b), limit_b, len(now_b), now_b, len(id_b), id_b,
                    len(b_user), b_user, len(entry), entry,
                )  # fmt: skip
                side = b""
            else:
                cmd = tmpl % (len(b_lim), b_lim, len(limit_b), limit_b, len(now_b), now_b, len(id_b), id_b)
                side = fx % (
                    lc, b_cnt, lc, b_cnt, len(b_hll), b_hll, len(b_user), b_user, lt, b_tl,
                    len(now_b), now_b, len(entry), entry, lt, b_tl, lt, b_tl,
                )  # fmt: skip
            rows.append(
                (ev, tenant, ev.event_id, user, minute, t_ms, limit, group_limit, shards,
                 k_lim, k_cnt, k_hll, k_tl, cmd, side)
            )  # fmt: skip
        if not rows:
            return Packed(*([] for _ in Packed._fields))
        return Packed(*map(list, zip(*rows, strict=True)))

    def ingest(self, events: Sequence[Event], sched_ns: Sequence[int] | None = None) -> Ingested:
        """Runs the per-event work (design script: one round; pipeline: limiter round, then the
        admitted events' side effects) and records it. ``sched_ns[i]`` is when event ``i`` was due
        (open loop); absent, the send time is used."""
        try:
            return self._finish(self._second(self._first(events, sched_ns)))
        except BaseException:
            self.router.abandon_in_flight()
            raise

    def ingest_stream(
        self, batches: Iterable[tuple[Sequence[Event], Sequence[int] | None]]
    ) -> Iterator[Ingested]:
        """:meth:`ingest` for each ``(events, sched_ns)`` in turn, keeping the server busy: batch
        ``k + 1``'s first round is sent before batch ``k``'s last replies are read, so the server
        works on it while this process reads, records and packs (a closed loop of one batch at a
        time leaves the server idle meanwhile). Results come in order. The rounds of one batch run
        in order as in :meth:`ingest`; batches overlap only across rounds, which touch different
        keys (limiter vs side effects), and a batch's events are admitted in batch order."""
        ahead: _Flight | None = None
        try:
            for events, sched_ns in batches:
                flight = self._first(events, sched_ns)
                if ahead is not None:
                    yield self._finish(ahead)
                ahead = self._second(flight)
            if ahead is not None:
                yield self._finish(ahead)
        except BaseException:  # includes the consumer closing the stream early (GeneratorExit)
            self.router.abandon_in_flight()
            raise

    def _first(self, events: Sequence[Event], sched_ns: Sequence[int] | None) -> _Flight:
        """Packs the batch, sends round 1 (design script: the whole work) and records its invokes
        while the server works on it."""
        p = self.pack(events)
        n = len(p.events)
        send_ns = self.clock.now_ns()
        sched = [send_ns] * n if sched_ns is None else list(sched_ns)
        sent = self.router.send_packed(p.cmd, p.k_lim)
        # serialising overlaps the server's work; records are only buffered either way (a crash
        # loses the unflushed buffer, not more)
        token = self._record.invoke(p, sched, send_ns, self._script)
        return _Flight(p, sched, token, sent)

    def _second(self, f: _Flight) -> _Flight:
        """Reads round 1; design pipeline: sends round 2 for the admitted events, recording round
        1's completions and round 2's invokes while the server works on it."""
        assert f.sent is not None
        p, record = f.p, self._record
        lim = f.lim = self._limited(self.router.receive(f.sent))
        f.sent = None
        if self._script:
            record.limited(f.token, p, lim, True)
            return f
        n = len(p.events)
        f.idx = None  # the admitted events (None: all of them, the common case)
        if not (lim.clean and lim.admitted == n):
            f.idx = [i for i, a in enumerate(lim.allowed) if a == 1]
        if f.idx is not None and not f.idx:
            record.limited(f.token, p, lim, False)
            return f
        recorded: list[bool] = []

        def record_limiter() -> None:
            if not recorded:
                recorded.append(True)
                record.limited(f.token, p, lim, False)

        try:
            f.sent, f.fx_token = self._effects(p, f.idx, f.sched, f.token, record_limiter)
        finally:
            # round 2 failed before it was sent: the admissions are still history (and, with no
            # side-effect ops after them, the rate_limit checker reports them lost)
            record_limiter()
        return f

    def _finish(self, f: _Flight) -> Ingested:
        """Reads round 2 (design pipeline) and records it; the batch's result per event."""
        p, lim = f.p, f.lim
        assert lim is not None
        n = len(p.events)
        counters = [0] * n
        if self._script:
            for i, (o, a, v) in enumerate(zip(lim.outcomes, lim.allowed, lim.values, strict=True)):
                if a == 1:
                    counters[i] = int(v[2])
                if a == 1 or o is OpType.INFO:  # the script may have run: its keys may exist
                    self._touched(p, i)
            return Ingested(lim.outcomes, lim.allowed, counters, lim.done_ns)
        if f.sent is None:  # nobody admitted: no round 2
            return Ingested(lim.outcomes, lim.allowed, counters, lim.done_ns)
        eff = self._effect_results(self.router.receive(f.sent), f.idx)
        self._tally_effects(p, eff)
        self._record.effects(f.fx_token, p, eff)
        done = lim.done_ns
        if f.idx is None:
            counters = [c if type(c) is int else 0 for c in eff.counters]
            done = eff.done_ns
        else:
            done = list(done)
            for i, c, t in zip(f.idx, eff.counters, eff.done_ns, strict=True):
                counters[i] = c if type(c) is int else 0
                done[i] = t
        return Ingested(lim.outcomes, lim.allowed, counters, done)

    def _limited(self, r: Replies) -> Limited:
        """Round 1's replies per event, tallied in the stats."""
        st = self.stats
        n = len(r.outcomes)
        st.events += n
        if r.clean:
            allowed: list[int | None] = [v[0] for v in r.values]
            st.outcomes["ok"] += n
        else:
            allowed = [v[0] if o is OpType.OK else None for o, v in zip(r.outcomes, r.values, strict=True)]
            for o in r.outcomes:
                st.outcomes[o.value] += 1
        adm = allowed.count(1)
        st.admitted += adm
        st.rejected += allowed.count(0)
        return Limited(r.outcomes, r.values, r.done_ns, allowed, r.clean, adm)

    def _touched(self, p: Packed, i: int) -> None:
        self.counter_keys.add(p.k_cnt[i])
        self.hll_keys.add(p.k_hll[i])
        self.timeline_keys.add(p.k_tl[i])

    def _effects(
        self,
        p: Packed,
        idx: list[int] | None,
        sched: list[int],
        token: Any,
        before: Callable[[], None],
    ) -> tuple[Sent, Any]:
        """Sends round 2 (design pipeline): the admitted events' side effects ``idx`` (None: all),
        invoked when sent; their records, after ``before``'s, are serialised while the server
        works. Returns the sent batch and the records' token."""
        send_ns = self.clock.now_ns()
        packed = p.fx if idx is None else [p.fx[i] for i in idx]
        route = p.k_lim if idx is None else [p.k_lim[i] for i in idx]
        sent = self.router.send_packed(packed, route, EFFECTS)
        before()
        return sent, self._record.invoke_effects(token, p, idx, sched, send_ns)

    def _tally_effects(self, p: Packed, eff: Effects) -> None:
        idx, tally = eff.idx, self.stats.effects
        if eff.sides is None:
            tally["ok"] += len(eff.outcomes)
            self.counter_keys.update(p.k_cnt if idx is None else [p.k_cnt[i] for i in idx])
            self.hll_keys.update(p.k_hll if idx is None else [p.k_hll[i] for i in idx])
            self.timeline_keys.update(p.k_tl if idx is None else [p.k_tl[i] for i in idx])
            return
        for k, o in enumerate(eff.outcomes):
            tally[o.value] += 1
            if o is not OpType.FAIL:  # it may have written
                self._touched(p, k if idx is None else idx[k])

    @staticmethod
    def _effect_results(r: Replies, idx: list[int] | None) -> Effects:
        if r.clean:
            return Effects(idx, r.outcomes, [v[0] for v in r.values], r.done_ns)
        counters: list[int | None] = []
        outcomes: list[OpType] = []
        sides: list[tuple[OpType, OpType, OpType]] = []
        errors: list[str | None] = []
        for o, vals in zip(r.outcomes, r.values, strict=True):
            if o is not OpType.OK:
                sides.append((o, o, o))
                errors.append(str(vals))
                outcomes.append(o)
                counters.append(None)
                continue
            s = _effect_outcomes(vals)
            sides.append(s)
            counters.append(vals[0] if s[0] is OpType.OK else None)
            if s == _ALL_OK:
                errors.append(None)
                outcomes.append(OpType.OK)
            else:
                errors.append("; ".join(describe(v) for v in vals if isinstance(v, BaseException)))
                outcomes.append(OpType.INFO if OpType.INFO in s else OpType.FAIL)
        return Effects(idx, outcomes, counters, r.done_ns, sides, errors)
