"""The shared open-loop schedule: every scheduled event is sent once, in order, and a backlog
(retries) rides along in the batches and keeps the loop going until it is empty."""

from __future__ import annotations

from typing import Any

from harness.clock import RunClock
from harness.workload.engine.openloop import DriverStats, run_open_loop


class _Backlog:
    def __init__(self, items: list[tuple[int, str]]) -> None:
        self.items = items  # (not before, name)

    def due(self, now_ns: int, limit: int) -> list[Any]:
        ready = [name for t, name in self.items if t <= now_ns][:limit]
        self.items = [(t, n) for t, n in self.items if n not in ready]
        return ready

    def next_ns(self) -> int | None:
        return min((t for t, _ in self.items), default=None)


def test_every_event_once_and_the_backlog_drained() -> None:
    clock = RunClock()
    seen: list[int] = []
    extra: list[str] = []
    later = clock.now_ns() + 120_000_000  # due after the last scheduled event (at ~50 ms)
    backlog = _Backlog([(0, "now"), (later, "after the schedule")])

    def send(first_seq: int, sched: list[int], items: list[Any]) -> None:
        assert sched == sorted(sched)
        seen.extend(range(first_seq, first_seq + len(sched)))
        extra.extend(items)

    stats = run_open_loop(
        clock,
        rate=1000,
        duration_s=0.05,
        drain_s=2,
        max_batch=7,
        stats=DriverStats(),
        send=send,
        backlog=backlog,
    )
    assert seen == list(range(50)) and stats.sent == 50 and stats.unsent == 0
    assert extra == ["now", "after the schedule"]  # the loop waited for the backlog's last item
    assert stats.batches >= 50 // 7


def test_a_tick_batches_what_fell_due_meanwhile() -> None:
    clock = RunClock()
    starts: list[int] = []
    seen: list[int] = []

    def send(first_seq: int, sched: list[int], _items: list[Any]) -> None:
        starts.append(clock.now_ns())
        seen.extend(range(first_seq, first_seq + len(sched)))

    stats = run_open_loop(
        clock,
        rate=1000,
        duration_s=0.2,
        drain_s=2,
        max_batch=1000,
        stats=DriverStats(),
        send=send,
        tick_s=0.05,
    )
    assert seen == list(range(200)) and stats.unsent == 0
    # at most one send a tick (a slow machine only makes fewer): ~50 events a batch, where without
    # a tick each pass sends the one or two events just due
    assert len(starts) <= 0.2 / 0.05 + 2


def test_a_tick_batch_sends_early_when_enough_are_due() -> None:
    clock = RunClock()
    sizes: list[int] = []

    def send(first_seq: int, sched: list[int], _items: list[Any]) -> None:
        sizes.append(len(sched))

    stats = run_open_loop(
        clock,
        rate=5000,
        duration_s=0.2,
        drain_s=2,
        max_batch=1000,
        stats=DriverStats(),
        send=send,
        tick_s=0.05,
        tick_batch=10,
    )
    assert sum(sizes) == 1000 and stats.unsent == 0
    # a batch smaller than tick_batch only goes when its tick is up: at most one a tick
    assert len([n for n in sizes if n < 10]) <= stats.elapsed_s / 0.05 + 1
    # and the high rate is not held to the tick: more batches than ticks
    assert len(sizes) > stats.elapsed_s / 0.05 + 1
