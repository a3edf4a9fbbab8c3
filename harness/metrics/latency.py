"""Event latency and throughput from a saved history (open loop: from the scheduled time)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from harness.history.loader import Op


def percentiles(values_ms: list[float]) -> dict[str, float | int | None]:
    if not values_ms:
        return {"count": 0, "p50": None, "p99": None, "p999": None, "max": None}
    arr = np.asarray(values_ms)
    p50, p99, p999 = np.percentile(arr, [50, 99, 99.9])
    return {
        "count": len(values_ms),
        "p50": float(p50),
        "p99": float(p99),
        "p999": float(p999),
        "max": float(arr.max()),
    }


class EventLatencies:
    """Per group, each event's latency: scheduled time → completion of its last op (the counter
    INCR if admitted, else the limiter check). Only events whose every op completed ``ok``.
    A fold (``observe`` each op in any order, then ``result``) so it can share a streamed pass."""

    def __init__(
        self, group_of: dict[str, str], fs: frozenset[str] = frozenset({"rate_limit", "incr"})
    ) -> None:
        self.group_of = group_of
        self.fs = fs
        self.done: dict[Any, tuple[str, int, int]] = {}
        self.failed: set[Any] = set()

    def observe(self, op: Op) -> None:
        # ``event``: the events workload's sequence number; ``event_id``: the platform's key
        event = op.get("event", op.get("event_id"))
        if event is None or op.f not in self.fs:
            return
        if op.outcome != "ok" or op.complete_ns is None:
            self.failed.add(event)
            return
        prev = self.done.get(event)
        if prev is None or op.complete_ns > prev[2]:
            self.done[event] = (op.get("tenant"), op.get("sched_ns", op.invoke_ns), op.complete_ns)

    def result(self) -> dict[str, list[float]]:
        groups: dict[str, list[float]] = defaultdict(list)
        for event, (tenant, sched, end) in self.done.items():
            if event not in self.failed:
                groups[self.group_of.get(tenant, "others")].append((end - sched) / 1e6)
        return dict(groups)


class Throughput:
    """Per one-second bin from ``start_ns``: events scheduled (offered) and limiter checks
    completed ``ok`` (achieved). A fold, like :class:`EventLatencies`."""

    def __init__(self, start_ns: int, seconds: int, f: str | frozenset[str] = "rate_limit") -> None:
        self.start_ns = start_ns
        self.seconds = seconds
        self.fs = frozenset({f}) if isinstance(f, str) else f  # the op(s) that stand for one event
        self.offered = [0] * seconds
        self.achieved = [0] * seconds

    def observe(self, op: Op) -> None:
        if op.f not in self.fs:
            return
        s = int((op.get("sched_ns", op.invoke_ns) - self.start_ns) // 1_000_000_000)
        if 0 <= s < self.seconds and op.get("attempt", 1) == 1:  # a retry is the same event again
            self.offered[s] += 1
        if op.outcome == "ok" and op.complete_ns is not None:
            c = int((op.complete_ns - self.start_ns) // 1_000_000_000)
            if 0 <= c < self.seconds:
                self.achieved[c] += 1

    def result(self) -> dict[str, list[Any]]:
        return {
            "t_s": list(range(self.seconds)),
            "offered_ops_per_s": self.offered,
            "achieved_ops_per_s": self.achieved,
        }
