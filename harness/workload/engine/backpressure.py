"""A bounded ingest queue between the open-loop producer and N consumer threads.

When the offered load exceeds what the consumers can do, the queue fills and then either
``shed``: the event is refused at once and recorded as an op completed ``fail`` with
``error: "rejected: backpressure"``, or ``block``: the producer waits for room, so the cost shows
as latency measured from the scheduled time. Nothing is lost without being counted: each
offered event ends as exactly one of ``completed`` (handed to a consumer), ``shed``, or
``expired`` (still queued, or never queued, when the drain deadline passed; recorded ``fail``
with ``error: "rejected: drain deadline"``: it was never sent, so it certainly did not happen).

Assumes ``work(seq, sched_ns)`` records its own op (invoke and completion) and does not raise
(or, given ``work_batch``, a consumer takes up to ``max_batch`` queued events at once and hands
them over together, so a pipelining client keeps its batches);
``reject(seq, sched_ns, reason)`` records an invoke and a ``fail`` completion for an event never
sent (:func:`recording_reject` does that with a :class:`HistoryRecorder`).

:func:`run_with_backpressure` is the one queued loop: the platform's ingest queue
(:class:`harness.workload.platform.driver.PlatformDriver`) runs it too.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from harness.clock import RunClock
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.workload.engine.openloop import DriverStats, Progress, run_open_loop
from harness.workload.engine.profile import RateProfile

SHED = "rejected: backpressure"
EXPIRED = "rejected: drain deadline"

Mode = Literal["shed", "block"]
Work = Callable[[int, int], None]
WorkBatch = Callable[[list[tuple[int, int]]], None]
Reject = Callable[[int, int, str], None]
Prepare = Callable[[int, list[int]], None]


@dataclass
class BackpressureStats:
    offered: int = 0
    completed: int = 0  # taken by a consumer, which recorded its outcome
    shed: int = 0
    expired: int = 0  # never sent: queued or unqueued when the drain deadline passed
    crashed: int = 0  # work() raised: a bug in the caller, counted so it cannot hide
    max_depth: int = 0
    blocked_s: float = 0.0  # producer time spent waiting for room (block mode)
    depth_series: list[tuple[float, int]] = field(default_factory=list)  # (run seconds, depth)

    @property
    def unsent(self) -> int:
        return self.expired

    def accounted(self) -> int:
        return self.completed + self.shed + self.expired + self.crashed

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["unsent"] = self.unsent
        return out


def recording_reject(rec: HistoryRecorder, process: str, f: str, **fields: Any) -> Reject:
    """A ``reject`` that records the refused event as ``f`` invoked at its scheduled time and
    completed ``fail`` with the reason as ``error``."""

    def reject(seq: int, sched_ns: int, reason: str) -> None:
        op = rec.invoke(process, f, time_ns=rec.clock.now_ns(), sched_ns=sched_ns, event=seq, **fields)
        rec.complete(op, OpType.FAIL, process, f, error=reason, event=seq)

    return reject


class BoundedIngest:
    def __init__(
        self,
        clock: RunClock,
        *,
        capacity: int,
        workers: int,
        mode: Mode,
        work: Work | None = None,
        reject: Reject,
        sample_every_s: float = 0.1,
        work_batch: WorkBatch | None = None,
        max_batch: int = 1,
    ) -> None:
        if (work is None) == (work_batch is None):
            raise ValueError("give exactly one of work and work_batch")
        if max_batch < 1:
            raise ValueError(f"max_batch: must be >= 1, got {max_batch}")
        if capacity < 1:
            raise ValueError(f"capacity: must be >= 1, got {capacity}")
        if workers < 1:
            raise ValueError(f"workers: must be >= 1, got {workers}")
        if mode not in ("shed", "block"):
            raise ValueError(f"mode: must be 'shed' or 'block', got {mode!r}")
        self.clock = clock
        self.mode = mode
        self.work = work
        self.work_batch = work_batch
        self.max_batch = max_batch
        self.reject = reject
        self.sample_every_s = sample_every_s
        self.q: queue.Queue[tuple[int, int]] = queue.Queue(maxsize=capacity)
        self.stats = BackpressureStats()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._deadline_ns: int | None = None
        self._threads = [
            threading.Thread(target=self._consume, name=f"ingest-{i}", daemon=True) for i in range(workers)
        ]
        self._sampler = threading.Thread(target=self._sample, name="ingest-depth", daemon=True)

    def start(self) -> None:
        for t in self._threads:
            t.start()
        self._sampler.start()

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + n)

    def _consume(self) -> None:
        while not self._stop.is_set():
            try:
                items = [self.q.get(timeout=0.05)]
            except queue.Empty:
                continue
            while len(items) < self.max_batch:
                try:
                    items.append(self.q.get_nowait())
                except queue.Empty:
                    break
            try:
                if self.work_batch is not None:
                    self.work_batch(items)
                else:
                    assert self.work is not None
                    self.work(*items[0])
                self._count("completed", len(items))
            except Exception:
                self._count("crashed", len(items))
            finally:
                for _ in items:
                    self.q.task_done()

    def _sample(self) -> None:
        while not self._stop.wait(self.sample_every_s):
            self.stats.depth_series.append((round(self.clock.now_s(), 3), self.q.qsize()))

    def set_deadline(self, deadline_ns: int) -> None:
        """After this instant a blocked producer gives up and the event is recorded expired."""
        self._deadline_ns = deadline_ns

    def offer(self, first_seq: int, sched: list[int]) -> None:
        """Producer side, shaped as the open loop's ``send``."""
        for k, s_ns in enumerate(sched):
            item = (first_seq + k, s_ns)
            self._count("offered")
            if self.mode == "shed":
                try:
                    self.q.put_nowait(item)
                except queue.Full:
                    self._count("shed")
                    self.reject(item[0], s_ns, SHED)
                    continue
            else:
                t0 = self.clock.now_ns()
                wait = None if self._deadline_ns is None else max(0.0, (self._deadline_ns - t0) / 1e9)
                try:
                    self.q.put(item, timeout=wait)
                except queue.Full:
                    self._count("expired")
                    self.reject(item[0], s_ns, EXPIRED)
                    continue
                finally:
                    with self._lock:
                        self.stats.blocked_s += (self.clock.now_ns() - t0) / 1e9
            depth = self.q.qsize()
            if depth > self.stats.max_depth:
                self.stats.max_depth = depth

    def expire(self, seq: int, sched_ns: int) -> None:
        """An event the open loop never offered (its drain deadline passed first)."""
        self._count("offered")
        self._count("expired")
        self.reject(seq, sched_ns, EXPIRED)

    def finish(self, drain_s: float) -> BackpressureStats:
        """Waits up to ``drain_s`` for the queue to empty, then records whatever is still queued
        as expired and stops the consumers (each finishes the op it holds)."""
        deadline = self.clock.now_ns() + int(drain_s * 1e9)
        with self.q.all_tasks_done:
            while self.q.unfinished_tasks:
                left = (deadline - self.clock.now_ns()) / 1e9
                if left <= 0:
                    break
                self.q.all_tasks_done.wait(left)
        self._stop.set()
        while True:
            try:
                seq, sched_ns = self.q.get_nowait()
            except queue.Empty:
                break
            self._count("expired")
            self.reject(seq, sched_ns, EXPIRED)
            self.q.task_done()
        for t in self._threads:
            t.join()
        self._sampler.join()
        self.stats.depth_series.append((round(self.clock.now_s(), 3), self.q.qsize()))
        return self.stats


def run_with_backpressure(
    clock: RunClock,
    *,
    profile: RateProfile,
    duration_s: float,
    drain_s: float,
    capacity: int,
    workers: int,
    mode: Mode,
    reject: Reject,
    work: Work | None = None,
    work_batch: WorkBatch | None = None,
    max_batch: int = 400,
    on_progress: Progress | None = None,
    stats: DriverStats | None = None,
    prepare: Prepare | None = None,
) -> tuple[DriverStats, BackpressureStats]:
    """The open loop offers ``profile`` into a :class:`BoundedIngest`; afterwards every event
    the loop never reached is recorded expired, so ``offered == completed + shed + expired``.

    ``max_batch`` bounds the loop's batches and, with ``work_batch``, what a consumer takes at
    once. ``prepare(first_seq, sched)`` runs before each batch is offered (e.g. to generate the
    events, so a shed one is recorded with its content); ``stats``: the loop's, filled in place."""
    ingest = BoundedIngest(
        clock,
        capacity=capacity,
        workers=workers,
        mode=mode,
        work=work,
        work_batch=work_batch,
        max_batch=max_batch if work_batch is not None else 1,
        reject=reject,
    )
    start_ns = clock.now_ns()
    ingest.set_deadline(start_ns + int((duration_s + drain_s) * 1e9))
    ingest.start()

    def offer(first_seq: int, sched: list[int], _extra: list[Any]) -> None:
        if prepare is not None:
            prepare(first_seq, sched)
        ingest.offer(first_seq, sched)

    try:
        dstats = run_open_loop(
            clock,
            profile=profile,
            duration_s=duration_s,
            drain_s=drain_s,
            max_batch=max_batch,
            stats=stats if stats is not None else DriverStats(),
            send=offer,
            on_progress=on_progress,
        )
    finally:
        remaining = max(0.0, (start_ns + (duration_s + drain_s) * 1e9 - clock.now_ns()) / 1e9)
        bstats = ingest.finish(remaining)
    _expire_unreached(ingest, profile, dstats, start_ns)
    return dstats, bstats


def _expire_unreached(
    ingest: BoundedIngest, profile: RateProfile, dstats: DriverStats, start_ns: int
) -> None:
    """Every event the loop never reached is recorded expired (never sent). run_open_loop's own
    start is a few µs later; the schedule is relative."""
    for seq, s_ns in zip(
        range(dstats.sent, dstats.offered),
        profile.schedule_ns(dstats.sent, dstats.offered, start_ns),
        strict=True,
    ):
        ingest.expire(seq, s_ns)
