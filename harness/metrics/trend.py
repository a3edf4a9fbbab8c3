"""A series' trend: the least-squares slope of (seconds, value) points."""

from __future__ import annotations

from collections.abc import Sequence


def slope_per_s(points: Sequence[tuple[float, float]]) -> float | None:
    """Units per second fitted over ``points`` (None for fewer than two distinct times)."""
    if len(points) < 2:
        return None
    n = len(points)
    mt = sum(t for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    if var == 0:
        return None
    return round(sum((t - mt) * (v - mv) for t, v in points) / var, 1)
