"""Work handed from an open-loop schedule to threads of its own (slow reads that must not hold up
the schedule): each worker takes items until the ``None`` that ends them, and an item it takes
past the run's deadline is not run but counted, so a worker never outlives its bound."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from harness.clock import RunClock
from harness.workload.engine.openloop import DriverStats, run_open_loop

T = TypeVar("T")


def serve(
    items: queue.SimpleQueue[T | None],
    clock: RunClock,
    deadline_ns: int,
    run: Callable[[T], object],
    late: Callable[[], None],
) -> None:
    """Runs each item of ``items`` in order until a ``None``; one taken after ``deadline_ns`` is
    not run, ``late()`` counts it."""
    while (item := items.get()) is not None:
        if clock.now_ns() > deadline_ns:
            late()
            continue
        run(item)


def fed_open_loop(
    clock: RunClock,
    items: queue.SimpleQueue[T | None],
    workers: Sequence[Callable[[int], None]],
    hand: Callable[[list[int]], None],
    *,
    rate: float,
    duration_s: float,
    drain_s: float,
    stats: DriverStats,
    name: str,
) -> DriverStats:
    """An open loop that hands each due batch of schedule times to ``hand`` (which queues the
    items), served by ``workers``, each on a thread of its own and called with the run's deadline;
    at the end each gets its ``None`` and is joined, bounded by the run's length."""
    deadline = clock.now_ns() + int((duration_s + drain_s) * 1e9)
    threads = [
        threading.Thread(target=work, args=(deadline,), name=f"{name}-{i}", daemon=True)
        for i, work in enumerate(workers)
    ]
    for t in threads:
        t.start()
    try:
        run_open_loop(
            clock,
            rate=rate,
            duration_s=duration_s,
            drain_s=drain_s,
            max_batch=50,
            stats=stats,
            send=lambda _first, sched, _backlog: hand(sched),
        )
    finally:
        for _ in threads:
            items.put(None)
        for t in threads:
            t.join(timeout=duration_s + drain_s + 30)
    return stats
