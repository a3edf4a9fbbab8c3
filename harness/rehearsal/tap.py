"""A history recorder that also feeds :class:`harness.metrics.live.LiveFigures`: every op it
records still goes to ``history.jsonl`` unchanged; the tap only counts and times it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.clock import RunClock
from harness.history.recorder import HistoryRecorder
from harness.metrics.live import LiveFigures
from harness.ops import OpType


def _times(n: int, time_ns: int | Sequence[int] | None, now: int) -> Sequence[int]:
    if time_ns is None or isinstance(time_ns, int):
        return [now if time_ns is None else time_ns] * n
    return time_ns


def _kinds(n: int, outcomes: OpType | Sequence[OpType]) -> list[str]:
    return [outcomes.value] * n if isinstance(outcomes, OpType) else [o.value for o in outcomes]


class TappedRecorder(HistoryRecorder):
    def __init__(self, path: Path, clock: RunClock, live: LiveFigures) -> None:
        super().__init__(path, clock)
        self.live = live

    def invoke(self, process: str, f: str, *, time_ns: int | None = None, **fields: Any) -> int:
        t = self.clock.now_ns() if time_ns is None else time_ns
        op = super().invoke(process, f, time_ns=t, **fields)
        self.live.invoked([op], t)
        return op

    def complete(
        self, op_id: int, outcome: OpType, process: str, f: str, *, time_ns: int | None = None, **fields: Any
    ) -> None:
        t = self.clock.now_ns() if time_ns is None else time_ns
        super().complete(op_id, outcome, process, f, time_ns=t, **fields)
        self.live.completed(process, f, [(op_id, outcome.value, t)])

    def invoke_batch(
        self,
        process: str,
        f: str,
        fields: Sequence[dict[str, Any]],
        *,
        time_ns: int | Sequence[int] | None = None,
    ) -> list[int]:
        t = self.clock.now_ns() if time_ns is None else time_ns
        ids = super().invoke_batch(process, f, fields, time_ns=t)
        for op, at in zip(ids, _times(len(ids), t, 0), strict=True):
            self.live.invoked([op], at)
        return ids

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
        t = self.clock.now_ns() if time_ns is None else time_ns
        super().complete_batch(op_ids, outcomes, process, f, fields, time_ns=t)
        n = len(op_ids)
        self.live.completed(process, f, list(zip(op_ids, _kinds(n, outcomes), _times(n, t, 0), strict=True)))

    def invoke_columns(
        self,
        process: str,
        f: str,
        n: int,
        columns: Mapping[str, Sequence[Any]],
        *,
        common: Mapping[str, Any] | None = None,
        time_ns: int | None = None,
    ) -> int:
        t = self.clock.now_ns() if time_ns is None else time_ns
        first = super().invoke_columns(process, f, n, columns, common=common, time_ns=t)
        self.live.invoked(range(first, first + n), t)
        return first

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
    ) -> None:
        super().complete_columns(first, n, outcomes, process, f, columns, time_ns=time_ns)
        items = list(zip(range(first, first + n), _kinds(n, outcomes), time_ns, strict=True))
        self.live.completed(process, f, items)
