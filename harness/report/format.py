"""Formatting a record's values for the report: numbers, durations, times, free text, status
colours, and generic tables. Every value may be absent or odd: "—" stands for what is not there."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

DASH = "—"
_STATUS_CLASS = {
    "pass": "good",
    "valid": "good",
    "ran": "good",
    "fail": "bad",
    "invalid": "bad",
    "error": "bad",
    "unknown": "muted",
    "not_run": "muted",
}

Json = dict[str, Any]


def num(v: object) -> float | None:
    """``v`` as a finite float, or None (bools, strings, NaN are not numbers here)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def fmt_num(v: object) -> str:
    """Thousands separators for big numbers, 2–3 significant decimals for small ones, "—" if absent."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    f = num(v)
    if f is None:
        return DASH if v is None or isinstance(v, float) else str(v)
    a = abs(f)
    if a >= 1000 or f == int(f):
        return f"{f:,.0f}"
    if a >= 100:
        s = f"{f:.1f}"
    elif a >= 1:
        s = f"{f:.2f}"
    elif a >= 0.001:
        s = f"{f:.3g}"
    else:
        return f"{f:.2e}"
    return s.rstrip("0").rstrip(".") if "." in s else s


def fmt_pct(v: object) -> str:
    f = num(v)
    return DASH if f is None else f"{f * 100:.1f}%"


def fmt_duration(v: object) -> str:
    f = num(v)
    if f is None:
        return DASH
    if f < 60:
        return f"{fmt_num(f)} s"
    m, s = divmod(round(f), 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def parse_time(v: object) -> datetime | None:
    if not isinstance(v, str) or not v:
        return None
    try:
        t = datetime.fromisoformat(v)
    except ValueError:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def fmt_time(v: object) -> str:
    t = parse_time(v)
    if t is not None:
        return t.strftime("%Y-%m-%d %H:%M:%S UTC")
    return DASH if v is None or v == "" else str(v)


def text(v: object) -> str:
    """Free text or an identifier: "—" when absent, JSON for structured values."""
    if v is None or v == "":
        return DASH
    if isinstance(v, str):
        return v
    if isinstance(v, int | float):
        return fmt_num(v)
    return json.dumps(v, default=str, sort_keys=True)


def cell(v: object) -> str:
    """A table cell of unknown type (fault fields, example fields)."""
    return fmt_num(v) if isinstance(v, int | float) else text(v)


def status_class(v: object) -> str:
    return _STATUS_CLASS.get(v, "muted") if isinstance(v, str) else "muted"


def columns(rows: Iterable[Mapping[str, Any]], first: Iterable[str] = ()) -> list[str]:
    cols = list(first)
    for row in rows:
        cols += [k for k in row if k not in cols]
    return cols


def table(rows: Sequence[Mapping[str, Any]], first: Iterable[str] = ()) -> Json:
    """A table of rows whose columns are not known in advance (examples, nodes): every key any
    row has, ``first`` first."""
    cols = columns(rows, first)
    return {"columns": cols, "rows": [[cell(r.get(c)) for c in cols] for r in rows]}
