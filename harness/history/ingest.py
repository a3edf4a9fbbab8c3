"""Expands one compact ``ingest`` op into the checkers' vocabulary ops (pure, no I/O).

The ingestion workload (:mod:`harness.workload.redis_ingest`) runs one script per event that does
the rate-limit check and, if admitted, the counter ``INCR``, the ``PFADD`` and the timeline write.
Recording those as four ops per event costs more than the run may spend on recording, so it records
one ``ingest`` op; :func:`expand_ingest` gives back exactly the ops the op-by-op recording writes:

* ``rate_limit``: invoke ``key`` (limiter), ``tenant``, ``event_id`` (the link id), ``value`` =
  ``{now_ms, limit, window_ms, req, group, group_limit, shards}``; ok: ``{allowed, remaining}``;
* ``incr`` (``key`` counter, ``window``), ``pfadd`` (``key`` HyperLogLog, ``value`` = [user]),
  ``ttl_write`` (``key`` timeline, ``ttl_ms``, ``now_ms``): ok with the script when it admitted the
  event (``incr`` carries the counter), ``fail`` when it rejected it or was refused, ``info`` (or
  never completed) with it.

Every expanded op keeps ``process``, ``variant``, ``sched_ns`` and the times of the compact op. Its
id is ``EXPANDED_BASE + 4 × id + k`` (k = 0..3 in the order above): unique, apart from any recorded
id, and in the same order as the compact ops.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from harness.history.loader import Op

INGEST = "ingest"
EXPANDED_BASE = 1 << 48
_SIDE_EFFECTS = ("incr", "pfadd", "ttl_write")
_REJECTED = "rejected by the rate limiter"


def _pair(base: Op, k: int, f: str, inv: dict[str, Any], comp: dict[str, Any] | None) -> Op:
    op_id = EXPANDED_BASE + 4 * base.id + k
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


def expand_ingest(op: Op) -> Iterator[Op]:
    """The four vocabulary ops of one ``ingest`` op, in order (see the module doc)."""
    inv = op.invoke
    common: dict[str, Any] = {
        "sched_ns": inv.get("sched_ns"),
        "variant": inv.get("variant"),
        "tenant": inv.get("tenant"),
        "event_id": inv.get("event_id"),
    }
    v = inv["value"]
    k_lim, k_cnt, k_hll, k_tl = inv["keys"]
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
    yield _pair(
        op,
        0,
        "rate_limit",
        {
            **common,
            "key": k_lim,
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
    side_invokes: tuple[dict[str, Any], ...] = (
        {**common, "key": k_cnt, "window": inv.get("window")},
        {**common, "key": k_hll, "value": [inv.get("user")]},
        {**common, "key": k_tl, "ttl_ms": v["ttl_ms"], "now_ms": v["now_ms"]},
    )
    for k, (f, side) in enumerate(zip(_SIDE_EFFECTS, side_invokes, strict=True), 1):
        side_comp: dict[str, Any] | None = None
        if comp is not None:
            if ok and admitted:
                side_comp = {"type": "ok"}
                if f == "incr" and result is not None:
                    side_comp["value"] = result[2]
            elif ok:
                side_comp = {"type": "fail", "error": _REJECTED}
            else:
                side_comp = {"type": outcome, "error": comp.get("error")}
        out = _pair(op, k, f, side, side_comp)
        if ok and not admitted:
            out.outcome = "fail"
        yield out


def expand_compact(ops: Iterator[Op]) -> Iterator[Op]:
    """``ops`` with every ``ingest`` op replaced by its expansion; other ops pass through."""
    for op in ops:
        if op.f == INGEST:
            yield from expand_ingest(op)
        else:
            yield op
