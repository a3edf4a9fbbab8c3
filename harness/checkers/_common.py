"""Small helpers shared by the streaming checkers: field parsing, example keeping, a max-frontier."""

from __future__ import annotations

import math
import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Any

from harness.checkers.verdict import MAX_EXAMPLES
from harness.history.loader import Op


def as_int(value: Any) -> int | None:
    """An int field (bools and non-integers are not ints here)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def as_num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def shared(value: Any) -> Any:
    """``value``, a str as the one interned copy: a checker that keeps fields of many ops (reads it
    judges in ``finish``) would otherwise hold a fresh copy per record of every session, key and
    tenant name (measured: most of read-your-writes' memory)."""
    return sys.intern(value) if type(value) is str else value


def session_of(op: Op) -> str:
    """The client session an op belongs to: the ``session`` field, else its process."""
    session = op.get("session")
    return session if isinstance(session, str) else op.process


def wall_window(op: Op) -> tuple[float, float] | None:
    """(earliest, latest) server wall-clock ms at which the op can have acted.

    The invoke records ``now_ms`` (wall clock, ms, taken just before sending); the completion may record
    its own ``now_ms``; without it the latest is ``now_ms`` plus the op's monotonic duration. An op
    that never completed has no latest (``math.inf``)."""
    start = as_num(op.get("now_ms"))
    if start is None:
        return None
    if op.complete_ns is None:
        return start, math.inf
    done = as_num(op.completion.get("now_ms")) if op.completion is not None else None
    if done is None:
        done = start + (op.complete_ns - op.invoke_ns) / 1e6
    return start, max(start, done)


class Examples:
    """Counts violations and keeps the earliest :data:`MAX_EXAMPLES` by ``sort_ns``."""

    def __init__(self) -> None:
        self.count = 0
        self.by_kind: dict[str, int] = {}
        self._kept: list[tuple[int, int, dict[str, Any]]] = []

    def add(self, sort_ns: int, example: dict[str, Any]) -> None:
        self.count += 1
        kind = example["kind"]
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
        self._kept.append((sort_ns, self.count, example))
        if len(self._kept) > 4 * MAX_EXAMPLES:  # stay bounded: the earliest, and the first of each kind
            self._kept.sort(key=lambda t: (t[0], t[1]))
            firsts: dict[str, tuple[int, int, dict[str, Any]]] = {}
            for item in self._kept:
                firsts.setdefault(item[2]["kind"], item)
            head = self._kept[:MAX_EXAMPLES]
            self._kept = head + [item for item in firsts.values() if item not in head]

    def examples(self) -> list[dict[str, Any]]:
        """The earliest examples, but at least one of every kind found when room allows."""
        ordered = sorted(self._kept, key=lambda t: (t[0], t[1]))
        chosen: list[tuple[int, int, dict[str, Any]]] = []
        seen: set[str] = set()
        for item in ordered:  # first the earliest of each kind
            if item[2]["kind"] not in seen:
                seen.add(item[2]["kind"])
                chosen.append(item)
        for item in ordered:
            if len(chosen) >= MAX_EXAMPLES:
                break
            if item not in chosen:
                chosen.append(item)
        return [ex for _, _, ex in sorted(chosen[:MAX_EXAMPLES], key=lambda t: (t[0], t[1]))]


class MaxFrontier:
    """A nondecreasing step function ``f(t) = max{v_i : t_i < t}`` over points added in any order.

    Only points that raise the maximum are kept (a Pareto frontier: times and values both strictly
    increasing), so memory is bounded by the number of distinct increases, not of points."""

    __slots__ = ("_ids", "_times", "_values")

    def __init__(self) -> None:
        self._times: list[int] = []
        self._values: list[int] = []
        self._ids: list[int] = []

    def add(self, t: int, value: int, op_id: int) -> None:
        times, values = self._times, self._values
        i = bisect_left(times, t)
        if i > 0 and values[i - 1] >= value:
            return  # an earlier point already reaches this value
        if i < len(times) and times[i] == t and values[i] >= value:
            return
        # later points the new one dominates are dropped
        j = i
        while j < len(times) and values[j] <= value:
            j += 1
        times[i:j] = [t]
        values[i:j] = [value]
        self._ids[i:j] = [op_id]

    def before(self, t: int) -> tuple[int, int] | None:
        """(max value, op id) over points with time < t, or None."""
        i = bisect_left(self._times, t)
        if i == 0:
            return None
        return self._values[i - 1], self._ids[i - 1]

    def first_above(self, value: int) -> tuple[int, int, int] | None:
        """(time, value, op id) of the earliest point whose value exceeds ``value``."""
        i = _bisect_values(self._values, value)
        if i >= len(self._values):
            return None
        return self._times[i], self._values[i], self._ids[i]


def _bisect_values(values: Sequence[int], value: int) -> int:
    lo, hi = 0, len(values)
    while lo < hi:
        mid = (lo + hi) // 2
        if values[mid] <= value:
            lo = mid + 1
        else:
            hi = mid
    return lo


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    """count, p50, p90, p99 and max (nearest rank) of ``values``."""
    if not values:
        return {"count": 0, "p50": None, "p90": None, "p99": None, "max": None}
    ordered = sorted(values)
    n = len(ordered)

    def rank(q: float) -> float:
        return ordered[min(n - 1, max(0, math.ceil(q * n) - 1))]

    return {"count": n, "p50": rank(0.5), "p90": rank(0.9), "p99": rank(0.99), "max": ordered[-1]}


class WrittenVersions:
    """The highest version a versioned key can hold at a time, from the writes recorded on it.

    Versions grow by one per applied write. A read that completed at ``t`` can only see a version
    installed by a write invoked at or before ``t``: at most the highest version an ``ok`` write
    invoked by then returned, plus one for every write of unknown outcome (or without a readable
    version) invoked by then. A version above that was never written (:meth:`bound`). Writes may
    be added in any order; :meth:`bound` sorts once."""

    __slots__ = ("_ok", "_ok_max", "_ok_times", "_sorted", "_unknown")

    def __init__(self) -> None:
        self._ok: list[tuple[int, int]] = []  # (invoke_ns, version)
        self._unknown: list[int] = []  # invoke_ns
        self._ok_times: list[int] = []
        self._ok_max: list[int] = []
        self._sorted = True

    def add_ok(self, invoke_ns: int, version: int) -> None:
        self._ok.append((invoke_ns, version))
        self._sorted = False

    def add_unknown(self, invoke_ns: int) -> None:
        self._unknown.append(invoke_ns)
        self._sorted = False

    def _sort(self) -> None:
        self._ok.sort()
        self._unknown.sort()
        self._ok_times = [t for t, _ in self._ok]
        best, maxima = 0, []
        for _, v in self._ok:
            best = max(best, v)
            maxima.append(best)
        self._ok_max = maxima
        self._sorted = True

    def bound(self, t: int) -> int:
        """The highest version a read that completed at ``t`` can have seen."""
        if not self._sorted:
            self._sort()
        i = bisect_right(self._ok_times, t)
        return (self._ok_max[i - 1] if i else 0) + bisect_right(self._unknown, t)


_INT64_MIN, _INT64_END = -(2**63), 2**63


class IntRows:
    """Rows of ``width`` values in insertion order: flat in an int64 array while every value is an
    int64 int (32 bytes a row of 4, against ~190 as a tuple of ints), a list of tuples from the
    first row that is not (any value a malformed history holds is kept as it is)."""

    __slots__ = ("_flat", "_rows", "_width")

    def __init__(self, width: int) -> None:
        self._width = width
        self._flat: array[int] | None = array("q")
        self._rows: list[tuple[Any, ...]] = []

    def append(self, row: tuple[Any, ...]) -> None:
        flat = self._flat
        if flat is not None:
            for x in row:
                if type(x) is not int or not _INT64_MIN <= x < _INT64_END:
                    break
            else:
                flat.extend(row)
                return
            self._rows, self._flat = self.rows(), None
        self._rows.append(row)

    def rows(self) -> list[tuple[Any, ...]]:
        if self._flat is None:
            return self._rows
        it = iter(self._flat)
        return list(zip(*[it] * self._width, strict=True))
