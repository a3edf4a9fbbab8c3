"""Expands one compact ``ingest`` op into the checkers' vocabulary ops (pure, no I/O).

The ingestion workload (:mod:`harness.workload.redis_plane.ingest`) runs one script per event that does
the rate-limit check and, if admitted, the counter ``INCR``, the ``PFADD`` and the timeline write.
Recording those as four ops per event costs more than the run may spend on recording, so it records
one ``ingest`` op (the compact form, its fields: :data:`harness.ops.INGEST`); :func:`expand_ingest`
gives back exactly the ops the op-by-op recording writes:

* ``rate_limit``: invoke ``key`` (limiter), ``tenant``, ``event_id`` (the link id), ``value`` =
  ``{now_ms, limit, window_ms, req, group, group_limit, shards}``; ok: ``{allowed, remaining}``;
* ``incr`` (``key`` counter, ``window``), ``pfadd`` (``key`` HyperLogLog, ``value`` = [user]),
  ``ttl_write`` (``key`` timeline, ``ttl_ms``, ``now_ms``): ok with the script when it admitted the
  event (``incr`` carries the counter), ``fail`` when it rejected it or was refused, ``info`` (or
  never completed) with it.

Every expanded op keeps ``process``, ``variant``, ``sched_ns`` and the times of the compact op. Its
id is ``EXPANDED_BASE + 4 × id + k`` (k = 0..3 in the order above): unique, apart from any recorded
id, and in the same order as the compact ops.

The two-round design (limiter script, then the side effects pipelined) records ``ingest_rl`` (the
limiter, same invoke fields as ``ingest``; ok value ``[allowed, remaining]``) and, for an admitted
event whose side effects were sent, ``ingest_fx`` (invoke ``rl`` = the ``ingest_rl`` id; completion
``value`` = the counter, and ``side`` = [incr, pfadd, ttl_write] outcomes with ``error`` unless all
were ok). ``ingest_rl`` expands to the ``rate_limit`` op; its ``ingest_fx`` to the three side-effect
ops, with the ``ingest_fx`` op's times and outcomes and ids from the ``ingest_rl`` id as above. An
``ingest_fx`` completes after its ``ingest_rl`` in the file (round 2 is sent after round 1 is
recorded), so the stream holds an admitted ``ingest_rl`` only until its ``ingest_fx`` arrives. An
admission with no ``ingest_fx`` (round 2 never sent) gets no side-effect ops: the rate_limit checker
reports it as ``admitted-request-lost``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from harness.ops import INCR, INGEST, INGEST_FX, INGEST_RL, RATE_LIMIT, REJECTED, SIDE_EFFECTS, Op

EXPANDED_BASE = 1 << 48
_COMPACT_FS = frozenset({INGEST, INGEST_RL, INGEST_FX})


def _pair(
    base: Op, k: int, f: str, inv: dict[str, Any], comp: dict[str, Any] | None, id_of: int | None = None
) -> Op:
    """The vocabulary op ``f`` with ``base``'s times and outcome, numbered from ``id_of`` (default
    ``base.id``)."""
    op_id = EXPANDED_BASE + 4 * (base.id if id_of is None else id_of) + k
    inv["id"] = op_id
    inv["type"] = "invoke"
    inv["process"] = base.process
    inv["f"] = f
    inv["time_ns"] = base.invoke_ns
    if comp is not None:
        comp["id"] = op_id
        comp["process"] = base.process
        comp["f"] = f
        comp["time_ns"] = base.complete_ns
    return Op(
        id=op_id,
        process=base.process,
        f=f,
        invoke_ns=base.invoke_ns,
        outcome=base.outcome,
        complete_ns=base.complete_ns,
        invoke=inv,
        completion=comp,
    )


def _common(inv: dict[str, Any]) -> dict[str, Any]:
    return {
        "sched_ns": inv.get("sched_ns"),
        "variant": inv.get("variant"),
        "tenant": inv.get("tenant"),
        "event_id": inv.get("event_id"),
    }


def _side_invokes(inv: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    common = _common(inv)
    v = inv["value"]
    _k_lim, k_cnt, k_hll, k_tl = inv["keys"]
    return (
        {**common, "key": k_cnt, "window": inv.get("window")},
        {**common, "key": k_hll, "value": [inv.get("user")]},
        {**common, "key": k_tl, "ttl_ms": v["ttl_ms"], "now_ms": v["now_ms"]},
    )


def _rate_limit(op: Op) -> tuple[Op, bool]:
    """The ``rate_limit`` op of an ``ingest`` or ``ingest_rl`` op, and whether it certainly admitted."""
    inv = op.invoke
    v = inv["value"]
    comp = op.completion
    outcome = op.outcome
    ok = outcome == "ok" and comp is not None
    result = comp.get("value") if ok and comp is not None else None
    admitted = bool(result[0]) if result is not None else False
    rl_comp: dict[str, Any] | None = None
    if comp is not None:
        rl_comp = {"type": outcome}
        if ok and result is not None:
            rl_comp["value"] = {"allowed": admitted, "remaining": result[1]}
        else:
            rl_comp["error"] = comp.get("error")
    rl = _pair(
        op,
        0,
        RATE_LIMIT,
        {
            **_common(inv),
            "key": inv["keys"][0],
            "value": {
                "now_ms": v["now_ms"],
                "limit": v["limit"],
                "window_ms": v["window_ms"],
                "req": inv.get("event_id"),
                "group": inv.get("tenant"),
                "group_limit": v["group_limit"],
                "shards": v["shards"],
            },
        },
        rl_comp,
    )
    return rl, admitted


def expand_effects(rl: Op, fx: Op) -> Iterator[Op]:
    """The three side-effect ops of an admitted ``ingest_rl`` op, from its ``ingest_fx`` op."""
    comp = fx.completion
    sides = comp.get("side") if comp is not None else None
    for k, (f, side) in enumerate(zip(SIDE_EFFECTS, _side_invokes(rl.invoke), strict=True), 1):
        side_comp: dict[str, Any] | None = None
        outcome = fx.outcome if sides is None else sides[k - 1]
        if comp is not None:
            side_comp = {"type": outcome}
            if outcome == "ok":
                if f == INCR:
                    side_comp["value"] = comp.get("value")
            else:
                side_comp["error"] = comp.get("error")
        out = _pair(fx, k, f, side, side_comp, rl.id)
        out.outcome = outcome if comp is not None else None
        yield out


def expand_ingest(op: Op) -> Iterator[Op]:
    """The four vocabulary ops of one ``ingest`` op, in order (see the module doc)."""
    comp = op.completion
    outcome = op.outcome
    ok = outcome == "ok" and comp is not None
    result = comp.get("value") if ok and comp is not None else None
    rl, admitted = _rate_limit(op)
    yield rl

    side_invokes = _side_invokes(op.invoke)
    for k, (f, side) in enumerate(zip(SIDE_EFFECTS, side_invokes, strict=True), 1):
        side_comp: dict[str, Any] | None = None
        if comp is not None:
            if ok and admitted:
                side_comp = {"type": "ok"}
                if f == INCR and result is not None:
                    side_comp["value"] = result[2]
            elif ok:
                side_comp = {"type": "fail", "error": REJECTED}
            else:
                side_comp = {"type": outcome, "error": comp.get("error")}
        out = _pair(op, k, f, side, side_comp)
        if ok and not admitted:
            out.outcome = "fail"
        yield out


def _compact(op: Op) -> bool:
    """Whether ``op`` has the shape the ingest path records (another workload may well call an
    op ``ingest``: that one passes through untouched rather than crash the checkers)."""
    inv, comp = op.invoke, op.completion
    keys = inv.get("keys")
    if not (isinstance(keys, list) and len(keys) == 4 and isinstance(inv.get("value"), dict)):
        return False
    if op.outcome == "ok" and comp is not None:
        value = comp.get("value")
        return isinstance(value, list) and len(value) >= 2
    return True


def expand_compact(ops: Iterator[Op]) -> Iterator[Op]:
    """``ops`` with every ``ingest``, ``ingest_rl`` and ``ingest_fx`` op replaced by its expansion;
    other ops pass through (an ``ingest_fx`` whose ``ingest_rl`` never showed too: unjudgeable;
    and any op of those names that is not shaped as the ingest path records it)."""
    admitted: dict[int, Op] = {}  # admitted ingest_rl ops waiting for their ingest_fx
    compact = _COMPACT_FS
    for op in ops:
        f = op.f
        try:
            passes = f not in compact  # one lookup for the ops most histories consist of
        except TypeError:  # an unhashable f (a malformed record) is no compact op
            passes = True
        if passes or (f in (INGEST, INGEST_RL) and not _compact(op)):
            yield op
        elif f == INGEST:
            yield from expand_ingest(op)
        elif f == INGEST_RL:
            rl, ok_admitted = _rate_limit(op)
            yield rl
            if ok_admitted:
                admitted[op.id] = op
        elif f == INGEST_FX:
            base = admitted.pop(op.invoke.get("rl", -1), None)
            if base is None:
                yield op
            else:
                yield from expand_effects(base, op)
        else:
            yield op
