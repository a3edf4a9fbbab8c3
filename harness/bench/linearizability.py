"""The linearizability checker's search bound, measured: seeded linearizable register histories
from concurrent clients, and the same with a certainly stale read, timed through
:func:`harness.checkers.linearizable.search` (the search is exponential in the worst case)."""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from typing import Any

from harness.checkers.linearizable import MAX_STEPS, READ, WRITE, Entry, search


def random_history(n: int, processes: int = 5, seed: int = 0, info_rate: float = 0.05) -> list[Entry]:
    """A linearizable register history of ``n`` ops from ``processes`` concurrent clients: each op
    takes effect at a random point inside its interval; unique write values."""
    rng = random.Random(seed)
    free_at = [0] * processes
    state: Any = None
    effects: list[tuple[int, int]] = []  # (effect time, index)
    pending: list[Entry] = []
    for i in range(n):
        p = rng.randrange(processes)
        call = free_at[p] + rng.randrange(1, 50)
        ret = call + rng.randrange(1, 200)
        free_at[p] = ret
        effects.append((rng.randrange(call, ret + 1), i))
        is_write = rng.random() < 0.5
        info = rng.random() < info_rate and is_write
        pending.append(
            Entry(WRITE if is_write else READ, i if is_write else None, call, None if info else ret, i)
        )
    for _, i in sorted(effects):
        e = pending[i]
        if e.kind == WRITE:
            state = e.arg
        else:
            e.arg = state
    return pending


def _make_stale(entries: list[Entry]) -> bool:
    """Makes the last completed read return a value that is certainly stale: one written by an
    acknowledged write that another acknowledged write (of another value) followed, both completed
    before the read began. False when the history has no such pair. (Returning the *first* value
    written is not enough: that write may be of unknown outcome, or concurrent with the read, and
    then the history stays linearizable.)"""
    reads = [e for e in entries if e.kind == READ and e.ret_ns is not None]
    if not reads:
        return False
    read = max(reads, key=lambda e: e.call_ns)
    acked = [e for e in entries if e.kind == WRITE and e.ret_ns is not None and e.ret_ns < read.call_ns]
    for old in acked:
        assert old.ret_ns is not None
        if any(w.call_ns > old.ret_ns and w.arg != old.arg for w in acked):
            read.arg = old.arg
            return True
    return False


def bench(
    sizes: Iterable[int] = (25, 50, 100, 200),
    processes: int = 5,
    info_rate: float = 0.05,
    seeds: int = 5,
    max_steps: int = MAX_STEPS,
) -> dict[str, Any]:
    """Median and worst seconds and search steps over ``seeds`` registers of each size: valid
    histories, and the same with their last completed read returning a certainly stale value (the
    search has to exhaust every ordering before it can answer invalid). ``status_counts`` shows
    where the ``max_steps`` budget turns answers into ``unknown``."""
    out: dict[str, Any] = {
        "processes": processes,
        "info_rate": info_rate,
        "max_steps": max_steps,
        "seeds": seeds,
        "sizes": {},
    }
    for n in sizes:
        row: dict[str, Any] = {}
        for variant in ("valid", "stale-read"):
            times: list[float] = []
            steps: list[int] = []
            counts: dict[str, int] = {}
            for seed in range(seeds):
                entries = random_history(n, processes, seed, info_rate)
                if variant == "stale-read" and not _make_stale(entries):
                    continue
                started = time.perf_counter()
                result = search(entries, None, max_steps)
                times.append(time.perf_counter() - started)
                steps.append(result.steps)
                counts[result.status] = counts.get(result.status, 0) + 1
            if not times:
                row[variant] = {"histories": 0}
                continue
            row[variant] = {
                "histories": len(times),
                "median_seconds": round(sorted(times)[len(times) // 2], 4),
                "worst_seconds": round(max(times), 4),
                "median_steps": sorted(steps)[len(steps) // 2],
                "worst_steps": max(steps),
                "statuses": sorted(counts),
                "status_counts": counts,
            }
        out["sizes"][str(n)] = row
    return out
