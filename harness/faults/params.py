"""Checks for fault parameters: each raises one :class:`FaultParamError` naming the fault, the
parameter, what it got and what it expects (schedules are plain data typed by hand)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from harness.faults.base import FaultParamError


def number(
    kind: str,
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    integer: bool = False,
) -> float:
    """A finite number (an int when ``integer``) within the bounds; bools are refused."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if integer and ok and not float(value).is_integer():
        ok = False
    what = "an integer" if integer else "a number"
    if not ok:
        raise FaultParamError(f"fault {kind}: '{name}' must be {what}, got {value!r}")
    v = float(value)
    if minimum is not None and v < minimum:
        raise FaultParamError(f"fault {kind}: '{name}' must be >= {minimum:g}, got {value!r}")
    if maximum is not None and v > maximum:
        raise FaultParamError(f"fault {kind}: '{name}' must be <= {maximum:g}, got {value!r}")
    if above is not None and v <= above:
        raise FaultParamError(f"fault {kind}: '{name}' must be > {above:g}, got {value!r}")
    return v


def choice(kind: str, name: str, value: Any, allowed: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise FaultParamError(f"fault {kind}: '{name}' must be one of {', '.join(allowed)}; got {value!r}")
    return value


def text(kind: str, name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FaultParamError(f"fault {kind}: '{name}' must be a non-empty string, got {value!r}")
    return value


def flag(kind: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise FaultParamError(f"fault {kind}: '{name}' must be true or false, got {value!r}")
    return value
