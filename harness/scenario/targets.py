"""Evaluating a scenario's targets against the computed metrics."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

from harness.scenario.spec import TargetSpec

OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}


def lookup(metrics: dict[str, Any], path: str) -> float | None:
    """``before.latency_ms.whale.p99`` → metrics['variants']['before']['latency_ms']['whale']['p99']."""
    node: Any = metrics.get("variants", {})
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, int | float) or math.isnan(node):
        return None
    return float(node)


def evaluate(target: TargetSpec, metrics: dict[str, Any]) -> dict[str, Any]:
    value = lookup(metrics, target.metric)
    if target.ref is not None:
        ref = lookup(metrics, target.ref)
        threshold = None if ref is None else ref * target.factor
        shown = f"{target.ref}" + (f" × {target.factor:g}" if target.factor != 1 else "")
    else:
        threshold, shown = target.threshold, None
    if value is None or threshold is None:
        status = "unknown"
    else:
        status = "pass" if OPS[target.op](value, threshold) else "fail"
    return {
        "name": target.name,
        "description": target.description,
        "metric": target.metric,
        "value": value,
        "op": target.op,
        "threshold": threshold,
        "threshold_from": shown,
        "status": status,
    }
