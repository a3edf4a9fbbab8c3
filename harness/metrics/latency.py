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


def event_latencies(ops: list[Op], group_of: dict[str, str]) -> dict[str, list[float]]:
    """Per group, each event's latency: scheduled time → completion of its last op (the counter
    INCR if admitted, else the limiter check). Only events whose every op completed ``ok``."""
    done: dict[int, tuple[str, int, int]] = {}
    failed: set[int] = set()
    for op in ops:
        event = op.get("event")
        if event is None or op.f not in ("rate_limit", "incr"):
            continue
        if op.outcome != "ok" or op.complete_ns is None:
            failed.add(event)
            continue
        tenant = op.get("tenant")
        sched = op.get("sched_ns", op.invoke_ns)
        prev = done.get(event)
        if prev is None or op.complete_ns > prev[2]:
            done[event] = (tenant, sched, op.complete_ns)
    groups: dict[str, list[float]] = defaultdict(list)
    for event, (tenant, sched, end) in done.items():
        if event not in failed:
            groups[group_of.get(tenant, "others")].append((end - sched) / 1e6)
    return dict(groups)


def throughput_series(ops: list[Op], start_ns: int, seconds: int) -> dict[str, list[Any]]:
    """Per one-second bin from ``start_ns``: events scheduled (offered) and limiter checks
    completed ``ok`` (achieved)."""
    offered = [0] * seconds
    achieved = [0] * seconds
    for op in ops:
        if op.f != "rate_limit":
            continue
        s = int((op.get("sched_ns", op.invoke_ns) - start_ns) // 1_000_000_000)
        if 0 <= s < seconds:
            offered[s] += 1
        if op.outcome == "ok" and op.complete_ns is not None:
            c = int((op.complete_ns - start_ns) // 1_000_000_000)
            if 0 <= c < seconds:
                achieved[c] += 1
    return {"t_s": list(range(seconds)), "offered_ops_per_s": offered, "achieved_ops_per_s": achieved}
