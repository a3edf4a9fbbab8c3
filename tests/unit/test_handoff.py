"""Work handed to a thread of its own: run in order until the end marker; late items counted, not run."""

from __future__ import annotations

import queue

from harness.clock import RunClock
from harness.workload.engine.handoff import serve


def test_items_run_in_order_and_late_ones_are_counted_not_run() -> None:
    clock = RunClock()
    q: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    ran: list[int] = []
    late: list[int] = []
    for i in (1, 2, 3):
        q.put(i)
    q.put(None)
    serve(q, clock, clock.now_ns() + 10**12, ran.append, lambda: late.append(1))
    assert ran == [1, 2, 3] and not late
    q.put(4)
    q.put(5)
    q.put(None)
    serve(q, clock, clock.now_ns() - 1, ran.append, lambda: late.append(1))  # past the deadline
    assert ran == [1, 2, 3] and len(late) == 2
