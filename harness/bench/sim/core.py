"""Records exactly as ``HistoryRecorder`` writes them, simulated time, and where records go.

A :class:`Sink` numbers ops and builds their invoke and completion records; :class:`History` keeps
them in a list (file order on demand), :class:`Writer` streams them to a file in time order.
:class:`Clock` runs scheduled tasks in time order for the benchmark's discrete-event simulation.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from typing import Any, BinaryIO

import orjson

MS = 1_000_000  # ns
S = 1_000_000_000
#: Wall-clock ms at run start: server time = run time + this (one machine, no skew).
WALL0_MS = 1_700_000_000_000


def wall(t_ns: int) -> float:
    """Server wall-clock ms (µs resolution) at run time ``t_ns``."""
    return WALL0_MS + (t_ns // 1000) / 1000


def draw_outcome(rng: random.Random, ok: float, info: float) -> str:
    """``ok`` with probability ``ok``, ``info`` with ``info``, else ``fail``."""
    r = rng.random()
    return "ok" if r < ok else ("info" if r < ok + info else "fail")


def takes_effect(outcome: str | None, applied: bool) -> bool:
    """Whether an op took effect: certainly when ``ok``, never when ``fail``, as ``applied`` says
    when its outcome is unknown (``info``, or no completion: ``None``)."""
    return outcome == "ok" or (outcome != "fail" and applied)


def ttl_removed_at(expires_ms: float, monitor_ms: float, late_ms: float) -> float:
    """When the TTL monitor (a pass every ``monitor_ms``) deletes a document expiring at
    ``expires_ms``: at its first pass after the expiry, that pass running ``late_ms`` late."""
    first_pass = math.ceil(expires_ms / monitor_ms) * monitor_ms
    return max(expires_ms, first_pass + late_ms)


def error_of(outcome: str) -> str:
    return "TimeoutError" if outcome == "info" else "ConnectionError"


class Sink:
    """Numbers ops and builds their records; subclasses decide where a record goes (:meth:`_emit`).

    An invoke carries ``fields`` (after ``variant`` when the sink has one); a completion carries
    ``result``, and an ``error`` unless ``ok``; ``outcome=None`` leaves the op without completion."""

    def __init__(self, variant: str | None = None) -> None:
        self.variant = {} if variant is None else {"variant": variant}
        self.next_id = 1
        self.ops = 0
        self.by_f: dict[str, int] = {}

    def _emit(self, t_ns: int, rec: dict[str, Any]) -> None:
        raise NotImplementedError

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
        self.ops += 1
        self.by_f[f] = self.by_f.get(f, 0) + 1
        base = {"id": op_id, "process": process, "f": f}
        self._emit(
            invoke_ns, {**base, "type": "invoke", "time_ns": invoke_ns, **self.variant, **(fields or {})}
        )
        if outcome is not None:
            done = {**base, "type": outcome, "time_ns": complete_ns, **(result or {})}
            if outcome != "ok":
                done.setdefault("error", error_of(outcome))
            self._emit(complete_ns, done)
        return op_id

    def call(
        self,
        process: str,
        f: str,
        invoke_ns: int,
        outcome: str | None,
        complete_ns: int,
        fields: dict[str, Any] | None = None,
        result: dict[str, Any] | None = None,
    ) -> int:
        """:meth:`op` as a client records a call: with ``result`` only when it returned (``ok``)."""
        return self.op(
            process, f, invoke_ns, outcome, complete_ns, fields, result if outcome == "ok" else None
        )


class History(Sink):
    """Records kept in a list, in the order the ops were made."""

    def __init__(self, variant: str | None = None) -> None:
        super().__init__(variant)
        self.records: list[dict[str, Any]] = []

    def _emit(self, t_ns: int, rec: dict[str, Any]) -> None:
        self.records.append(rec)

    def file_order(self) -> list[dict[str, Any]]:
        """The records in time order, as the recorder writes them (ties in the order made)."""
        return sorted(self.records, key=lambda r: r["time_ns"])


class Writer(Sink):
    """Writes records to ``fh`` in time order: every record waits in a heap until :meth:`advance`
    passes its time."""

    def __init__(self, fh: BinaryIO, variant: str | None = None) -> None:
        super().__init__(variant)
        self.fh = fh
        self.pending: list[tuple[int, int, bytes]] = []
        self.seq = 0

    def _emit(self, t_ns: int, rec: dict[str, Any]) -> None:
        self.seq += 1
        heapq.heappush(self.pending, (t_ns, self.seq, orjson.dumps(rec) + b"\n"))

    def advance(self, upto_ns: int | None = None) -> None:
        """Writes every record up to ``upto_ns`` (all when None); nothing earlier may be added after."""
        while self.pending and (upto_ns is None or self.pending[0][0] <= upto_ns):
            self.fh.write(heapq.heappop(self.pending)[2])


class Clock:
    """Tasks due at a time, run in time order (ties in scheduling order)."""

    def __init__(self) -> None:
        self.tasks: list[tuple[int, int, Callable[[int], None]]] = []
        self.seq = 0

    def at(self, t_ns: int, task: Callable[[int], None]) -> None:
        self.seq += 1
        heapq.heappush(self.tasks, (t_ns, self.seq, task))

    def run_until(self, t_ns: int) -> None:
        while self.tasks and self.tasks[0][0] <= t_ns:
            due, _, task = heapq.heappop(self.tasks)
            task(due)

    def poisson(self, rate: float, rng: random.Random, task: Callable[[int], None], start: int = 0) -> None:
        """Runs ``task`` at the arrivals of a Poisson process of ``rate`` per second."""

        def arrival(t: int) -> None:
            task(t)
            self.at(t + 1 + int(rng.expovariate(rate) * S), arrival)

        self.at(start + 1 + int(rng.expovariate(rate) * S), arrival)
