"""Evaluating a scenario's targets against the computed metrics."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping

from harness.records import Plane, RunMetrics, TargetResult
from harness.scenario.planes import plane_absent, stand_in
from harness.scenario.spec import TargetSpec

OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
}


def lookup(metrics: RunMetrics, path: str) -> float | None:
    """``before.latency_ms.whale.p99`` → that variant's ``latency_ms["whale"].p99``, or None."""
    return metrics.lookup(path)


def evaluate(
    target: TargetSpec, metrics: RunMetrics, planes: Mapping[str, Plane] | None = None
) -> TargetResult:
    value = lookup(metrics, target.metric)
    if target.ref is not None:
        ref = lookup(metrics, target.ref)
        threshold = None if ref is None else ref * target.factor
        shown = f"{target.ref}" + (f" × {target.factor:g}" if target.factor != 1 else "")
    else:
        threshold, shown = target.threshold, None
    not_judged = stand_in(target.measured_through, planes or {})
    if not_judged is None and value is None:
        not_judged = plane_absent(target.measured_through, planes or {})
    if not_judged is not None:
        status = "not_run"
    elif value is None or threshold is None:
        status = "unknown"
    else:
        status = "pass" if OPS[target.op](value, threshold) else "fail"
    result = TargetResult(
        name=target.name,
        description=target.description,
        metric=target.metric,
        value=value,
        op=target.op,
        threshold=threshold,
        threshold_from=shown,
        status=status,
    )
    if not_judged:  # written only when there is one
        result.reason = not_judged
    return result
