"""The one Redis ingest path: for a batch of events, the tenant's sliding-window limiter, then, for
the events it admitted, their per-minute counter — with one key design (:class:`KeyScheme`: all of
an event's keys under one hash tag, so one slot).

Round 1 runs ``ratelimit.lua`` per event; round 2 is sent for the admitted events only, as
``effects`` says:

* ``"counter"``: ``INCR`` + ``EXPIRE`` of the counter, each its own command with its own reply
  and outcome (the ``events`` kind's :class:`EventDriver` and Locust's lanes);
* ``"full"``: the platform's whole per-event work, six commands per event sent as one group:
  counter ``INCR`` + ``EXPIRE``, ``PFADD`` hourly users, ``ZADD`` timeline +
  ``ZREMRANGEBYRANK`` to the newest ``timeline_keep`` + ``EXPIRE`` (:class:`RedisIngestor`).

Design ``"script"`` (``full`` only) does it all in one ``EVALSHA`` of ``ingest.lua`` per event: no
round 2.

What differs between the users on purpose stays with them: the shard of a write-sharded tenant
(drawn at random per event by the ``events`` kind; by user on the platform, so a user's timeline
is one key), how a batch is recorded (the ``events`` kind's ``rate_limit``/``incr`` ops, the
platform's compact or op-by-op records, Locust's request events: a :class:`BatchRecording` each)
and which keys a caller reads back. Locust calls the limiter by ``EVAL`` of its body (``verb``):
on an external topology nobody loads the script, and a failover would lose a loaded one.

Commands are packed as RESP (:class:`Packer`: bytes %-templates, one format per event) and
pipelined through :class:`SlotRouter` with no retries, replies read in bulk. A batch's rounds are
recorded through the caller's :class:`BatchRecording`, in the order they happen;
:meth:`IngestPath.ingest_stream` overlaps one batch's round 1 with the previous batch's round 2.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.clients.outcomes import describe, outcome_of
from harness.clients.redis_router import Replies, Sent, SlotRouter
from harness.clock import RunClock
from harness.ops import OpType
from harness.workload.model.keys import KeyScheme
from harness.workload.redis_plane.ingest_pack import (
    DEFAULT_DESIGN,
    Design,
    Packer,
    RedisIngestConfig,
    ingest_script,
    limiter_script,
)
from harness.workload.redis_plane.ingest_record import BatchRecording, Effects, Limited, Packed

__all__ = [
    "DEFAULT_DESIGN",
    "EFFECTS",
    "Design",
    "EffectsKind",
    "IngestPath",
    "IngestStats",
    "Ingested",
    "RedisIngestConfig",
    "ingest_script",
    "limiter_script",
]

EffectsKind = Literal["full", "counter"]
#: commands per admitted event in round 2 (effects full, design pipeline)
EFFECTS = 6
_ALL_OK = (OpType.OK, OpType.OK, OpType.OK)


@dataclass
class IngestStats:
    events: int = 0
    admitted: int = 0
    rejected: int = 0
    #: outcomes of the per-event script (the limiter's, in design pipeline)
    outcomes: dict[str, int] = field(default_factory=lambda: {"ok": 0, "fail": 0, "info": 0})
    #: round 2's outcomes per admitted event (effects full: all six commands ok = ok)
    effects: dict[str, int] = field(default_factory=lambda: {"ok": 0, "fail": 0, "info": 0})


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


def _effect_outcomes(values: list[Any]) -> tuple[OpType, OpType, OpType]:
    """incr, pfadd and ttl_write outcomes from round 2's six replies (see RedisIngestor's doc)."""
    o = [outcome_of(v) if isinstance(v, BaseException) else OpType.OK for v in values]
    tl = o[3:6]
    # partly applied (e.g. ZADD refused but EXPIRE done) is unknown as a whole
    ttl = tl[0] if tl[0] is tl[1] is tl[2] else OpType.INFO
    return o[0], o[2], ttl


class IngestPath:
    """Limiter, then counter(s), for batches of events (see the module doc)."""

    def __init__(
        self,
        router: SlotRouter,
        clock: RunClock,
        keys: KeyScheme,
        cfg: RedisIngestConfig,
        script: str,
        record: BatchRecording,
        *,
        design: Design = DEFAULT_DESIGN,
        effects: EffectsKind = "full",
        verb: Literal["EVALSHA", "EVAL"] = "EVALSHA",
    ) -> None:
        """``script`` is the loaded :func:`ingest_script` of ``design``'s sha (``verb`` EVAL: its
        body); ``record`` records each round as it happens."""
        if effects == "counter" and design != "pipeline":
            raise ValueError("effects counter runs the limiter script, then the counter: design pipeline")
        self.router = router
        self.clock = clock
        self.keys = keys
        self.cfg = cfg
        self.record = record
        self.design = design
        self.effects_kind = effects
        self._script = design == "script"
        self.stats = IngestStats()
        self.packer = Packer(keys, cfg, script, design, verb)
        # Effects counter records (Locust: reports) each op before its command can be sent, so
        # a lane killed mid-send reports it unknown rather than dropping it; effects full
        # serialises its records while the server works instead (its throughput is the benchmark).
        self._record_first = effects == "counter"

    def ingest(self, p: Packed, sched_ns: Sequence[int] | None = None) -> Ingested:
        """Runs both rounds for the packed batch (design script: one round) and records them.
        ``sched_ns[i]`` is when event ``i`` was due (open loop); absent, the send time is used."""
        try:
            return self._finish(self._second(self._first(p, sched_ns)))
        except BaseException:
            self.router.abandon_in_flight()
            raise

    def ingest_stream(self, batches: Iterable[tuple[Packed, Sequence[int] | None]]) -> Iterator[Ingested]:
        """:meth:`ingest` for each ``(packed, sched_ns)`` in turn, keeping the server busy: batch
        ``k + 1``'s first round is sent before batch ``k``'s last replies are read, so the server
        works on it while this process reads, records and packs (a closed loop of one batch at a
        time leaves the server idle meanwhile). Results come in order. The rounds of one batch run
        in order as in :meth:`ingest`; batches overlap only across rounds, which touch different
        keys (limiter vs side effects), and a batch's events are admitted in batch order."""
        ahead: _Flight | None = None
        try:
            for p, sched_ns in batches:
                flight = self._first(p, sched_ns)
                if ahead is not None:
                    yield self._finish(ahead)
                ahead = self._second(flight)
            if ahead is not None:
                yield self._finish(ahead)
        except BaseException:  # includes the consumer closing the stream early (GeneratorExit)
            self.router.abandon_in_flight()
            raise

    def _first(self, p: Packed, sched_ns: Sequence[int] | None) -> _Flight:
        """Sends round 1 (design script: the whole work) and records its invokes while the server
        works on it."""
        n = len(p.cmd)
        send_ns = self.clock.now_ns()
        sched = [send_ns] * n if sched_ns is None else list(sched_ns)
        if self._record_first:
            token = self.record.invoke(p, sched, send_ns, self._script)
            return _Flight(p, sched, token, self.router.send_packed(p.cmd, p.k_lim))
        sent = self.router.send_packed(p.cmd, p.k_lim)
        # serialising overlaps the server's work; records are only buffered either way (a crash
        # loses the unflushed buffer, not more)
        token = self.record.invoke(p, sched, send_ns, self._script)
        return _Flight(p, sched, token, sent)

    def _second(self, f: _Flight) -> _Flight:
        """Reads round 1; design pipeline: sends round 2 for the admitted events, recording round
        1's completions and round 2's invokes while the server works on it."""
        assert f.sent is not None
        p, record = f.p, self.record
        lim = f.lim = self._limited(self.router.receive(f.sent))
        f.sent = None
        if self._script:
            record.limited(f.token, p, lim, True)
            return f
        n = len(p.cmd)
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
        counters = [0] * len(p.cmd)
        if self._script:
            for i, (a, v) in enumerate(zip(lim.allowed, lim.values, strict=True)):
                if a == 1:
                    counters[i] = int(v[2])
            return Ingested(lim.outcomes, lim.allowed, counters, lim.done_ns)
        if f.sent is None:  # nobody admitted: no round 2
            return Ingested(lim.outcomes, lim.allowed, counters, lim.done_ns)
        eff = self._effect_results(self.router.receive(f.sent), f.idx)
        tally = self.stats.effects
        for o in eff.outcomes:
            tally[o.value] += 1
        self.record.effects(f.fx_token, p, eff)
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

    def _effects(
        self,
        p: Packed,
        idx: list[int] | None,
        sched: list[int],
        token: Any,
        before: Callable[[], None],
    ) -> tuple[Sent, Any]:
        """Sends round 2: the admitted events' side effects ``idx`` (None: all), invoked when
        sent; their records, after ``before``'s, are serialised while the server works (effects
        counter: before it is sent). Returns the sent batch and the records' token."""
        send_ns = self.clock.now_ns()
        if self._record_first:
            before()
            fx_token = self.record.invoke_effects(token, p, idx, sched, send_ns)
            k_cnt = p.k_cnt if idx is None else [p.k_cnt[i] for i in idx]
            route = [k for k in k_cnt for _ in (0, 1)]  # INCR and EXPIRE, each its own command
            return self.router.send_packed(self.packer.counter_commands(k_cnt), route), fx_token
        packed = p.fx if idx is None else [p.fx[i] for i in idx]
        route = p.k_lim if idx is None else [p.k_lim[i] for i in idx]
        sent = self.router.send_packed(packed, route, EFFECTS)
        before()
        return sent, self.record.invoke_effects(token, p, idx, sched, send_ns)

    def _effect_results(self, r: Replies, idx: list[int] | None) -> Effects:
        if self.effects_kind == "counter":
            return _counter_results(r, idx)
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


def _counter_results(r: Replies, idx: list[int] | None) -> Effects:
    """Effects counter: each ``INCR``'s own outcome, value (None unless ok), error and time;
    each ``EXPIRE``'s outcome apart."""
    outcomes, values, done = r.outcomes[0::2], r.values[0::2], r.done_ns[0::2]
    ok = [o is OpType.OK for o in outcomes]
    return Effects(
        idx,
        outcomes,
        [v if k else None for v, k in zip(values, ok, strict=True)],
        done,
        errors=[None if k else str(v) for v, k in zip(values, ok, strict=True)],
        expire=r.outcomes[1::2],
    )
