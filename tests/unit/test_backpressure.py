"""The bounded ingest queue with deliberately slow consumers: shed mode counts every shed event,
block mode sheds none, the drain deadline expires (and records) what is left, and every offered
event ends in exactly one recorded outcome in the history."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.clock import RunClock
from harness.history.loader import stream_ops
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.workload.engine.backpressure import (
    EXPIRED,
    SHED,
    BoundedIngest,
    recording_reject,
    run_with_backpressure,
)
from harness.workload.engine.openloop import DriverStats
from harness.workload.engine.profile import constant, spike


def _work(
    rec: HistoryRecorder,
    gate: threading.Event | None = None,
    pause_s: float = 0.0,
    started: threading.Semaphore | None = None,
) -> Callable[[int, int], None]:
    def work(seq: int, sched_ns: int) -> None:
        op = rec.invoke("ingest", "insert", sched_ns=sched_ns, event=seq)
        if started is not None:
            started.release()
        if gate is not None:
            gate.wait()
        if pause_s:
            threading.Event().wait(pause_s)  # the deliberately slow consumer
        rec.complete(op, OpType.OK, "ingest", "insert", event=seq)

    return work


def _outcomes(path: Path) -> dict[int, list[tuple[str, str | None]]]:
    """Per event: its completions (outcome, error)."""
    by_event: dict[int, list[tuple[str, str | None]]] = {}
    for op in stream_ops(path):
        assert op.outcome is not None and op.completion is not None, f"op {op.id} never completed"
        by_event.setdefault(op.get("event"), []).append((op.outcome, op.completion.get("error")))
    return by_event


def test_shed_mode_counts_every_shed_event(tmp_path: Path) -> None:
    clock = RunClock()
    path = tmp_path / "history.jsonl"
    gate = threading.Event()  # consumers hold their first event until the producer is done
    started = threading.Semaphore(0)
    with HistoryRecorder(path, clock) as rec:
        ingest = BoundedIngest(
            clock,
            capacity=5,
            workers=2,
            mode="shed",
            work=_work(rec, gate, started=started),
            reject=recording_reject(rec, "ingest", "insert"),
        )
        ingest.start()
        sched = constant(10_000).schedule_ns(0, 40)
        # Let both consumers hold an item before the burst, so capacity is the only slack.
        ingest.offer(0, sched[:2])
        for _ in range(2):
            assert started.acquire(timeout=5)
        ingest.offer(2, sched[2:])
        gate.set()
        stats = ingest.finish(drain_s=5)
    assert stats.offered == 40
    assert stats.completed == 2 + 5 and stats.shed == 40 - 7 and stats.expired == 0
    assert stats.max_depth == 5
    assert stats.accounted() == stats.offered
    outcomes = _outcomes(path)
    assert sorted(outcomes) == list(range(40))
    assert all(len(v) == 1 for v in outcomes.values())
    counts = Counter(v[0] for v in outcomes.values())
    assert counts == {("ok", None): 7, ("fail", SHED): 33}


@pytest.mark.parametrize("mode", ["shed", "block"])
def test_every_event_one_outcome_and_offered_is_accounted(tmp_path: Path, mode: str) -> None:
    clock = RunClock()
    path = tmp_path / "history.jsonl"
    # A 0.3 s spike to 4000/s over a base of 200/s; two consumers at ~2 ms each manage ~1000/s.
    profile = spike(base=200, peak=4000, at_s=0.1, for_s=0.3)
    with HistoryRecorder(path, clock) as rec:
        dstats, stats = run_with_backpressure(
            clock,
            profile=profile,
            duration_s=0.5,
            drain_s=30,
            capacity=50,
            workers=2,
            mode=mode,  # type: ignore[arg-type]
            work=_work(rec, pause_s=0.002),
            reject=recording_reject(rec, "ingest", "insert"),
        )
    offered = profile.total(0.5)
    assert dstats.offered == stats.offered == offered == 1240
    assert stats.completed + stats.shed + stats.unsent == offered
    assert stats.crashed == 0
    outcomes = _outcomes(path)
    assert sorted(outcomes) == list(range(offered))
    assert all(len(v) == 1 for v in outcomes.values())
    failed = [v[0] for v in outcomes.values() if v[0][0] != "ok"]
    assert len(failed) == stats.shed + stats.expired
    assert stats.depth_series and stats.max_depth <= 50
    if mode == "block":
        assert stats.shed == 0 and stats.expired == 0 and stats.completed == offered
        assert stats.max_depth == 50  # the queue filled: the producer waited
    else:
        assert stats.shed > 0 and all(e == SHED for _, e in failed)


def test_drain_deadline_expires_and_records_what_is_left(tmp_path: Path) -> None:
    clock = RunClock()
    path = tmp_path / "history.jsonl"
    gate = threading.Event()
    with HistoryRecorder(path, clock) as rec:
        reject = recording_reject(rec, "ingest", "insert")

        def reject_and_release(seq: int, sched_ns: int, reason: str) -> None:
            reject(seq, sched_ns, reason)
            if reason == EXPIRED:
                gate.set()  # the consumers may finish once the deadline has been enforced

        dstats, stats = run_with_backpressure(
            clock,
            profile=constant(2000),
            duration_s=0.05,
            drain_s=0.2,
            capacity=10,
            workers=1,
            mode="block",
            work=_work(rec, gate),
            reject=reject_and_release,
        )
    assert stats.offered == dstats.offered == 100
    assert stats.completed + stats.shed + stats.unsent == 100
    assert stats.expired >= 100 - 1 - 10  # one held by the consumer, at most ten queued
    outcomes = _outcomes(path)
    assert sorted(outcomes) == list(range(100))
    assert all(len(v) == 1 for v in outcomes.values())
    assert sum(1 for v in outcomes.values() if v[0] == ("fail", EXPIRED)) == stats.expired


def test_bad_settings_name_the_field() -> None:
    for kw, field in (({"capacity": 0}, "capacity"), ({"workers": 0}, "workers"), ({"mode": "drop"}, "mode")):
        args = {"capacity": 1, "workers": 1, "mode": "shed", **kw}
        with pytest.raises(ValueError, match=f"^{field}:"):
            BoundedIngest(RunClock(), work=lambda s, t: None, reject=lambda s, t, r: None, **args)  # type: ignore[arg-type]


def test_batch_consumer_takes_queued_events_together_in_order(tmp_path: Path) -> None:
    clock = RunClock()
    batches: list[list[int]] = []
    gate = threading.Event()

    def work_batch(items: list[tuple[int, int]]) -> None:
        gate.wait(5)  # the first batch holds the consumer while the queue fills behind it
        batches.append([seq for seq, _ in items])

    with HistoryRecorder(tmp_path / "history.jsonl", clock) as rec:
        ingest = BoundedIngest(
            clock,
            capacity=100,
            workers=1,
            mode="block",
            work_batch=work_batch,
            max_batch=16,
            reject=recording_reject(rec, "ingest", "insert"),
        )
        ingest.start()
        ingest.offer(0, constant(10_000).schedule_ns(0, 50))
        gate.set()
        stats = ingest.finish(drain_s=5)
    assert [s for b in batches for s in b] == list(range(50))  # FIFO, each event once
    assert max(len(b) for b in batches) == 16 and len(batches) >= 4
    assert stats.completed == 50 and stats.accounted() == stats.offered == 50
    with pytest.raises(ValueError, match="exactly one of work and work_batch"):
        BoundedIngest(clock, capacity=1, workers=1, mode="shed", reject=lambda s, t, r: None)


def test_batch_consumer_with_prepare_and_caller_stats(tmp_path: Path) -> None:
    """The loop the platform runs: ``prepare`` sees each batch before it is offered, one consumer
    takes queued events in batches, and the caller's stats object is the one filled."""
    clock = RunClock()
    prepared: dict[int, int] = {}
    taken: list[list[int]] = []
    mine = DriverStats()

    def prepare(first_seq: int, sched: list[int]) -> None:
        for k, s_ns in enumerate(sched):
            prepared[first_seq + k] = s_ns

    def work_batch(items: list[tuple[int, int]]) -> None:
        assert all(prepared[seq] == s_ns for seq, s_ns in items)  # prepared before offered
        taken.append([seq for seq, _ in items])

    with HistoryRecorder(tmp_path / "history.jsonl", clock) as rec:
        dstats, stats = run_with_backpressure(
            clock,
            profile=constant(2000),
            duration_s=0.1,
            drain_s=30,
            capacity=1000,
            workers=1,
            mode="block",
            reject=recording_reject(rec, "ingest", "insert"),
            work_batch=work_batch,
            max_batch=16,
            stats=mine,
            prepare=prepare,
        )
    assert dstats is mine and mine.offered == mine.sent == 200
    assert [s for b in taken for s in b] == list(range(200))  # FIFO, each once
    assert max(len(b) for b in taken) <= 16
    assert stats.completed == stats.offered == 200 and stats.accounted() == 200
