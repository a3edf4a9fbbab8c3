"""The recorder's batch calls write byte for byte what the per-record calls write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.clock import RunClock
from harness.history.loader import iter_records, stream_ops
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType

FIELDS: list[dict[str, Any]] = [
    {"tenant": "t1", "keys": ["a", 'b"q\\'], "value": {"now_ms": 5, "x": None, "f": 1.5}},
    {},
    {"user": "ü%d%s", "window": "20240101:00"},
    {"value": [1, 2, 3], "nested": {"deep": [{"k": True}]}},
]


def _both(tmp_path: Path, flush_every: int) -> tuple[bytes, bytes]:
    clock = RunClock(start_ns=0, start_wall=1_700_000_000.0)
    one, batch = tmp_path / "one.jsonl", tmp_path / "batch.jsonl"
    process, f = 'proc "x" %d', "ingest"
    with HistoryRecorder(one, clock, flush_every) as rec:
        ids = [rec.invoke(process, f, time_ns=100, **fl) for fl in FIELDS]
        outcomes = [OpType.OK, OpType.FAIL, OpType.INFO, OpType.OK]
        for i, o, t in zip(ids, outcomes, [7, 8, 9, 10], strict=True):
            rec.complete(i, o, process, f, time_ns=t, **({"value": [i]} if o is OpType.OK else {}))
        rec.complete(ids[0], OpType.OK, process, f, time_ns=11)
    with HistoryRecorder(batch, clock, flush_every) as rec:
        ids = rec.invoke_batch(process, f, FIELDS, time_ns=100)
        comp = [{"value": [i]} if o is OpType.OK else {} for i, o in zip(ids, outcomes, strict=True)]
        rec.complete_batch(ids, outcomes, process, f, comp, time_ns=[7, 8, 9, 10])
        rec.complete_batch(ids[:1], OpType.OK, process, f, [{}], time_ns=11)
        assert rec.count == 9
    return one.read_bytes(), batch.read_bytes()


def test_batch_lines_equal_per_record_lines(tmp_path: Path) -> None:
    one, batch = _both(tmp_path, 4096)
    assert one == batch
    assert len(one.splitlines()) == 9


def test_batch_flushes_like_per_record_calls(tmp_path: Path) -> None:
    one, batch = _both(tmp_path, 2)  # several flushes mid-batch
    assert one == batch


def test_batch_history_loads_and_pairs(tmp_path: Path) -> None:
    clock = RunClock(start_ns=0, start_wall=1_700_000_000.0)
    path = tmp_path / "h.jsonl"
    with HistoryRecorder(path, clock) as rec:
        first = rec.invoke("p", "other", time_ns=1)
        ids = rec.invoke_batch("p", "incr", [{"key": f"k{i}"} for i in range(3)], time_ns=2)
        rec.complete(first, OpType.OK, "p", "other", time_ns=3)
        rec.complete_batch(ids, OpType.OK, "p", "incr", [{"value": i} for i in range(3)], time_ns=[4, 5, 6])
    assert ids == [first + 1, first + 2, first + 3]
    assert [r["time_ns"] for r in iter_records(path)] == [1, 2, 2, 2, 3, 4, 5, 6]
    ops = {op.id: op for op in stream_ops(path)}
    assert [(ops[i].invoke["key"], ops[i].value, ops[i].complete_ns) for i in ids] == [
        ("k0", 0, 4),
        ("k1", 1, 5),
        ("k2", 2, 6),
    ]


def test_batch_without_time_uses_the_clock(tmp_path: Path) -> None:
    clock = RunClock()
    path = tmp_path / "h.jsonl"
    with HistoryRecorder(path, clock) as rec:
        before = clock.now_ns()
        rec.invoke_batch("p", "f", [{}, {}])
        after = clock.now_ns()
    times = [r["time_ns"] for r in iter_records(path)]
    assert len(times) == 2 and times[0] == times[1] and before <= times[0] <= after
