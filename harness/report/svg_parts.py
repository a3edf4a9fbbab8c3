"""The pieces every chart of :mod:`harness.report.svg` is drawn from: the ``<svg>`` element and its
title, the legend, the plot area's layout and y scale, the axes and their grid, reference lines,
shaded x ranges and the closing x label. Each returns SVG text (or parts of it); all text is
escaped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

Formatter = Callable[[float], str]

FONT_PX = 12
CHAR_PX = 6.8  # rough average glyph width at 12px in a system sans-serif font
AXIS = "#6b7280"
GRID = "#e5e7eb"
TEXT = "#374151"
REF = "#111827"


def esc(text: object) -> str:
    return escape(str(text), quote=True)


def open_svg(width: int, height: int, label: str) -> list[str]:
    return [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{esc(label)}" font-size="{FONT_PX}" '
        f'style="max-width:100%;height:auto;font-family:inherit">',
        f"<title>{esc(label)}</title>",
    ]


def title_text(title: str) -> str:
    return f'<text x="8" y="18" font-size="{FONT_PX + 2}" font-weight="600" fill="{TEXT}">{esc(title)}</text>'


@dataclass(frozen=True)
class Legend:
    """Legend entries: names, their colours (None: the axis grey), which are dashed lines, and
    whether every entry is drawn as a line (a line chart) rather than a swatch."""

    names: Sequence[str]
    colors: Sequence[str | None]
    dashed: Sequence[bool] = ()
    as_lines: bool = False


def legend(entries: Legend, x0: float, y0: float, max_w: float) -> tuple[list[str], float]:
    """Lay out legend entries left to right, wrapping; returns (svg parts, height used)."""
    parts: list[str] = []
    x, y = x0, y0
    row_h = FONT_PX + 6
    for i, name in enumerate(entries.names):
        w = 22 + len(name) * CHAR_PX + 14
        if x > x0 and x + w > x0 + max_w:
            x, y = x0, y + row_h
        color = entries.colors[i] or AXIS
        is_dashed = i < len(entries.dashed) and entries.dashed[i]
        if is_dashed or entries.as_lines:
            dash = ' stroke-dasharray="4 3"' if is_dashed else ""
            parts.append(
                f'<line x1="{x:.1f}" y1="{y - 4:.1f}" x2="{x + 16:.1f}" y2="{y - 4:.1f}" stroke="{color}" '
                f'stroke-width="2.5"{dash}/>'
            )
        else:
            parts.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="12" height="10" rx="2" fill="{color}"/>')
        parts.append(f'<text x="{x + 20:.1f}" y="{y:.1f}" fill="{TEXT}">{esc(name)}</text>')
        x += w
    return parts, (y - y0) + row_h if entries.names else 0.0


@dataclass(frozen=True)
class Box:
    """A chart's plot area in SVG units and its y scale (``t0`` at the bottom, ``t1`` at the top)."""

    left: float
    right: float
    top: float
    bottom: float
    t0: float
    t1: float

    def y(self, v: float) -> float:
        return self.bottom - (v - self.t0) / (self.t1 - self.t0) * (self.bottom - self.top)


def frame(
    width: int,
    height: int,
    label: str,
    *,
    title: str,
    x_label: str,
    entries: Legend,
    yticks: Sequence[float],
    y_format: Formatter,
    y_label: str,
) -> tuple[Box, list[str]]:
    """A chart's frame: the ``<svg>`` element (``label`` names it when there is no ``title``), the
    title, the legend under it, and the plot area below with its y axis and grid. Returns the plot
    area and the SVG parts so far."""
    left, right = 58.0, width - 14.0
    legend_parts, legend_h = legend(entries, left, 40 if title else 18, right - left)
    top = (28.0 if title else 8.0) + legend_h + 8
    bottom = height - (40.0 if x_label else 26.0)
    box = Box(left, right, top, bottom, yticks[0], yticks[-1])
    parts = open_svg(width, height, title or label)
    if title:
        parts.append(title_text(title))
    parts += legend_parts
    parts += y_axis(yticks, box, y_format, y_label)
    return box, parts


def y_axis(ticks: Sequence[float], box: Box, fmt: Formatter, y_label: str) -> list[str]:
    """The y axis: a grid line and a label per tick, the axis line, the rotated axis label."""
    parts: list[str] = []
    left, right = box.left, box.right
    for t in ticks:
        y = box.y(t)
        parts.append(f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{right:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(
            f'<text x="{left - 6:.1f}" y="{y + 4:.1f}" text-anchor="end" fill="{AXIS}">{esc(fmt(t))}</text>'
        )
    parts.append(
        f'<line x1="{left:.1f}" y1="{box.top:.1f}" x2="{left:.1f}" y2="{box.bottom:.1f}" stroke="{AXIS}"/>'
    )
    if y_label:
        cy = (box.top + box.bottom) / 2
        parts.append(
            f'<text transform="translate(12 {cy:.1f}) rotate(-90)" text-anchor="middle" fill="{AXIS}">'
            f"{esc(y_label)}</text>"
        )
    return parts


def x_axis(ticks: Sequence[float], sx: Callable[[float], float], box: Box, fmt: Formatter) -> list[str]:
    """A numeric x axis along the bottom of the plot: the axis line, a tick mark and label per tick."""
    left, right, bottom = box.left, box.right, box.bottom
    parts = [f'<line x1="{left:.1f}" y1="{bottom:.1f}" x2="{right:.1f}" y2="{bottom:.1f}" stroke="{AXIS}"/>']
    for t in ticks:
        tx = sx(t)
        parts.append(
            f'<line x1="{tx:.1f}" y1="{bottom:.1f}" x2="{tx:.1f}" y2="{bottom + 4:.1f}" stroke="{AXIS}"/>'
        )
        parts.append(
            f'<text x="{tx:.1f}" y="{bottom + 16:.1f}" text-anchor="middle" fill="{AXIS}">'
            f"{esc(fmt(t))}</text>"
        )
    return parts


def reference_line(box: Box, value: float, label: str) -> str:
    """A horizontal dashed line across the plot at ``value`` (e.g. an even share)."""
    ry = box.y(value)
    return (
        f'<line x1="{box.left:.1f}" y1="{ry:.1f}" x2="{box.right:.1f}" y2="{ry:.1f}" stroke="{REF}" '
        f'stroke-width="1.2" stroke-dasharray="6 4">'
        f"<title>{esc(label or 'reference')}</title></line>"
    )


def shaded_ranges(
    ranges: Sequence[tuple[float, float, str]],
    sx: Callable[[float], float],
    x_lo: float,
    x_hi: float,
    box: Box,
) -> list[str]:
    """Labelled x ranges ``(from, to, label)`` shaded across the plot's height (fault windows), each
    clipped to ``[x_lo, x_hi]``; a range with nothing left is not drawn."""
    parts: list[str] = []
    top, bottom = box.top, box.bottom
    for lo, hi, label in ranges:
        a, b = sx(max(lo, x_lo)), sx(min(hi, x_hi))
        if b <= a:
            continue
        parts.append(
            f'<g><title>{esc(label)}</title><rect x="{a:.1f}" y="{top:.1f}" width="{b - a:.1f}" '
            f'height="{bottom - top:.1f}" fill="#dc2626" fill-opacity="0.10" stroke="#dc2626" '
            f'stroke-opacity="0.35"/><text x="{a + 3:.1f}" y="{top + 11:.1f}" fill="#b91c1c" '
            f'font-size="10">{esc(label)}</text></g>'
        )
    return parts


def close(parts: list[str], box: Box, height: int, x_label: str) -> str:
    """The chart's last parts (the x axis label, if any) and the closed ``<svg>``, as one string."""
    if x_label:
        cx = (box.left + box.right) / 2
        parts.append(
            f'<text x="{cx:.1f}" y="{height - 8:.1f}" text-anchor="middle" fill="{AXIS}">'
            f"{esc(x_label)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
