"""stream_ops / stream_pairs: completion order, in-flight invokes only, torn and damaged files."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import HistoryError
from harness.history.loader import pair_ops, stream_ops, stream_pairs


def _rec(op_id: int, kind: str, t: int, **kw: Any) -> dict[str, Any]:
    return {"id": op_id, "type": kind, "process": "p", "f": "incr", "time_ns": t, **kw}


def _write(path: Path, records: list[dict[str, Any]], tail: bytes = b"") -> None:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records) + tail)


def test_ops_come_in_completion_order_then_unfinished_in_invoke_order() -> None:
    recs = [
        _rec(1, "invoke", 1),
        _rec(2, "invoke", 2),
        _rec(3, "invoke", 3),
        _rec(4, "invoke", 4),
        _rec(3, "ok", 5, value=1),
        _rec(1, "info", 6, error="timeout"),
    ]
    ops = list(stream_pairs(recs))
    assert [(o.id, o.outcome) for o in ops] == [(3, "ok"), (1, "info"), (2, None), (4, None)]
    assert ops[0].value == 1 and ops[0].complete_ns == 5 and ops[2].complete_ns is None


def test_each_op_is_yielded_as_soon_as_its_completion_is_read() -> None:
    consumed = 0

    def records() -> Any:
        nonlocal consumed
        for i in range(1000):
            for rec in (_rec(i, "invoke", 2 * i), _rec(i, "ok", 2 * i + 1)):
                consumed += 1
                yield rec

    gen = stream_pairs(records())
    for i in range(3):
        assert next(gen).id == i
        assert consumed == 2 * (i + 1)  # nothing read ahead, nothing held back


@settings(max_examples=200, derandomize=True, deadline=None)
@given(n=st.integers(0, 30), seed=st.integers(0, 2**32), data=st.data())
def test_same_ops_as_pair_ops(n: int, seed: int, data: st.DataObject) -> None:
    rng = random.Random(seed)
    events: list[tuple[int, int, str]] = []  # (time, id, type)
    for i in range(n):
        t0 = rng.randrange(1000)
        events.append((t0, i, "invoke"))
        outcome = data.draw(st.sampled_from(["ok", "fail", "info", None]))
        if outcome is not None:
            events.append((t0 + rng.randrange(1, 100), i, outcome))
    events.sort()
    recs = [_rec(i, kind, t) for t, i, kind in events]
    streamed = list(stream_pairs(recs))
    listed = pair_ops(recs)
    key = lambda o: (o.id, o.outcome, o.invoke_ns, o.complete_ns)  # noqa: E731
    assert sorted(map(key, streamed)) == sorted(map(key, listed))
    done = [o for o in streamed if o.outcome is not None]
    assert [o.complete_ns for o in done] == sorted(o.complete_ns or 0 for o in done)
    assert all(o.outcome is None for o in streamed[len(done) :])


def test_torn_final_line_is_tolerated(tmp_path: Path) -> None:  # and reported: test_history_integrity
    path = tmp_path / "history.jsonl"
    _write(path, [_rec(1, "invoke", 1), _rec(1, "ok", 2)], tail=b'{"id": 2, "type": "inv')
    assert [(o.id, o.outcome) for o in stream_ops(path)] == [(1, "ok")]


def test_a_damaged_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_bytes(orjson.dumps(_rec(1, "invoke", 1)) + b"\nnot json\n")
    with pytest.raises(HistoryError, match=r"history.jsonl: line 2 is not JSON"):
        list(stream_ops(path))


def test_a_record_without_a_required_field_is_named(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    _write(path, [{"id": 1, "type": "invoke", "process": "p", "time_ns": 1}])
    with pytest.raises(HistoryError, match=r"line 1: op record has no 'f' field"):
        list(stream_ops(path))
    with pytest.raises(HistoryError, match=r"record 1: no 'time_ns' field"):
        list(stream_pairs([{"id": 1, "type": "invoke", "process": "p", "f": "x"}]))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(HistoryError, match=r"history.jsonl: cannot read the history"):
        list(stream_ops(tmp_path / "history.jsonl"))
