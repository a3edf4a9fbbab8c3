"""Work handed from an open-loop schedule to threads of its own (slow reads that must not hold up
the schedule): each worker takes items until the ``None`` that ends them, and an item it takes
past the run's deadline is not run but counted, so a worker never outlives its bound."""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import TypeVar

from harness.clock import RunClock

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
