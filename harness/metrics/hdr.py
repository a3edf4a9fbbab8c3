"""HdrHistograms of op latency, per op type and per time window, mergeable across processes.

Latency is measured from the op's *scheduled* time to its completion, so a stalled server shows
up as latency rather than as fewer samples (coordinated omission corrected by construction).
Values are microseconds, 1 µs to 1 h, 3 significant figures (±0.1 %). A sample belongs to the
window in which it *completed* (``(done_ns - origin_ns) // window_ns``), as HdrHistogram interval
logs do, so the newest complete window is what a live view shows.

The hot path, :meth:`LatencyHistograms.record`, only appends a tuple to a deque (thread safe);
:meth:`LatencyHistograms.flush` folds the samples in with numpy, the same index arithmetic as
``hdrh.HdrHistogram.record_value``, vectorised. Serialised form: the library's base64 V2 encoding,
so another process (or the Java/Go tools) can decode and add them. Records no ops.
"""

from __future__ import annotations

import itertools
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from hdrh.histogram import HdrHistogram

from harness.history.loader import Op

LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIG_FIGS = 3
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p999": 99.9}


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIG_FIGS)


def record_many(h: HdrHistogram, values_us: np.ndarray[Any, Any]) -> None:
    """``h.record_value(v)`` for every ``v``, vectorised. Values are clamped into the trackable
    range (a latency above an hour is recorded as an hour rather than silently dropped)."""
    if values_us.size == 0:
        return
    v = np.clip(values_us.astype(np.int64), 0, HIGHEST_US)
    mask = int(h.sub_bucket_mask)
    unit = int(h.unit_magnitude)
    half_mag = int(h.sub_bucket_half_count_magnitude)
    # bit_length(v | mask); exact in float64 for v < 2**52.
    pow2ceiling = np.floor(np.log2((v | mask).astype(np.float64))).astype(np.int64) + 1
    bucket = pow2ceiling - unit - (half_mag + 1)
    sub_bucket = v >> (bucket + unit)
    idx = ((bucket + 1) << half_mag) + sub_bucket - int(h.sub_bucket_half_count)
    counts = np.ctypeslib.as_array(h.counts)
    counts += np.bincount(idx, minlength=int(h.counts_len)).astype(counts.dtype)
    h.total_count += int(v.size)
    h.min_value = min(h.min_value, int(v.min()))
    h.max_value = max(h.max_value, int(v.max()))


def summarize(h: HdrHistogram) -> dict[str, float | int | None]:
    """count, p50/p90/p99/p99.9 and max, in milliseconds."""
    n = int(h.get_total_count())
    if n == 0:
        return {"count": 0, **{k: None for k in PERCENTILES}, "max": None}
    vals = h.get_percentile_to_value_dict(list(PERCENTILES.values()))
    out: dict[str, float | int | None] = {"count": n}
    for name, p in PERCENTILES.items():
        out[name] = vals[p] / 1000.0
    out["max"] = h.get_max_value() / 1000.0
    return out


def encode(h: HdrHistogram) -> str:
    raw = h.encode()
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def decode(blob: str) -> HdrHistogram:
    h = new_histogram()
    h.decode_and_add(blob)
    return h


class LatencyHistograms:
    """Per op type ``f``: one HdrHistogram per window and one for the whole run."""

    def __init__(self, window_ns: int = 1_000_000_000, origin_ns: int = 0) -> None:
        self.window_ns = window_ns
        self.origin_ns = origin_ns
        # (op type, scheduled times, completion times): one sample or a batch's
        self._pending: deque[tuple[str, Sequence[int], Sequence[int]]] = deque()
        self.windows: dict[str, dict[int, HdrHistogram]] = defaultdict(dict)
        self.totals: dict[str, HdrHistogram] = {}

    def record(self, f: str, sched_ns: int, done_ns: int) -> None:
        """Hot path: one deque append, safe from any thread."""
        self._pending.append((f, (sched_ns,), (done_ns,)))

    def record_many(self, f: str, sched_ns: Sequence[int], done_ns: Sequence[int]) -> None:
        """A batch of samples of one op type (the sequences are kept, not copied: do not change
        them before :meth:`flush`)."""
        if len(sched_ns) != len(done_ns):
            raise ValueError(f"record_many: {len(sched_ns)} scheduled times, {len(done_ns)} completions")
        self._pending.append((f, sched_ns, done_ns))

    def flush(self) -> None:
        """Folds every pending sample into the histograms. Call from one thread at a time."""
        chunks = len(self._pending)
        if chunks == 0:
            return
        pop = self._pending.popleft
        batch = [pop() for _ in range(chunks)]  # popleft is atomic: concurrent appends wait for later
        by_f: dict[str, list[tuple[str, Sequence[int], Sequence[int]]]] = defaultdict(list)
        for c in batch:
            by_f[c[0]].append(c)
        for f, cs in by_f.items():
            n = sum(len(c[1]) for c in cs)
            chain = itertools.chain.from_iterable
            s_f = np.fromiter(chain(c[1] for c in cs), dtype=np.int64, count=n)
            d_f = np.fromiter(chain(c[2] for c in cs), dtype=np.int64, count=n)
            lat_us = np.maximum(d_f - s_f, 0) // 1000
            win = (d_f - self.origin_ns) // self.window_ns
            total = self.totals.get(f)
            if total is None:
                total = self.totals[f] = new_histogram()
            record_many(total, lat_us)
            for w in np.unique(win).tolist():
                h = self.windows[f].get(w)
                if h is None:
                    h = self.windows[f][w] = new_histogram()
                record_many(h, lat_us[win == w])

    def window(self, w: int, fs: Iterable[str] | None = None) -> HdrHistogram:
        """Window ``w`` merged over the op types ``fs`` (all when None)."""
        out = new_histogram()
        for f in self.windows if fs is None else fs:
            h = self.windows.get(f, {}).get(w)
            if h is not None:
                out.add(h)
        return out

    def merge(self, other: LatencyHistograms) -> None:
        """Adds ``other`` (e.g. decoded from another process) into this one."""
        if other.window_ns != self.window_ns:
            raise ValueError(f"window_ns: {other.window_ns} != {self.window_ns}; cannot merge")
        self.flush()
        other.flush()
        for f, h in other.totals.items():
            self.totals.setdefault(f, new_histogram()).add(h)
        for f, wins in other.windows.items():
            for w, h in wins.items():
                self.windows[f].setdefault(w, new_histogram()).add(h)

    def summary(self) -> dict[str, dict[str, float | int | None]]:
        self.flush()
        return {f: summarize(h) for f, h in sorted(self.totals.items())}

    def to_dict(self) -> dict[str, Any]:
        """For ``metrics.json``: per type, the run's histogram and each window's, base64."""
        self.flush()
        return {
            "unit": "us",
            "window_ns": self.window_ns,
            "origin_ns": self.origin_ns,
            "summary": {f: summarize(h) for f, h in sorted(self.totals.items())},
            "totals": {f: encode(h) for f, h in sorted(self.totals.items())},
            "windows": {
                f: {str(w): encode(h) for w, h in sorted(wins.items())}
                for f, wins in sorted(self.windows.items())
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LatencyHistograms:
        out = cls(window_ns=int(data["window_ns"]), origin_ns=int(data.get("origin_ns", 0)))
        out.totals = {f: decode(b) for f, b in data["totals"].items()}
        for f, wins in data["windows"].items():
            out.windows[f] = {int(w): decode(b) for w, b in wins.items()}
        return out


class OpLatencyFold:
    """The same histograms built from a saved history (a fold, like the runner's other metrics):
    every op of the run's workload processes that completed ``ok``, from its scheduled time (its
    invoke time when it had none) to its completion. Final reads and the nemesis are not load."""

    def __init__(
        self, origin_ns: int, skip_processes: frozenset[str] = frozenset({"final", "nemesis"})
    ) -> None:
        self.hist = LatencyHistograms(origin_ns=origin_ns)
        self.skip = skip_processes

    def observe(self, op: Op) -> None:
        if op.outcome != "ok" or op.complete_ns is None or op.process in self.skip:
            return
        self.hist.record(op.f, op.get("sched_ns", op.invoke_ns), op.complete_ns)
