"""The open-loop schedule every driver shares: events due per a rate profile, sent in batches.

Each pass sends every overdue event (up to ``max_batch``) at once, so a slow server shows up as
latency measured from the scheduled time, never as a quietly lower offered load (no coordinated
omission). A driver may also have a backlog of work off the schedule (retries), which shares the
batches and keeps the loop going after the last scheduled event until it is empty or the drain
deadline passes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from harness.clock import RunClock
from harness.workload.engine.profile import Constant, RateProfile


@dataclass
class DriverStats:
    offered: int = 0
    due: int = 0  # events whose scheduled time has come (offered so far)
    sent: int = 0
    unsent: int = 0
    admitted: int = 0
    rate_limited: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: {"ok": 0, "fail": 0, "info": 0})
    expire_errors: int = 0
    max_lag_s: float = 0.0
    elapsed_s: float = 0.0
    batches: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


Progress = Callable[[DriverStats, float], None]


class Backlog(Protocol):
    """Work off the schedule (retries): what is due now, and when the next item will be."""

    def due(self, now_ns: int, limit: int) -> list[Any]: ...

    def next_ns(self) -> int | None: ...


class Schedule(Protocol):
    """What a driver's config says about its schedule: a constant ``rate`` unless ``profile``."""

    @property
    def rate(self) -> float: ...
    @property
    def duration_s(self) -> float: ...
    @property
    def drain_s(self) -> float: ...
    @property
    def max_batch(self) -> int: ...
    @property
    def profile(self) -> RateProfile | None: ...


#: ``send(first_seq, sched_ns, backlog_items)``: one batch of scheduled events (``sched_ns[i]`` is
#: when event ``first_seq + i`` was due) plus any backlog items due now.
Send = Callable[[int, list[int], list[Any]], None]


def run_open_loop(
    clock: RunClock,
    *,
    duration_s: float,
    drain_s: float,
    max_batch: int,
    stats: DriverStats,
    send: Send,
    rate: float | None = None,
    profile: RateProfile | None = None,
    on_progress: Progress | None = None,
    backlog: Backlog | None = None,
    tick_s: float = 0.0,
    tick_batch: int | None = None,
) -> DriverStats:
    """Follows ``profile`` (or a constant ``rate``) for ``duration_s``: ``profile.total(duration_s)``
    events, event ``i`` due at ``start + profile.time_of(i)``. With ``tick_s``, a batch waits up to
    ``tick_s`` after the last (latency still counted from schedule) unless ``tick_batch`` are due,
    as a service flushing on an interval; without, anything due is sent at once."""
    if (rate is None) == (profile is None):
        raise ValueError("run_open_loop: give exactly one of rate= or profile=")
    prof: RateProfile = profile if profile is not None else Constant(float(rate or 0))
    total = prof.total(duration_s)
    stats.offered = total
    start_ns = clock.now_ns()
    drain_deadline = start_ns + int((duration_s + drain_s) * 1e9)
    seq = 0
    last_progress = 0.0
    tick_ns, next_send_ns = int(tick_s * 1e9), start_ns
    early = tick_batch if tick_batch is not None else total + 1
    while seq < total or (backlog is not None and backlog.next_ns() is not None):
        now = clock.now_ns()
        if now > drain_deadline or clock.halt.is_set():
            break  # past the drain, or halted: what was not sent is counted unsent
        due = _due(prof, total, seq, (now - start_ns) / 1e9)
        if now < next_send_ns and due - seq < early:
            time.sleep(min(next_send_ns - now, 1_000_000) / 1e9)  # re-checked every 1 ms at most
            continue
        stats.due = max(stats.due, due)
        extra = backlog.due(now, max_batch) if backlog is not None else []
        if due <= seq and not extra:
            _idle(prof, seq, total, start_ns, now, backlog)
            continue
        upto = min(due, seq + max(0, max_batch - len(extra)))
        sched = prof.schedule_ns(seq, upto, start_ns)
        if sched:
            stats.max_lag_s = max(stats.max_lag_s, (now - sched[0]) / 1e9)
        send(seq, sched, extra)
        next_send_ns = now + tick_ns
        seq = upto
        stats.batches += 1
        if on_progress is not None and now / 1e9 - last_progress >= 0.5:
            last_progress = now / 1e9
            on_progress(stats, min(1.0, seq / total) if total else 1.0)
    stats.sent = seq
    stats.unsent = total - seq
    stats.elapsed_s = (clock.now_ns() - start_ns) / 1e9
    if on_progress is not None:
        on_progress(stats, 1.0)
    return stats


def _due(prof: RateProfile, total: int, seq: int, elapsed_s: float) -> int:
    """How many events are due ``elapsed_s`` into the schedule (never fewer than ``seq``)."""
    due = min(total, int(prof.count_at(elapsed_s) + 1e-9) + 1)
    # N(t) sits on an integer through a zero-rate gap: the next event is not due until it ends.
    while due > seq and prof.time_of(due - 1) > elapsed_s:
        due -= 1
    return due


def _idle(prof: RateProfile, seq: int, total: int, start_ns: int, now: int, backlog: Backlog | None) -> None:
    """Nothing due: sleeps until the next event or backlog item (at most 50 ms)."""
    next_ns = start_ns + int(prof.time_of(seq) * 1e9) if seq < total else now + 5_000_000
    later = backlog.next_ns() if backlog is not None else None
    if later is not None:
        next_ns = min(next_ns, later)
    time.sleep(max(0.0, min(0.05, (next_ns - now) / 1e9)))


def run_schedule(
    clock: RunClock,
    cfg: Schedule,
    *,
    stats: DriverStats,
    send: Send,
    on_progress: Progress | None = None,
    backlog: Backlog | None = None,
) -> DriverStats:
    """:func:`run_open_loop` as ``cfg`` says: its profile when set, else its constant rate."""
    return run_open_loop(
        clock,
        profile=cfg.profile if cfg.profile is not None else Constant(float(cfg.rate)),
        duration_s=cfg.duration_s,
        drain_s=cfg.drain_s,
        max_batch=cfg.max_batch,
        stats=stats,
        send=send,
        on_progress=on_progress,
        backlog=backlog,
    )
