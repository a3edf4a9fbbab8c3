"""Building blocks for the matrix's simulated histories: the records of the one simulated platform
(:mod:`harness.bench.sim`), exactly as ``HistoryRecorder`` writes them, and helpers to find ops in
them. Each ``_sim_*.py`` module drives one part of the platform with hypothesis steps."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from harness.bench.sim.core import MS, WALL0_MS, History, takes_effect
from harness.bench.sim.core import wall as wall_ms
from harness.history.loader import Op, pair_ops

__all__ = ["MS", "WALL0_MS", "History", "takes_effect", "wall_ms"]


def completion_order(records: Iterable[dict[str, Any]]) -> list[Op]:
    """Pairs records and orders ops as the streaming loader yields them: by completion, open ops last."""
    ops = pair_ops(sorted(records, key=lambda r: r["time_ns"]))
    return sorted(ops, key=lambda o: (o.complete_ns is None, o.complete_ns or 0, o.id))


def ops_by_id(records: list[dict[str, Any]]) -> dict[int, Op]:
    return {op.id: op for op in pair_ops(copy.deepcopy(records))}


def completion_record(records: list[dict[str, Any]], op_id: int) -> dict[str, Any]:
    return next(r for r in records if r["id"] == op_id and r["type"] != "invoke")


def invoke_record(records: list[dict[str, Any]], op_id: int) -> dict[str, Any]:
    return next(r for r in records if r["id"] == op_id and r["type"] == "invoke")


def add_call(
    records: list[dict[str, Any]],
    f: str,
    span_ns: tuple[int, int],
    fields: dict[str, Any],
    result: dict[str, Any],
    process: str = "inject",
) -> list[dict[str, Any]]:
    """Adds one acknowledged op (invoke at ``span_ns[0]``, ok completion at ``span_ns[1]``) with a
    new id; returns the records in time order."""
    op_id = max((r["id"] for r in records), default=0) + 1
    base = {"id": op_id, "process": process, "f": f}
    records.append({**base, "type": "invoke", "time_ns": span_ns[0], **fields})
    records.append({**base, "type": "ok", "time_ns": span_ns[1], **result})
    records.sort(key=lambda r: r["time_ns"])
    return records
