"""Batch records (one line for a batch's invokes or completions, fields as columns) load as exactly
the per-op records the per-op calls write; a malformed one is named, never half-read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from harness.clock import RunClock
from harness.errors import HistoryError
from harness.history.loader import iter_records, stream_ops
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType

CLOCK = RunClock(start_ns=0, start_wall=1_700_000_000.0)
OUTCOMES = [OpType.OK, OpType.FAIL, OpType.OK, OpType.INFO]


def _per_op(path: Path) -> None:
    with HistoryRecorder(path, CLOCK) as rec:
        other = rec.invoke("q", "other", time_ns=1)
        ids = rec.invoke_batch(
            "p",
            "ingest_rl",
            [
                {
                    "variant": "v",
                    "tenant": t,
                    "keys": [f"k{i}", "c"],
                    "value": {"now_ms": i, "window_ms": 1000},
                }
                for i, t in enumerate(["a", "b", "c", "d"])
            ],
            time_ns=5,
        )
        rec.complete(other, OpType.OK, "q", "other", time_ns=6, value="x")
        comp: list[dict[str, Any]] = [
            {"value": [1, 9]},
            {"error": "NoScriptError: no"},
            {"value": [0, 1]},
            {"error": "TimeoutError: slow"},
        ]
        rec.complete_batch(ids, OUTCOMES, "p", "ingest_rl", comp, time_ns=[7, 8, 9, 10])


def _columns(path: Path) -> None:
    with HistoryRecorder(path, CLOCK) as rec:
        other = rec.invoke("q", "other", time_ns=1)
        first = rec.invoke_columns(
            "p",
            "ingest_rl",
            4,
            {
                "tenant": ["a", "b", "c", "d"],
                "keys": [(f"k{i}", "c") for i in range(4)],
                "value.now_ms": [0, 1, 2, 3],
            },
            common={"variant": "v", "value.window_ms": 1000},
            time_ns=5,
        )
        rec.complete(other, OpType.OK, "q", "other", time_ns=6, value="x")
        rec.complete_columns(
            first,
            4,
            OUTCOMES,
            "p",
            "ingest_rl",
            {
                "value": [[1, 9], None, [0, 1], None],
                "error": [None, "NoScriptError: no", None, "TimeoutError: slow"],
            },
            time_ns=[7, 8, 9, 10],
        )
        assert rec.count == 10  # op records: the two batch lines stand for eight


def test_batch_records_load_as_the_per_op_records(tmp_path: Path) -> None:
    one, cols = tmp_path / "one.jsonl", tmp_path / "cols.jsonl"
    _per_op(one)
    _columns(cols)
    assert len(cols.read_bytes().splitlines()) == 4
    assert list(iter_records(cols)) == list(iter_records(one))
    ops = [(op.id, op.f, op.outcome, op.invoke, op.completion) for op in stream_ops(cols, expand=False)]
    assert ops == [
        (op.id, op.f, op.outcome, op.invoke, op.completion) for op in stream_ops(one, expand=False)
    ]


def test_one_outcome_for_all_needs_no_type_column(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    with HistoryRecorder(path, CLOCK) as rec:
        first = rec.invoke_columns("p", "incr", 3, {"key": ["a", "b", "c"]}, time_ns=1)
        rec.complete_columns(first, 3, OpType.OK, "p", "incr", {"value": [1, 2, 3]}, time_ns=[4, 2, 3])
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert lines[1]["type"] == "ok" and "type" not in lines[1]["columns"]
    assert lines[1]["time_ns"] == 4  # the batch's last completion
    ops = list(stream_ops(path))
    assert [(op.id, op.outcome, op.value, op.complete_ns) for op in ops] == [
        (first, "ok", 1, 4),
        (first + 1, "ok", 2, 2),
        (first + 2, "ok", 3, 3),
    ]


def test_ids_after_a_batch_do_not_collide(tmp_path: Path) -> None:
    with HistoryRecorder(tmp_path / "h.jsonl", CLOCK) as rec:
        a = rec.invoke("p", "x")
        first = rec.invoke_columns("p", "y", 5, {"k": list(range(5))})
        b = rec.invoke("p", "x")
        [c] = rec.invoke_batch("p", "x", [{}])
    assert (a, first, b, c) == (1, 2, 7, 8)


def test_a_batch_without_completion_is_unknown_op_by_op(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    with HistoryRecorder(path, CLOCK) as rec:
        rec.invoke_columns("p", "incr", 2, {"key": ["a", "b"]}, time_ns=1)
    ops = list(stream_ops(path))
    assert [(op.get("key"), op.outcome) for op in ops] == [("a", None), ("b", None)]


def test_a_large_batch_record_is_flushed_by_the_ops_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    rec = HistoryRecorder(path, CLOCK, flush_every=100)
    rec.invoke_columns("p", "incr", 150, {"key": [str(i) for i in range(150)]}, time_ns=1)
    assert path.stat().st_size > 0  # written before close: one batch of 150 ops passes 100
    rec.close()


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"batch": "2", "columns": {}}, "integer 'id' and 'batch'"),
        ({"batch": 2, "columns": {"k": [1]}}, "column 'k' is not a list of 2 values"),
        ({"batch": 2, "columns": {"k": "ab"}}, "column 'k' is not a list of 2 values"),
        ({"batch": 2, "columns": [], "common": {}}, "'common' and 'columns' must be objects"),
    ],
)
def test_a_malformed_batch_record_is_named(tmp_path: Path, record: dict[str, Any], message: str) -> None:
    path = tmp_path / "h.jsonl"
    head = {"id": 1, "type": "invoke", "process": "p", "f": "x", "time_ns": 1}
    path.write_bytes(orjson.dumps({**head, "id": 9}) + b"\n" + orjson.dumps({**head, **record}) + b"\n")
    with pytest.raises(HistoryError, match=f"line 2: .*{message}"):
        list(iter_records(path))
