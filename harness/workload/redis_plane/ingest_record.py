"""How the ingestion workload (:mod:`harness.workload.redis_plane.ingest`) records its batches.

Three forms, one interface (:class:`BatchRecording`):

* :class:`CompactRecording` (the default): per batch, one batch record of ``ingest`` ops (design
  script) or of ``ingest_rl`` ops (the limiter, design pipeline) and, for the admitted events whose
  side effects were sent, one of ``ingest_fx`` ops — each op's fields as columns
  (:meth:`harness.history.recorder.HistoryRecorder.invoke_columns`). The loader turns them back into
  per-op records and :func:`harness.history.ingest.expand_compact` into the checkers' vocabulary.
  The ops' fields: :data:`harness.ops.INGEST`.
* :class:`OpRecording`: the vocabulary op by op: ``rate_limit`` (link id ``event_id``), then
  ``incr`` (with ``window``), ``pfadd`` and the timeline's ``ttl_write`` — invoked with the script
  (design script) or when round 2 is sent (design pipeline, admitted events only). Costs several
  times more; tests use it to show the compact form expands to exactly this.
* :class:`NoRecording`: nothing (no recorder given: the benchmark's baseline for recording's cost).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from harness.ops import (
    INCR,
    INGEST,
    INGEST_FX,
    INGEST_RL,
    PFADD,
    RATE_LIMIT,
    REJECTED,
    SIDE_EFFECTS,
    TTL_WRITE,
    OpType,
)

PROCESS = "ingest"
_REJECTED = {"error": REJECTED}


class Recorder(Protocol):
    """What the ingestion workload needs of :class:`harness.history.recorder.HistoryRecorder`."""

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

    def invoke_columns(
        self,
        process: str,
        f: str,
        n: int,
        columns: Mapping[str, Sequence[Any]],
        *,
        common: Mapping[str, Any] | None = None,
        time_ns: int | None = None,
    ) -> int: ...

    def complete_columns(
        self,
        first: int,
        n: int,
        outcomes: OpType | Sequence[OpType],
        process: str,
        f: str,
        columns: Mapping[str, Sequence[Any]],
        *,
        time_ns: Sequence[int],
    ) -> None: ...


class Packed(NamedTuple):
    """One batch of events as columns, with each event's packed commands (the columns of the
    platform's HyperLogLog and timeline are empty strings in a counter-only batch)."""

    seq: list[int]  # the event's number in its run's schedule
    tenant: list[str]
    event_id: list[str]
    user: list[str]
    window: list[str]  # the counter's minute bucket
    now_ms: list[int]
    limit: list[int]  # per limiter key
    group_limit: list[int]  # per tenant
    shards: list[int]
    k_lim: list[str]
    k_cnt: list[str]
    k_hll: list[str]
    k_tl: list[str]
    cmd: list[bytes]  # round 1 (design pipeline: the limiter) or the whole script (design script)
    fx: list[bytes]  # round 2's six commands (effects full, design pipeline; else empty)


@dataclass(slots=True)
class Limited:
    """Round 1 (or the script) per event: ``values[i]`` is the reply (``[allowed, remaining]``, plus
    the counter in design script) when ``outcomes[i]`` is ok, else the error's description;
    ``allowed[i]`` is 1 or 0, None when not ok; ``admitted`` counts the 1s. ``clean``: every
    outcome ok."""

    outcomes: list[OpType]
    values: list[Any]
    done_ns: list[int]
    allowed: list[int | None]
    clean: bool
    admitted: int


@dataclass(slots=True)
class Effects:
    """Round 2 (design pipeline) of the admitted events ``idx`` (None: the whole batch): each
    event's outcome as a whole (ok when all six commands were), the counter ``INCR`` returned (None
    unless the ``INCR`` was ok), and — None when every event was wholly ok — the [incr, pfadd,
    ttl_write] outcomes and the error text."""

    idx: list[int] | None
    outcomes: list[OpType]
    counters: list[int | None]
    done_ns: list[int]
    sides: list[tuple[OpType, OpType, OpType]] | None = None
    errors: list[str | None] | None = None
    #: effects counter: each counter ``EXPIRE``'s outcome (sent apart from its ``INCR``)
    expire: list[OpType] | None = None


@dataclass(frozen=True)
class Context:
    """What every op of the run shares."""

    variant: str
    window_ms: int
    ttl_ms: int


class BatchRecording(Protocol):
    """Records one batch's rounds, in the order they happen (tokens carry the op ids)."""

    def invoke(self, p: Packed, sched: Sequence[int], send_ns: int, script: bool) -> Any: ...

    def limited(self, token: Any, p: Packed, lim: Limited, script: bool) -> None: ...

    def invoke_effects(
        self, token: Any, p: Packed, idx: list[int] | None, sched: Sequence[int], send_ns: int
    ) -> Any: ...

    def effects(self, token: Any, p: Packed, eff: Effects) -> None: ...


class NoRecording:
    def invoke(self, p: Packed, sched: Sequence[int], send_ns: int, script: bool) -> None:
        return None

    def limited(self, token: Any, p: Packed, lim: Limited, script: bool) -> None:
        return None

    def invoke_effects(
        self, token: Any, p: Packed, idx: list[int] | None, sched: Sequence[int], send_ns: int
    ) -> None:
        return None

    def effects(self, token: Any, p: Packed, eff: Effects) -> None:
        return None


class CompactRecording:
    """Batch records of ``ingest``/``ingest_rl``/``ingest_fx`` ops (see the module doc)."""

    def __init__(self, rec: Recorder, ctx: Context) -> None:
        self.rec = rec
        self.common = {"variant": ctx.variant, "value.window_ms": ctx.window_ms, "value.ttl_ms": ctx.ttl_ms}

    def invoke(self, p: Packed, sched: Sequence[int], send_ns: int, script: bool) -> int:
        columns: dict[str, Sequence[Any]] = {
            "sched_ns": sched,
            "tenant": p.tenant,
            "event_id": p.event_id,
            "user": p.user,
            "window": p.window,
            "keys": list(zip(p.k_lim, p.k_cnt, p.k_hll, p.k_tl, strict=True)),
            "value.now_ms": p.now_ms,
            "value.limit": p.limit,
            "value.group_limit": p.group_limit,
            "value.shards": p.shards,
        }
        f = INGEST if script else INGEST_RL
        return self.rec.invoke_columns(PROCESS, f, len(p.seq), columns, common=self.common, time_ns=send_ns)

    def limited(self, token: int, p: Packed, lim: Limited, script: bool) -> None:
        f = INGEST if script else INGEST_RL
        n = len(lim.outcomes)
        if lim.clean:
            self.rec.complete_columns(
                token, n, OpType.OK, PROCESS, f, {"value": lim.values}, time_ns=lim.done_ns
            )
            return
        ok = [o is OpType.OK for o in lim.outcomes]
        columns = {
            "value": [v if k else None for v, k in zip(lim.values, ok, strict=True)],
            "error": [None if k else str(v) for v, k in zip(lim.values, ok, strict=True)],
        }
        self.rec.complete_columns(token, n, lim.outcomes, PROCESS, f, columns, time_ns=lim.done_ns)

    def invoke_effects(
        self, token: int, p: Packed, idx: list[int] | None, sched: Sequence[int], send_ns: int
    ) -> int:
        n = len(p.seq)
        rl = list(range(token, token + n)) if idx is None else [token + i for i in idx]
        return self.rec.invoke_columns(PROCESS, INGEST_FX, len(rl), {"rl": rl}, time_ns=send_ns)

    def effects(self, token: int, p: Packed, eff: Effects) -> None:
        m = len(eff.outcomes)
        if eff.sides is None or eff.errors is None:
            self.rec.complete_columns(
                token, m, OpType.OK, PROCESS, INGEST_FX, {"value": eff.counters}, time_ns=eff.done_ns
            )
            return
        columns: dict[str, Sequence[Any]] = {
            "value": eff.counters,
            "side": [
                None if e is None else [x.value for x in s]
                for s, e in zip(eff.sides, eff.errors, strict=True)
            ],
            "error": eff.errors,
        }
        self.rec.complete_columns(token, m, eff.outcomes, PROCESS, INGEST_FX, columns, time_ns=eff.done_ns)


class OpRecording:
    """The checkers' vocabulary, one record per op (see the module doc)."""

    def __init__(self, rec: Recorder, ctx: Context) -> None:
        self.rec = rec
        self.ctx = ctx

    def invoke(
        self, p: Packed, sched: Sequence[int], send_ns: int, script: bool
    ) -> tuple[list[int], list[list[int]] | None]:
        ctx = self.ctx
        rl = [
            {
                "sched_ns": sched[i],
                "key": p.k_lim[i],
                "value": {
                    "now_ms": p.now_ms[i],
                    "limit": p.limit[i],
                    "window_ms": ctx.window_ms,
                    "req": p.event_id[i],
                    "group": p.tenant[i],
                    "group_limit": p.group_limit[i],
                    "shards": p.shards[i],
                },
                "variant": ctx.variant,
                "tenant": p.tenant[i],
                "event_id": p.event_id[i],
            }
            for i in range(len(p.seq))
        ]
        ids = self.rec.invoke_batch(PROCESS, RATE_LIMIT, rl, time_ns=send_ns)
        return ids, (self._invoke_effects(p, None, sched, send_ns) if script else None)

    def _invoke_effects(
        self, p: Packed, idx: list[int] | None, sched: Sequence[int], send_ns: int
    ) -> list[list[int]]:
        """``incr``, ``pfadd``, ``ttl_write`` for the events ``idx``; their ids per kind."""
        ctx, rec = self.ctx, self.rec
        inc, pf, tw = [], [], []
        for i in range(len(p.seq)) if idx is None else idx:
            base = {"variant": ctx.variant, "tenant": p.tenant[i], "event_id": p.event_id[i]}
            s = sched[i]
            inc.append({"sched_ns": s, "key": p.k_cnt[i], "window": p.window[i], **base})
            pf.append({"sched_ns": s, "key": p.k_hll[i], "value": [p.user[i]], **base})
            tw.append({"sched_ns": s, "key": p.k_tl[i], "ttl_ms": ctx.ttl_ms, "now_ms": p.now_ms[i], **base})
        return [
            rec.invoke_batch(PROCESS, INCR, inc, time_ns=send_ns),
            rec.invoke_batch(PROCESS, PFADD, pf, time_ns=send_ns),
            rec.invoke_batch(PROCESS, TTL_WRITE, tw, time_ns=send_ns),
        ]

    def limited(
        self, token: tuple[list[int], list[list[int]] | None], p: Packed, lim: Limited, script: bool
    ) -> None:
        rl_ids, fx_ids = token
        fields: list[dict[str, Any]] = []
        for v, a in zip(lim.values, lim.allowed, strict=True):
            if a is None:
                fields.append({"error": str(v)})
            else:
                fields.append({"value": {"allowed": a == 1, "remaining": int(v[1])}})
        rec, times = self.rec, lim.done_ns
        rec.complete_batch(rl_ids, lim.outcomes, PROCESS, RATE_LIMIT, fields, time_ns=times)
        if fx_ids is None:
            return
        # design script: the side effects happened with the script, exactly when it admitted
        outcomes = [
            o if a is None else OpType.OK if a == 1 else OpType.FAIL
            for o, a in zip(lim.outcomes, lim.allowed, strict=True)
        ]
        for k, f in enumerate(SIDE_EFFECTS):
            side: list[dict[str, Any]] = []
            for fl, v, a in zip(fields, lim.values, lim.allowed, strict=True):
                if a is None:
                    side.append(fl)
                elif a == 1:
                    side.append({"value": int(v[2])} if f == INCR else {})
                else:
                    side.append(_REJECTED)
            rec.complete_batch(fx_ids[k], outcomes, PROCESS, f, side, time_ns=times)

    def invoke_effects(
        self, token: Any, p: Packed, idx: list[int] | None, sched: Sequence[int], send_ns: int
    ) -> list[list[int]]:
        return self._invoke_effects(p, idx, sched, send_ns)

    def effects(self, token: list[list[int]], p: Packed, eff: Effects) -> None:
        m = len(eff.outcomes)
        sides = eff.sides or [(OpType.OK, OpType.OK, OpType.OK)] * m
        errors = eff.errors or [None] * m
        for k, f in enumerate(SIDE_EFFECTS):
            fields: list[dict[str, Any]] = []
            for counter, s, err in zip(eff.counters, sides, errors, strict=True):
                if s[k] is OpType.OK:
                    fields.append({"value": counter} if f == INCR else {})
                else:
                    fields.append({"error": err})
            self.rec.complete_batch(token[k], [s[k] for s in sides], PROCESS, f, fields, time_ns=eff.done_ns)
