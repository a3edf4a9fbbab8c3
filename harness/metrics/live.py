"""Live figures of a running workload, per second: completions by op and outcome, and latencies
(invoke to completion), for a dashboard and the alert rules while the run goes.

Fed op by op by a recorder tap (:mod:`harness.rehearsal.tap`); thread safe; keeps the last
``keep_s`` seconds only, so a long rehearsal holds a bounded amount. The history on disk stays the
record the checkers judge: these figures only drive what is shown and alerted live.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field

OpKey = tuple[str, str]  # (process, f)


@dataclass
class _Second:
    outcomes: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (process, f, outcome)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # by process


def p99(values: list[float]) -> float | None:
    """The 99th percentile (nearest rank), None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(0.99 * len(ordered) + 0.5) - 1))]


class LiveFigures:
    def __init__(self, keep_s: int = 900) -> None:
        self.keep_s = keep_s
        self._lock = threading.Lock()
        self._seconds: dict[int, _Second] = {}
        self._invoked: dict[int, int] = {}  # op id -> invoke time (ns), until it completes

    def invoked(self, op_ids: range | list[int], t_ns: int) -> None:
        with self._lock:
            for op in op_ids:
                self._invoked[op] = t_ns

    def completed(self, process: str, f: str, items: list[tuple[int, str, int]]) -> None:
        """``items``: (op id, outcome, completion time ns) of ops of one process and function."""
        with self._lock:
            for op, outcome, t_ns in items:
                sec = self._second(t_ns)
                sec.outcomes[(process, f, outcome)] += 1
                start = self._invoked.pop(op, None)
                if start is not None:
                    sec.latencies[process].append((t_ns - start) / 1e9)

    def _second(self, t_ns: int) -> _Second:
        s = t_ns // 1_000_000_000
        sec = self._seconds.get(s)
        if sec is None:
            sec = self._seconds[s] = _Second()
            for old in [k for k in self._seconds if k < s - self.keep_s]:
                del self._seconds[old]
        return sec

    def _span(self, now_s: float, window_s: float) -> range:
        """The complete seconds of the last ``window_s`` (the current one is still filling), from
        the first second anything completed on: a window reaching back before the load started
        would read as a rate that dropped."""
        last = int(now_s) - 1
        first = last - max(1, int(window_s)) + 1
        if self._seconds:
            first = max(first, min(self._seconds))
        return range(first, last + 1)

    def _window(self, now_s: float, window_s: float) -> list[_Second]:
        return [self._seconds[s] for s in self._span(now_s, window_s) if s in self._seconds]

    def rate(self, process: str, f: str, now_s: float, window_s: float) -> float | None:
        """``ok`` completions of (process, f) per second over the window; None before a whole
        second has passed since the first completion."""
        with self._lock:
            span = self._span(now_s, window_s)
            if not self._seconds or len(span) == 0:
                return None
            secs = [self._seconds[s] for s in span if s in self._seconds]
            return sum(s.outcomes[(process, f, "ok")] for s in secs) / len(span)

    def latency_p99(self, processes: tuple[str, ...], now_s: float, window_s: float) -> float | None:
        with self._lock:
            values = [v for s in self._window(now_s, window_s) for p in processes for v in s.latencies[p]]
        return p99(values)

    def by_op(self, now_s: float, window_s: float) -> dict[OpKey, dict[str, int]]:
        """Completions per (process, f) over the window: ok, fail, info."""
        out: dict[OpKey, dict[str, int]] = defaultdict(lambda: {"ok": 0, "fail": 0, "info": 0})
        with self._lock:
            for s in self._window(now_s, window_s):
                for (process, f, outcome), n in s.outcomes.items():
                    out[(process, f)][outcome] = out[(process, f)].get(outcome, 0) + n
        return dict(out)
