"""Building blocks for simulated histories: records exactly as ``HistoryRecorder`` writes them."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.history.loader import Op, pair_ops

MS = 1_000_000
#: Wall-clock ms at run start (server time = run time + this, one machine, no skew).
WALL0_MS = 1_700_000_000_000


def wall_ms(t_ns: int) -> float:
    return WALL0_MS + t_ns / MS


@dataclass
class History:
    """Appends invoke/completion record pairs; ``outcome=None`` leaves the op without a completion."""

    records: list[dict[str, Any]] = field(default_factory=list)
    next_id: int = 1

    def op(
        self,
        process: str,
        f: str,
        invoke_ns: int,
        outcome: str | None,
        complete_ns: int,
        fields: dict[str, Any] | None = None,
        result: dict[str, Any] | None = None,
    ) -> int:
        op_id, self.next_id = self.next_id, self.next_id + 1
        base = {"id": op_id, "process": process, "f": f}
        self.records.append({**base, "type": "invoke", "time_ns": invoke_ns, **(fields or {})})
        if outcome is not None:
            done = {**base, "type": outcome, "time_ns": complete_ns, **(result or {})}
            if outcome != "ok":
                done.setdefault("error", "TimeoutError" if outcome == "info" else "ConnectionError")
            self.records.append(done)
        return op_id

    def file_order(self) -> list[dict[str, Any]]:
        return sorted(self.records, key=lambda r: r["time_ns"])


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
