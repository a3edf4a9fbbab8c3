"""A small trend chart for the nightly summary: one figure's values over past nightlies, its noise
band shaded behind them, the band's median dashed, and this nightly's value as a larger dot
(red when it is a regression, green when it improved).

Pure and dependency-free like :mod:`harness.report.svg`; drawn from the pieces of
:mod:`harness.report.svg_parts`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from harness.report.svg import empty_chart, nice_ticks, tick_label
from harness.report.svg_parts import AXIS, FONT_PX, Box, Legend, close, esc, frame

__all__ = ["STATE_COLORS", "trend_chart"]

LINE = "#3b6ea8"
BAND_FILL = "#4c9a6a"
STATE_COLORS = {"regression": "#c62828", "improved": "#1f7a3f"}


def _finite(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _y_range(present: list[float], band: tuple[float, float, float] | None, min_rel: float) -> list[float]:
    """Ticks covering the values and the band; at least ±``min_rel`` of the values' middle, so a
    wobble of a few per cent looks like one (the noise floor), not like a cliff."""
    span = [*present, *((band[0], band[2]) if band is not None else ())]
    lo, hi = min(span), max(span)
    least = abs(sorted(present)[len(present) // 2]) * min_rel
    if hi - lo < 2 * least:
        centre = (hi + lo) / 2
        lo, hi = centre - least, centre + least
    if hi == lo:
        lo, hi = lo - 1.0, hi + 1.0
    return nice_ticks(lo, hi, 3)


def _band(box: Box, band: tuple[float, float, float]) -> list[str]:
    """The band shaded across the plot, its median dashed."""
    lo, center, hi = band
    top, bottom, cy = box.y(hi), box.y(lo), box.y(center)
    return [
        f'<rect x="{box.left:.1f}" y="{top:.1f}" width="{box.right - box.left:.1f}" '
        f'height="{max(bottom - top, 1.0):.1f}" fill="{BAND_FILL}" fill-opacity="0.16">'
        f"<title>{esc(f'noise band {tick_label(lo)}–{tick_label(hi)}')}</title></rect>",
        f'<line x1="{box.left:.1f}" y1="{cy:.1f}" x2="{box.right:.1f}" y2="{cy:.1f}" '
        f'stroke="{BAND_FILL}" stroke-width="1" stroke-dasharray="4 3">'
        f"<title>{esc(f'median {tick_label(center)}')}</title></line>",
    ]


def _series(
    vals: list[float | None],
    labels: Sequence[str],
    sx: Callable[[int], float],
    box: Box,
    state: str,
    unit: str,
) -> list[str]:
    """The line (broken at a missing value) and a dot per value, the last one larger and coloured
    by ``state``."""
    parts: list[str] = []
    segment: list[str] = []
    for i, v in [*enumerate(vals), (len(vals), None)]:
        if v is None:
            if len(segment) > 1:
                parts.append(
                    f'<polyline points="{" ".join(segment)}" fill="none" stroke="{LINE}" stroke-width="1.6" '
                    f'stroke-linejoin="round" stroke-linecap="round"/>'
                )
            segment = []
        else:
            segment.append(f"{sx(i):.1f},{box.y(v):.1f}")
    for i, v in enumerate(vals):
        if v is None:
            continue
        last = i == len(vals) - 1
        color = STATE_COLORS.get(state, LINE) if last else LINE
        tip = f"{labels[i] if i < len(labels) else ''}: {tick_label(v)}" + (f" {unit}" if unit else "")
        ring = ' stroke="#fff" stroke-width="1.5"' if last else ""
        parts.append(
            f'<circle cx="{sx(i):.1f}" cy="{box.y(v):.1f}" r="{4.5 if last else 2.5}" fill="{color}"{ring}>'
            f"<title>{esc(tip)}</title></circle>"
        )
    return parts


def trend_chart(
    labels: Sequence[str],
    values: Sequence[float | int | None],
    *,
    band: tuple[float, float, float] | None = None,
    state: str = "",
    unit: str = "",
    min_rel: float = 0.125,
    width: int = 300,
    height: int = 96,
) -> str:
    """``values[i]`` (the last is this nightly's) at evenly spaced x, labelled ``labels[i]`` in
    tooltips; ``band`` is ``(lo, center, hi)``. Missing values leave gaps. The y axis spans at
    least ±``min_rel`` of the values' median, so ordinary noise looks flat."""
    vals = [_finite(v) for v in values]
    present = [v for v in vals if v is not None]
    if not present:
        return empty_chart("not measured", width=width, height=height)
    box, parts = frame(
        width,
        height,
        "trend",
        title="",
        x_label="",
        entries=Legend([], []),
        yticks=_y_range(present, band, min_rel),
        y_format=tick_label,
        y_label=unit,
    )
    n = len(vals)

    def sx(i: int) -> float:
        if n == 1:
            return (box.left + box.right) / 2
        return box.left + 8 + i * (box.right - box.left - 16) / (n - 1)

    if band is not None:
        parts += _band(box, band)
    parts.append(
        f'<line x1="{box.left:.1f}" y1="{box.bottom:.1f}" x2="{box.right:.1f}" y2="{box.bottom:.1f}" '
        f'stroke="{AXIS}"/>'
    )
    parts += _series(vals, labels, sx, box, state, unit)
    if n > 1 and labels:
        for x, anchor, label in ((box.left, "start", labels[0]), (box.right, "end", labels[-1])):
            parts.append(
                f'<text x="{x:.1f}" y="{box.bottom + 14:.1f}" text-anchor="{anchor}" fill="{AXIS}" '
                f'font-size="{FONT_PX - 2}">{esc(label)}</text>'
            )
    return close(parts, box, height, "")
