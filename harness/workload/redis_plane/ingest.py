"""The ingestion service's whole per-event Redis work, in one of two designs, on the one ingest path
(:mod:`harness.workload.redis_plane.ingest_path`, effects ``full``).

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

:class:`RedisIngestor` records through one of :mod:`harness.workload.redis_plane.ingest_record`'s
forms: compact batch records (the default) or op by op, and keeps the keys its events may have
written (for the final reads).

A rejected event has no side-effect ops' effects (script: they are recorded ``fail``; pipeline: they
are never sent, so not recorded). A refused command (``fail``) certainly did nothing; a timeout or a
broken connection (``info``) may have done it. In design pipeline each side effect has its own
outcome: ``incr`` and ``pfadd`` their command's, ``ttl_write`` ok when ``ZADD``, ``ZREMRANGEBYRANK``
and ``EXPIRE`` all were, fail when all were refused, else info. An admitted event whose round 2 was
never sent (the run died between the rounds) has no side-effect ops: the rate_limit checker then
reports it ``admitted-request-lost``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

from harness.clients.redis_router import SlotRouter
from harness.clock import RunClock
from harness.ops import OpType
from harness.workload.model.generator import Event
from harness.workload.model.keys import KeyScheme
from harness.workload.redis_plane.ingest_path import (
    DEFAULT_DESIGN,
    EFFECTS,
    Design,
    Ingested,
    IngestPath,
    IngestStats,
    RedisIngestConfig,
    ingest_script,
)
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

__all__ = [
    "DEFAULT_DESIGN",
    "EFFECTS",
    "PROCESS",
    "Design",
    "IngestStats",
    "Ingested",
    "Recorder",
    "RedisIngestConfig",
    "RedisIngestor",
    "ingest_script",
]

Recording = Literal["compact", "ops"]


class _Tracked:
    """A :class:`BatchRecording` that also keeps the keys each event may have written: an admitted
    one's, or one whose outcome is unknown (a refused command certainly wrote nothing)."""

    def __init__(self, inner: BatchRecording, owner: RedisIngestor) -> None:
        self.inner = inner
        self.owner = owner

    def invoke(self, p: Packed, sched: Sequence[int], send_ns: int, script: bool) -> Any:
        return self.inner.invoke(p, sched, send_ns, script)

    def limited(self, token: Any, p: Packed, lim: Limited, script: bool) -> None:
        if script:  # the script may have run: its keys may exist
            touched = self.owner._touched
            for i, (o, a) in enumerate(zip(lim.outcomes, lim.allowed, strict=True)):
                if a == 1 or o is OpType.INFO:
                    touched(p, i)
        self.inner.limited(token, p, lim, script)

    def invoke_effects(
        self, token: Any, p: Packed, idx: list[int] | None, sched: Sequence[int], send_ns: int
    ) -> Any:
        return self.inner.invoke_effects(token, p, idx, sched, send_ns)

    def effects(self, token: Any, p: Packed, eff: Effects) -> None:
        owner, idx = self.owner, eff.idx
        if eff.sides is None:
            owner.counter_keys.update(p.k_cnt if idx is None else [p.k_cnt[i] for i in idx])
            owner.hll_keys.update(p.k_hll if idx is None else [p.k_hll[i] for i in idx])
            owner.timeline_keys.update(p.k_tl if idx is None else [p.k_tl[i] for i in idx])
        else:
            for k, o in enumerate(eff.outcomes):
                if o is not OpType.FAIL:  # it may have written
                    owner._touched(p, k if idx is None else idx[k])
        self.inner.effects(token, p, eff)


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
        ctx = Context(variant, cfg.window_ms, cfg.timeline_ttl_s * 1000)
        record: BatchRecording
        if recorder is None:
            record = NoRecording()
        elif recording == "ops":
            record = OpRecording(recorder, ctx)
        else:
            record = CompactRecording(recorder, ctx)
        self.counter_keys: set[str] = set()
        self.hll_keys: set[str] = set()
        self.timeline_keys: set[str] = set()
        self.path = IngestPath(router, clock, keys, cfg, script_sha, _Tracked(record, self), design=design)
        self.stats: IngestStats = self.path.stats

    def pack(self, events: Sequence[Event]) -> Packed:
        """The batch as columns with each event's commands as RESP bytes (:meth:`IngestPath.pack`)."""
        return self.path.packer.pack(events)

    def ingest(self, events: Sequence[Event], sched_ns: Sequence[int] | None = None) -> Ingested:
        """Runs the per-event work (design script: one round; pipeline: limiter round, then the
        admitted events' side effects) and records it. ``sched_ns[i]`` is when event ``i`` was due
        (open loop); absent, the send time is used."""
        return self.path.ingest(self.path.packer.pack(events), sched_ns)

    def ingest_stream(
        self, batches: Iterable[tuple[Sequence[Event], Sequence[int] | None]]
    ) -> Iterator[Ingested]:
        """:meth:`ingest` for each ``(events, sched_ns)`` in turn, one batch ahead
        (:meth:`IngestPath.ingest_stream`): each batch is packed just before it is sent."""
        pack = self.path.packer.pack
        return self.path.ingest_stream((pack(events), sched) for events, sched in batches)

    def _touched(self, p: Packed, i: int) -> None:
        self.counter_keys.add(p.k_cnt[i])
        self.hll_keys.add(p.k_hll[i])
        self.timeline_keys.add(p.k_tl[i])
