"""A rehearsal's timeline as one SVG: operator actions on the top lane, fault windows shaded, one
lane per alert (instance) with a bar from firing to resolved (or to the end, still firing)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.report.svg import nice_ticks, tick_label
from harness.report.svg_parts import esc

LANE = 26
LEFT = 250
RIGHT = 30


def windows(actions: Sequence[dict[str, Any]], end_s: float) -> list[tuple[float, float, str]]:
    """(applied, healed or end, label) per fault applied: what was active between them."""
    out: list[tuple[float, float, str]] = []
    open_: list[tuple[float, str]] = []
    for a in actions:
        if a["action"] == "fault" and a["ok"]:
            open_.append((a["done_s"], f"{a['fault']} {a['target']}".strip()))
        elif a["action"] == "heal":
            out += [(t, a["done_s"], label) for t, label in open_]
            open_ = []
    out += [(t, end_s, label) for t, label in open_]
    return out


def alert_bars(events: Sequence[dict[str, Any]], end_s: float) -> dict[str, list[tuple[float, float, bool]]]:
    """Per 'rule instance': (fired, resolved or end, resolved?) bars."""
    bars: dict[str, list[tuple[float, float, bool]]] = {}
    firing: dict[str, float] = {}
    for e in events:
        key = f"{e['rule']} {e['instance']}".strip()
        if e["kind"] == "firing":
            firing[key] = e["t_s"]
            bars.setdefault(key, [])
        elif key in firing:
            bars[key].append((firing.pop(key), e["t_s"], True))
    for key, t in firing.items():
        bars[key].append((t, end_s, False))
    return bars


class _Frame:
    """Where things go: the lanes' top and bottom, and seconds to x."""

    def __init__(self, lanes: int, end: float, width: int) -> None:
        self.top, self.end, self.width = 24, end, width
        self.bottom = self.top + LANE * lanes
        self.height = self.bottom + 34

    def x(self, t: float) -> float:
        return LEFT + max(0.0, min(t, self.end)) / self.end * (self.width - LEFT - RIGHT)


def _shade(f: _Frame, lo: float, hi: float, label: str) -> str:
    return (
        f"<g><title>{esc(label)}: {lo:.1f}–{hi:.1f} s</title>"
        f'<rect x="{f.x(lo):.1f}" y="{f.top}" width="{max(1.0, f.x(hi) - f.x(lo)):.1f}" '
        f'height="{f.bottom - f.top}" fill="#dc2626" fill-opacity="0.08" stroke="#dc2626" '
        'stroke-opacity="0.3"/></g>'
    )


def _lane(f: _Frame, i: int, name: str) -> str:
    y = f.top + i * LANE
    return (
        f'<line x1="{LEFT}" y1="{y + LANE}" x2="{f.width - RIGHT}" y2="{y + LANE}" stroke="#e5e7eb"/>'
        f'<text x="{LEFT - 8}" y="{y + 16}" text-anchor="end" fill="#374151">{esc(name)}</text>'
    )


def _action(f: _Frame, a: dict[str, Any]) -> str:
    x = f.x(a["done_s"])
    is_fault = a["action"] == "fault"
    label = f"{a['fault']} {a['target']}".strip() if is_fault else "heal"
    if not a["ok"]:  # a refused attempt: a grey dot, its error in the tooltip (labels would crowd)
        return (
            f"<g><title>{a['done_s']:.1f} s {esc(a['source'])}: {esc(label)} refused: {esc(a['detail'])}"
            f'</title><circle cx="{x:.1f}" cy="{f.top + 12}" r="3.5" fill="#9ca3af"/></g>'
        )
    colour = "#b42318" if is_fault else "#1f7a3f"
    failed = ""
    return (
        f"<g><title>{a['done_s']:.1f} s {esc(a['source'])}: {esc(label)}{failed}</title>"
        f'<line x1="{x:.1f}" y1="{f.top}" x2="{x:.1f}" y2="{f.bottom}" stroke="{colour}" '
        'stroke-dasharray="3 3"/>'
        f'<circle cx="{x:.1f}" cy="{f.top + 12}" r="5" fill="{colour}"/>'
        f'<text x="{x + 8:.1f}" y="{f.top + 16}" fill="{colour}" font-weight="600">{esc(label)}</text></g>'
    )


def _bar(f: _Frame, i: int, key: str, lo: float, hi: float, resolved: bool) -> str:
    y = f.top + i * LANE
    state = f"resolved at {hi:.1f} s" if resolved else "still firing at the end"
    colour = "#f59e0b" if resolved else "#dc2626"
    return (
        f"<g><title>{esc(key)}: fired at {lo:.1f} s, {state}</title>"
        f'<rect x="{f.x(lo):.1f}" y="{y + 5}" width="{max(2.0, f.x(hi) - f.x(lo)):.1f}" '
        f'height="{LANE - 10}" rx="3" fill="{colour}"/></g>'
    )


def timeline_svg(
    actions: Sequence[dict[str, Any]], events: Sequence[dict[str, Any]], end_s: float, width: int = 1100
) -> str:
    end = max(end_s, 1.0)
    bars = alert_bars(events, end)
    lanes = ["operator", *sorted(bars)]
    f = _Frame(len(lanes), end, width)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{f.height}" '
        f'viewBox="0 0 {width} {f.height}" role="img" aria-label="rehearsal timeline" '
        'font-family="system-ui, sans-serif" font-size="11">'
    ]
    parts += [_shade(f, lo, hi, label) for lo, hi, label in windows(actions, end)]
    parts += [_lane(f, i, name) for i, name in enumerate(lanes)]
    parts += [_action(f, a) for a in actions]
    for i, key in enumerate(sorted(bars), start=1):
        parts += [_bar(f, i, key, lo, hi, resolved) for lo, hi, resolved in bars[key]]
    parts += [
        f'<text x="{f.x(t):.1f}" y="{f.bottom + 16}" text-anchor="middle" '
        f'fill="#6b7280">{tick_label(t)}</text>'
        for t in nice_ticks(0, end, 10)
        if 0 <= t <= end
    ]
    parts.append(
        f'<text x="{(LEFT + width - RIGHT) / 2:.1f}" y="{f.height - 4}" text-anchor="middle" fill="#6b7280">'
        "seconds since the workload started</text></svg>"
    )
    return "".join(parts)
