"""Small, dependency-free SVG charts for the HTML report.

Every function is pure and returns an ``<svg>`` element as a string, meant to be inlined in an HTML5
page (so no ``xmlns`` and no external resources). All text is escaped. Missing values (``None``,
NaN, infinities) are skipped rather than drawn.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

Values = Sequence[float | int | None]
Series = tuple[str, Values]
Formatter = Callable[[float], str]

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

_FONT_PX = 12
_CHAR_PX = 6.8  # rough average glyph width at 12px in a system sans-serif font
_AXIS = "#6b7280"
_GRID = "#e5e7eb"
_TEXT = "#374151"
_REF = "#111827"


def _e(text: object) -> str:
    return escape(str(text), quote=True)


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
    parts = _open(width, height, title or message)
    if title:
        parts.append(_title(title))
    parts.append(
        f'<text x="{width / 2:.1f}" y="{height / 2 + 4:.1f}" text-anchor="middle" fill="{_AXIS}" '
        f'font-size="{_FONT_PX + 1}">{_e(message)}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _open(width: int, height: int, label: str) -> list[str]:
    return [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{_e(label)}" font-size="{_FONT_PX}" '
        f'style="max-width:100%;height:auto;font-family:inherit">',
        f"<title>{_e(label)}</title>",
    ]


def _title(title: str) -> str:
    return (
        f'<text x="8" y="18" font-size="{_FONT_PX + 2}" font-weight="600" fill="{_TEXT}">{_e(title)}</text>'
    )


def _legend(
    names: Sequence[str],
    colors: Sequence[str | None],
    x0: float,
    y0: float,
    max_w: float,
    dashed: Sequence[bool] = (),
    as_lines: bool = False,
) -> tuple[list[str], float]:
    """Lay out legend entries left to right, wrapping; returns (svg parts, height used)."""
    parts: list[str] = []
    x, y = x0, y0
    row_h = _FONT_PX + 6
    for i, name in enumerate(names):
        w = 22 + len(name) * _CHAR_PX + 14
        if x > x0 and x + w > x0 + max_w:
            x, y = x0, y + row_h
        color = colors[i] or _AXIS
        is_dashed = i < len(dashed) and dashed[i]
        if is_dashed or as_lines:
            dash = ' stroke-dasharray="4 3"' if is_dashed else ""
            parts.append(
                f'<line x1="{x:.1f}" y1="{y - 4:.1f}" x2="{x + 16:.1f}" y2="{y - 4:.1f}" stroke="{color}" '
                f'stroke-width="2.5"{dash}/>'
            )
        else:
            parts.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="12" height="10" rx="2" fill="{color}"/>')
        parts.append(f'<text x="{x + 20:.1f}" y="{y:.1f}" fill="{_TEXT}">{_e(name)}</text>')
        x += w
    return parts, (y - y0) + row_h if names else 0.0


def _y_axis(
    ticks: Sequence[float],
    scale: Callable[[float], float],
    left: float,
    right: float,
    fmt: Formatter,
    y_label: str,
    top: float,
    bottom: float,
) -> list[str]:
    parts: list[str] = []
    for t in ticks:
        y = scale(t)
        parts.append(f'<line x1="{left:.1f}" y1="{y:.1f}" x2="{right:.1f}" y2="{y:.1f}" stroke="{_GRID}"/>')
        parts.append(
            f'<text x="{left - 6:.1f}" y="{y + 4:.1f}" text-anchor="end" fill="{_AXIS}">{_e(fmt(t))}</text>'
        )
    parts.append(f'<line x1="{left:.1f}" y1="{top:.1f}" x2="{left:.1f}" y2="{bottom:.1f}" stroke="{_AXIS}"/>')
    if y_label:
        cy = (top + bottom) / 2
        parts.append(
            f'<text transform="translate(12 {cy:.1f}) rotate(-90)" text-anchor="middle" fill="{_AXIS}">'
            f"{_e(y_label)}</text>"
        )
    return parts


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
    left, right = 58.0, width - 14.0
    entries, entry_colors, entry_dashed = list(names), list(bar_colors), [False] * len(names)
    if ref is not None and reference_label:
        entries.append(reference_label)
        entry_colors.append(_REF)
        entry_dashed.append(True)
    legend, legend_h = _legend(entries, entry_colors, left, 40 if title else 18, right - left, entry_dashed)
    top = (28.0 if title else 8.0) + legend_h + 8
    bottom = height - (40.0 if x_label else 26.0)
    t0, t1 = ticks[0], ticks[-1]

    def sy(v: float) -> float:
        return bottom - (v - t0) / (t1 - t0) * (bottom - top)

    parts = _open(width, height, title or "bar chart")
    if title:
        parts.append(_title(title))
    parts += legend
    parts += _y_axis(ticks, sy, left, right, y_format, y_label, top, bottom)

    group_w = (right - left) / len(categories)
    bar_w = group_w * 0.78 / len(series)
    label_fmt = value_format or y_format
    show_values = bar_w >= 26
    base = sy(max(t0, 0.0))
    for ci, cat in enumerate(categories):
        gx = left + ci * group_w + group_w * 0.11
        for si, (name, _) in enumerate(series):
            row = vals[si]
            v = row[ci] if ci < len(row) else None
            if v is None:
                continue
            x = gx + si * bar_w
            y = sy(v)
            y_top, h = min(y, base), abs(base - y)
            parts.append(
                f'<rect x="{x + 1:.1f}" y="{y_top:.1f}" width="{max(bar_w - 2, 1):.1f}" height="{h:.1f}" '
                f'fill="{bar_colors[si]}"><title>{_e(f"{name} · {cat}: {label_fmt(v)}")}</title></rect>'
            )
            if show_values:
                parts.append(
                    f'<text x="{x + bar_w / 2:.1f}" y="{y_top - 4:.1f}" text-anchor="middle" '
                    f'font-size="{_FONT_PX - 1}" fill="{_TEXT}">{_e(label_fmt(v))}</text>'
                )
        parts.append(
            f'<text x="{left + (ci + 0.5) * group_w:.1f}" y="{bottom + 16:.1f}" text-anchor="middle" '
            f'fill="{_TEXT}">{_e(cat)}</text>'
        )
    parts.append(f'<line x1="{left:.1f}" y1="{base:.1f}" x2="{right:.1f}" y2="{base:.1f}" stroke="{_AXIS}"/>')
    if ref is not None:
        ry = sy(ref)
        parts.append(
            f'<line x1="{left:.1f}" y1="{ry:.1f}" x2="{right:.1f}" y2="{ry:.1f}" stroke="{_REF}" '
            f'stroke-width="1.2" stroke-dasharray="6 4">'
            f"<title>{_e(reference_label or 'reference')}</title></line>"
        )
    if x_label:
        parts.append(
            f'<text x="{(left + right) / 2:.1f}" y="{height - 8:.1f}" text-anchor="middle" fill="{_AXIS}">'
            f"{_e(x_label)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


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
    xs = [_finite(v) for v in x]
    pts: list[list[tuple[float, float] | None]] = []
    for _, ys in series:
        row: list[tuple[float, float] | None] = []
        for xi, yi in zip(xs, ys, strict=False):
            yv = _finite(yi)
            row.append((xi, yv) if xi is not None and yv is not None else None)
        pts.append(row)
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
    left, right = 58.0, width - 14.0
    legend, legend_h = _legend(
        names, line_colors, left, 40 if title else 18, right - left, is_dashed, as_lines=True
    )
    top = (28.0 if title else 8.0) + legend_h + 8
    bottom = height - (40.0 if x_label else 26.0)
    t0, t1 = yticks[0], yticks[-1]

    def sx(v: float) -> float:
        return left + (v - x_lo) / (x_hi - x_lo) * (right - left)

    def sy(v: float) -> float:
        return bottom - (v - t0) / (t1 - t0) * (bottom - top)

    parts = _open(width, height, title or "line chart")
    if title:
        parts.append(_title(title))
    parts += legend
    parts += _y_axis(yticks, sy, left, right, y_format, y_label, top, bottom)
    parts.append(
        f'<line x1="{left:.1f}" y1="{bottom:.1f}" x2="{right:.1f}" y2="{bottom:.1f}" stroke="{_AXIS}"/>'
    )
    for t in xticks:
        tx = sx(t)
        parts.append(
            f'<line x1="{tx:.1f}" y1="{bottom:.1f}" x2="{tx:.1f}" y2="{bottom + 4:.1f}" stroke="{_AXIS}"/>'
        )
        parts.append(
            f'<text x="{tx:.1f}" y="{bottom + 16:.1f}" text-anchor="middle" fill="{_AXIS}">'
            f"{_e(x_format(t))}</text>"
        )

    for lo, hi, label in bands:
        a, b = sx(max(lo, x_lo)), sx(min(hi, x_hi))
        if b <= a:
            continue
        parts.append(
            f'<g><title>{_e(label)}</title><rect x="{a:.1f}" y="{top:.1f}" width="{b - a:.1f}" '
            f'height="{bottom - top:.1f}" fill="#dc2626" fill-opacity="0.10" stroke="#dc2626" '
            f'stroke-opacity="0.35"/><text x="{a + 3:.1f}" y="{top + 11:.1f}" fill="#b91c1c" '
            f'font-size="10">{_e(label)}</text></g>'
        )
    # Dashed series (targets, offered rates) go last so a solid series on the same values cannot hide them.
    order = sorted(range(len(pts)), key=lambda i: is_dashed[i])
    for si in order:
        row = pts[si]
        segments: list[list[tuple[float, float]]] = [[]]
        for p in row:
            if p is None:
                if segments[-1]:
                    segments.append([])
            else:
                segments[-1].append(p)
        dash = ' stroke-dasharray="6 4"' if is_dashed[si] else ""
        parts.append(f"<g><title>{_e(names[si])}</title>")
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
    if x_label:
        parts.append(
            f'<text x="{(left + right) / 2:.1f}" y="{height - 8:.1f}" text-anchor="middle" fill="{_AXIS}">'
            f"{_e(x_label)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
