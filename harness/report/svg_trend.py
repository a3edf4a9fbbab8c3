"""A small trend chart for the nightly summary: one figure's values over past nightlies, its noise
band shaded behind them, the band's median dashed, and this nightly's value as a larger dot
(red when it is a regression, green when it improved).

Pure and dependency-free like :mod:`harness.report.svg`; drawn from the pieces of
:mod:`harness.report.svg_parts`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from harness.report.svg import empty_chart, nice_ticks, tick_label
from harness.report.svg_parts import AXIS, FONT_PX, Legend, close, esc, frame

__all__ = ["STATE_COLORS", "trend_chart"]

LINE = "#3b6ea8"
BAND_FILL = "#4c9a6a"
STATE_COLORS = {"regression": "#c62828", "improved": "#1f7a3f"}


def _finite(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


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
    lo_b, center, hi_b = band if band is not None else (None, None, None)
    span = [*present, *(x for x in (lo_b, hi_b) if x is not None)]
    lo, hi = min(span), max(span)
    # A wobble of a few per cent must look like one: the axis spans at least ±min_rel of the
    # values' middle (the noise floor), not just the values.
    mid = sorted(present)[len(present) // 2]
    least = abs(mid) * min_rel
    if hi - lo < 2 * least:
        centre = (hi + lo) / 2
        lo, hi = centre - least, centre + least
    if hi == lo:
        lo, hi = lo - 1.0, hi + 1.0
    ticks = nice_ticks(lo, hi, 3)
    box, parts = frame(
        width,
        height,
        "trend",
        title="",
        x_label="",
        entries=Legend([], []),
        yticks=ticks,
        y_format=tick_label,
        y_label=unit,
    )
    n = len(vals)

    def sx(i: int) -> float:
        if n == 1:
            return (box.left + box.right) / 2
        return box.left + 8 + i * (box.right - box.left - 16) / (n - 1)

    if lo_b is not None and hi_b is not None and center is not None:
        top, bottom = box.y(hi_b), box.y(lo_b)
        parts.append(
            f'<rect x="{box.left:.1f}" y="{top:.1f}" width="{box.right - box.left:.1f}" '
            f'height="{max(bottom - top, 1.0):.1f}" fill="{BAND_FILL}" fill-opacity="0.16">'
            f"<title>{esc(f'noise band {tick_label(lo_b)}–{tick_label(hi_b)}')}</title></rect>"
        )
        cy = box.y(center)
        median = esc(f"median {tick_label(center)}")
        parts.append(
            f'<line x1="{box.left:.1f}" y1="{cy:.1f}" x2="{box.right:.1f}" y2="{cy:.1f}" '
            f'stroke="{BAND_FILL}" stroke-width="1" stroke-dasharray="4 3"><title>{median}</title></line>'
        )
    parts.append(
        f'<line x1="{box.left:.1f}" y1="{box.bottom:.1f}" x2="{box.right:.1f}" y2="{box.bottom:.1f}" '
        f'stroke="{AXIS}"/>'
    )
    segment: list[str] = []
    for i, v in enumerate(vals):
        if v is None:
            if len(segment) > 1:
                parts.append(_polyline(segment))
            segment = []
            continue
        segment.append(f"{sx(i):.1f},{box.y(v):.1f}")
    if len(segment) > 1:
        parts.append(_polyline(segment))
    for i, v in enumerate(vals):
        if v is None:
            continue
        last = i == n - 1
        color = STATE_COLORS.get(state, LINE) if last else LINE
        r = 4.5 if last else 2.5
        label = labels[i] if i < len(labels) else ""
        tip = f"{label}: {tick_label(v)}" + (f" {unit}" if unit else "")
        ring = ' stroke="#fff" stroke-width="1.5"' if last else ""
        parts.append(
            f'<circle cx="{sx(i):.1f}" cy="{box.y(v):.1f}" r="{r}" fill="{color}"{ring}>'
            f"<title>{esc(tip)}</title></circle>"
        )
    if n > 1 and labels:
        parts.append(
            f'<text x="{box.left:.1f}" y="{box.bottom + 14:.1f}" fill="{AXIS}" font-size="{FONT_PX - 2}">'
            f"{esc(labels[0])}</text>"
        )
        parts.append(
            f'<text x="{box.right:.1f}" y="{box.bottom + 14:.1f}" text-anchor="end" fill="{AXIS}" '
            f'font-size="{FONT_PX - 2}">{esc(labels[-1])}</text>'
        )
    return close(parts, box, height, "")


def _polyline(points: list[str]) -> str:
    return (
        f'<polyline points="{" ".join(points)}" fill="none" stroke="{LINE}" stroke-width="1.6" '
        f'stroke-linejoin="round" stroke-linecap="round"/>'
    )
