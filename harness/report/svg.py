"""Small, dependency-free SVG charts for the HTML report.

Every function is pure and returns an ``<svg>`` element as a string, meant to be inlined in an HTML5
page (so no ``xmlns`` and no external resources). All text is escaped. Missing values (``None``,
NaN, infinities) are skipped rather than drawn. The frame, legend, axes and grid every chart shares
are drawn by :mod:`harness.report.svg_parts`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from harness.report.svg_parts import (
    AXIS,
    FONT_PX,
    REF,
    TEXT,
    Box,
    Formatter,
    Legend,
    close,
    esc,
    frame,
    open_svg,
    reference_line,
    shaded_ranges,
    title_text,
    x_axis,
)

__all__ = [
    "PALETTE",
    "Formatter",
    "Series",
    "Values",
    "bar_chart",
    "empty_chart",
    "line_chart",
    "nice_ticks",
    "percent_label",
    "tick_label",
]

Values = Sequence[float | int | None]
Series = tuple[str, Values]
Point = tuple[float, float]

PALETTE: tuple[str, ...] = (
    "#3b6ea8",  # blue
    "#e08a2c",  # orange
    "#4c9a6a",  # green
    "#b04a5a",  # red
    "#7b68a6",  # purple
    "#5aa5b8",  # teal
    "#a88f3b",  # ochre
    "#8c8c8c",  # grey
)


def _finite(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _color(colors: Sequence[str] | None, i: int) -> str:
    pal = colors if colors else PALETTE
    return pal[i % len(pal)]


def tick_label(v: float) -> str:
    """Compact axis label: 12000 -> "12k", 1200 -> "1,200", 0.25 -> "0.25"."""
    a = abs(v)
    if a >= 1e9:
        s, suffix = f"{v / 1e9:.3g}", "G"
    elif a >= 1e6:
        s, suffix = f"{v / 1e6:.3g}", "M"
    elif a >= 1e4:
        s, suffix = f"{v / 1e3:.3g}", "k"
    elif v == int(v):
        s, suffix = f"{int(v):,}", ""
    else:
        s, suffix = f"{v:.4g}", ""
    return s + suffix


def percent_label(v: float) -> str:
    """Axis label for a fraction: 0.25 -> "25%"."""
    return f"{v * 100:.3g}%"


def nice_ticks(lo: float, hi: float, max_ticks: int = 6) -> list[float]:
    """Round tick positions covering [lo, hi] (1, 2, 2.5, 5 x 10^k steps)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        hi = lo + (abs(lo) if lo else 1.0)
    raw = (hi - lo) / max(1, max_ticks - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), 10 * mag)
    start = math.floor(lo / step) * step
    ticks: list[float] = []
    t = start
    while t < hi + step * 0.999 and len(ticks) < 50:
        ticks.append(round(t, 12))
        t += step
    return ticks


def empty_chart(message: str = "no data", *, title: str = "", width: int = 560, height: int = 120) -> str:
    """A placeholder of the same look as a chart, with a centred message."""
    parts = open_svg(width, height, title or message)
    if title:
        parts.append(title_text(title))
    parts.append(
        f'<text x="{width / 2:.1f}" y="{height / 2 + 4:.1f}" text-anchor="middle" fill="{AXIS}" '
        f'font-size="{FONT_PX + 1}">{esc(message)}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    title: str = "",
    x_label: str = "",
    y_label: str = "",
    y_format: Formatter = tick_label,
    value_format: Formatter | None = None,
    reference: float | None = None,
    reference_label: str = "",
    colors: Sequence[str] | None = None,
    width: int = 560,
    height: int = 300,
) -> str:
    """Grouped bar chart: one group per category, one bar per series within each group.

    ``series`` is ``[(name, values)]`` with ``values[i]`` belonging to ``categories[i]``. An optional
    horizontal dashed ``reference`` line (e.g. an even share) is drawn across the plot.
    """
    vals = [[_finite(v) for v in values] for _, values in series]
    present = [v for row in vals for v in row if v is not None]
    if not categories or not series or not present:
        return empty_chart("no data", title=title, width=width)
    ref = _finite(reference)
    hi = max([*present, ref if ref is not None else 0.0, 0.0])
    lo = min([*present, 0.0])
    ticks = nice_ticks(lo, hi * 1.08 if hi > 0 else 1.0)

    names = [name for name, _ in series]
    bar_colors: list[str | None] = [_color(colors, i) for i in range(len(series))]
    entries, entry_colors, entry_dashed = list(names), list(bar_colors), [False] * len(names)
    if ref is not None and reference_label:
        entries.append(reference_label)
        entry_colors.append(REF)
        entry_dashed.append(True)
    box, parts = frame(
        width,
        height,
        "bar chart",
        title=title,
        x_label=x_label,
        entries=Legend(entries, entry_colors, entry_dashed),
        yticks=ticks,
        y_format=y_format,
        y_label=y_label,
    )
    parts += _bars(categories, names, vals, bar_colors, box, value_format or y_format)
    if ref is not None:
        parts.append(reference_line(box, ref, reference_label))
    return close(parts, box, height, x_label)


def _bars(
    categories: Sequence[str],
    names: Sequence[str],
    vals: Sequence[Sequence[float | None]],
    bar_colors: Sequence[str | None],
    box: Box,
    label_fmt: Formatter,
) -> list[str]:
    """The bars, grouped by category (values printed above them when there is room), the
    categories' labels and the baseline at zero (or the axis' lowest tick)."""
    parts: list[str] = []
    group_w = (box.right - box.left) / len(categories)
    bar_w = group_w * 0.78 / len(names)
    show_values = bar_w >= 26
    base = box.y(max(box.t0, 0.0))
    for ci, cat in enumerate(categories):
        gx = box.left + ci * group_w + group_w * 0.11
        for si, name in enumerate(names):
            row = vals[si]
            v = row[ci] if ci < len(row) else None
            if v is None:
                continue
            x = gx + si * bar_w
            y = box.y(v)
            y_top, h = min(y, base), abs(base - y)
            parts.append(
                f'<rect x="{x + 1:.1f}" y="{y_top:.1f}" width="{max(bar_w - 2, 1):.1f}" height="{h:.1f}" '
                f'fill="{bar_colors[si]}"><title>{esc(f"{name} · {cat}: {label_fmt(v)}")}</title></rect>'
            )
            if show_values:
                parts.append(
                    f'<text x="{x + bar_w / 2:.1f}" y="{y_top - 4:.1f}" text-anchor="middle" '
                    f'font-size="{FONT_PX - 1}" fill="{TEXT}">{esc(label_fmt(v))}</text>'
                )
        parts.append(
            f'<text x="{box.left + (ci + 0.5) * group_w:.1f}" y="{box.bottom + 16:.1f}" text-anchor="middle" '
            f'fill="{TEXT}">{esc(cat)}</text>'
        )
    parts.append(
        f'<line x1="{box.left:.1f}" y1="{base:.1f}" x2="{box.right:.1f}" y2="{base:.1f}" stroke="{AXIS}"/>'
    )
    return parts


def line_chart(
    x: Sequence[float | int | None],
    series: Sequence[Series],
    *,
    title: str = "",
    x_label: str = "",
    y_label: str = "",
    x_format: Formatter = tick_label,
    y_format: Formatter = tick_label,
    colors: Sequence[str] | None = None,
    dashed: Sequence[str] = (),
    bands: Sequence[tuple[float, float, str]] = (),
    width: int = 560,
    height: int = 300,
) -> str:
    """Line chart of several named series sharing one x axis.

    ``series`` is ``[(name, ys)]`` with ``ys[i]`` plotted at ``x[i]``; a missing point breaks the
    line. Series named in ``dashed`` are drawn with a dashed stroke (e.g. an offered/target rate).
    ``bands`` are shaded x ranges ``(from, to, label)`` behind the lines (fault windows).
    """
    pts = _points(x, series)
    all_pts = [p for row in pts for p in row if p is not None]
    if not series or not all_pts:
        return empty_chart("no data", title=title, width=width)

    x_lo, x_hi = min(p[0] for p in all_pts), max(p[0] for p in all_pts)
    if x_hi == x_lo:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    y_hi = max(p[1] for p in all_pts)
    y_lo = min(0.0, min(p[1] for p in all_pts))
    yticks = nice_ticks(y_lo, y_hi * 1.05 if y_hi > 0 else 1.0)
    xticks = [t for t in nice_ticks(x_lo, x_hi, 8) if x_lo - 1e-9 <= t <= x_hi + 1e-9]

    names = [name for name, _ in series]
    line_colors: list[str | None] = [_color(colors, i) for i in range(len(series))]
    is_dashed = [name in dashed for name in names]
    box, parts = frame(
        width,
        height,
        "line chart",
        title=title,
        x_label=x_label,
        entries=Legend(names, line_colors, is_dashed, as_lines=True),
        yticks=yticks,
        y_format=y_format,
        y_label=y_label,
    )

    def sx(v: float) -> float:
        return box.left + (v - x_lo) / (x_hi - x_lo) * (box.right - box.left)

    parts += x_axis(xticks, sx, box, x_format)
    parts += shaded_ranges(bands, sx, x_lo, x_hi, box)
    parts += _lines(pts, names, line_colors, is_dashed, sx, box.y)
    return close(parts, box, height, x_label)


def _points(x: Sequence[float | int | None], series: Sequence[Series]) -> list[list[Point | None]]:
    """Each series' points ``(x, y)``, None where either coordinate is missing."""
    xs = [_finite(v) for v in x]
    pts: list[list[Point | None]] = []
    for _, ys in series:
        row: list[Point | None] = []
        for xi, yi in zip(xs, ys, strict=False):
            yv = _finite(yi)
            row.append((xi, yv) if xi is not None and yv is not None else None)
        pts.append(row)
    return pts


def _lines(
    pts: Sequence[Sequence[Point | None]],
    names: Sequence[str],
    line_colors: Sequence[str | None],
    is_dashed: Sequence[bool],
    sx: Callable[[float], float],
    sy: Callable[[float], float],
) -> list[str]:
    """One group per series: a polyline per run of present points (a lone point is a dot)."""
    parts: list[str] = []
    # Dashed series (targets, offered rates) go last so a solid series on the same values cannot hide them.
    order = sorted(range(len(pts)), key=lambda i: is_dashed[i])
    for si in order:
        segments: list[list[Point]] = [[]]
        for p in pts[si]:
            if p is None:
                if segments[-1]:
                    segments.append([])
            else:
                segments[-1].append(p)
        dash = ' stroke-dasharray="6 4"' if is_dashed[si] else ""
        parts.append(f"<g><title>{esc(names[si])}</title>")
        for seg in segments:
            if len(seg) == 1:
                parts.append(
                    f'<circle cx="{sx(seg[0][0]):.1f}" cy="{sy(seg[0][1]):.1f}" r="2.5" '
                    f'fill="{line_colors[si]}"/>'
                )
            elif seg:
                coords = " ".join(f"{sx(a):.1f},{sy(b):.1f}" for a, b in seg)
                parts.append(
                    f'<polyline points="{coords}" fill="none" stroke="{line_colors[si]}" stroke-width="2" '
                    f'stroke-linejoin="round" stroke-linecap="round"{dash}/>'
                )
        parts.append("</g>")
    return parts
