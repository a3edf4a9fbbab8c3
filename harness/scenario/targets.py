"""Evaluating a scenario's targets against the computed metrics."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
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


def stand_in(target: TargetSpec, planes: Mapping[str, Any]) -> str | None:
    """Why ``target`` is not judged: its measurement passes through a plane that ran on a server
    lacking the feature it names (``results.json`` ``planes``), or None."""
    if target.measured_through is None:
        return None
    plane_name, _, feature = target.measured_through.partition(":")
    plane = planes.get(plane_name)
    if not isinstance(plane, dict) or plane.get("status") != "ran":
        return None  # the plane is not in the measurement at all
    lacks = plane.get("lacks")
    why = lacks.get(feature) if isinstance(lacks, dict) else None
    return None if why is None else f"measured through the {plane_name} plane on {plane.get('server')}: {why}"


def evaluate(
    target: TargetSpec, metrics: dict[str, Any], planes: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    value = lookup(metrics, target.metric)
    if target.ref is not None:
        ref = lookup(metrics, target.ref)
        threshold = None if ref is None else ref * target.factor
        shown = f"{target.ref}" + (f" × {target.factor:g}" if target.factor != 1 else "")
    else:
        threshold, shown = target.threshold, None
    not_judged = stand_in(target, planes or {})
    if not_judged is not None:
        status = "not_run"
    elif value is None or threshold is None:
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
        **({"reason": not_judged} if not_judged else {}),
    }
