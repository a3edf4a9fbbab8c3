"""Streams op records to ``history.jsonl`` while the run goes; safe to call from several threads.

Per-record calls (:meth:`HistoryRecorder.invoke` / :meth:`HistoryRecorder.complete`) suit most
workloads; a hot path recording thousands of ops per batch uses :meth:`HistoryRecorder.invoke_batch`
/ :meth:`HistoryRecorder.complete_batch`, which write byte for byte the same lines with one lock and
one list extend per batch.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import orjson

from harness.clock import RunClock
from harness.ops import OpType


class HistoryRecorder:
    """Append-only JSONL writer. Each ``invoke`` gets a fresh id; its completion repeats that id.

    Lines are buffered and flushed every ``flush_every`` records and on close, so a crash loses at
    most one buffer; the loader tolerates a torn last line.
    """

    def __init__(self, path: Path, clock: RunClock, flush_every: int = 4096) -> None:
        self.path = path
        self.clock = clock
        self._file: BinaryIO = open(path, "ab")  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending: list[bytes] = []
        self._flush_every = flush_every
        self.count = 0

    def _write(self, record: dict[str, Any]) -> None:
        line = orjson.dumps(record) + b"\n"
        with self._lock:
            self._pending.append(line)
            self.count += 1
            if len(self._pending) >= self._flush_every:
                self._flush_locked()

    def _flush_locked(self) -> None:
        if self._pending:
            self._file.write(b"".join(self._pending))
            self._pending.clear()
            self._file.flush()

    def _write_lines(self, lines: list[bytes]) -> None:
        with self._lock:
            self._pending.extend(lines)
            self.count += len(lines)
            if len(self._pending) >= self._flush_every:
                self._flush_locked()

    def _times(self, n: int, time_ns: int | Sequence[int] | None) -> Sequence[int]:
        if time_ns is None or isinstance(time_ns, int):
            return [self.clock.now_ns() if time_ns is None else time_ns] * n
        return time_ns

    @staticmethod
    def _template(kind: str, process: str, f: str, rest: bytes) -> bytes:
        """``{"id":%d,"type":…,"process":…,"f":…,"time_ns":%d`` + ``rest``, as a %-template
        (the caller's strings have their % doubled)."""
        fixed = (
            b',"type":'
            + orjson.dumps(kind)
            + b',"process":'
            + orjson.dumps(process)
            + b',"f":'
            + orjson.dumps(f)
            + b',"time_ns":'
        )
        return b'{"id":%d' + fixed.replace(b"%", b"%%") + b"%d" + rest

    def _batch(
        self,
        ids: Sequence[int],
        kind: str | Sequence[str],
        process: str,
        f: str,
        fields: Sequence[dict[str, Any]],
        time_ns: int | Sequence[int] | None,
    ) -> list[bytes]:
        """Lines equal to ``orjson.dumps({id, type, process, f, time_ns, **fields})``: the common
        head is formatted once and each record's own fields are serialised by one ``dumps``."""
        kinds = [kind] * len(ids) if isinstance(kind, str) else kind
        times = self._times(len(ids), time_ns)
        heads = {k: self._template(k, process, f, b",%b\n") for k in set(kinds)}
        empty = {k: self._template(k, process, f, b"}\n") for k in set(kinds)}
        dumps = orjson.dumps
        lines = []
        for op_id, k, t, extra in zip(ids, kinds, times, fields, strict=True):
            if extra:  # dumps of a dict starts with "{": its fields follow the head's
                lines.append(heads[k] % (op_id, t, dumps(extra)[1:]))
            else:
                lines.append(empty[k] % (op_id, t))
        return lines

    def complete_values(
        self,
        op_ids: Sequence[int],
        process: str,
        f: str,
        values: Sequence[int] | Sequence[Sequence[int]],
        *,
        time_ns: int | Sequence[int] | None = None,
    ) -> None:
        """``complete(op_ids[i], OpType.OK, process, f, time_ns=…, value=values[i])`` for each
        ``i``, for values that are all ints or all lists of ints of one length: formatted without a
        dict or a JSON encoder (the hot path of a workload whose ok replies are small ints)."""
        if not op_ids:
            return
        times = self._times(len(op_ids), time_ns)
        first = values[0]
        if isinstance(first, int):
            tmpl = self._template(OpType.OK.value, process, f, b',"value":%d}\n')
            lines = [tmpl % (op_id, t, v) for op_id, t, v in zip(op_ids, times, values, strict=True)]
        else:
            width = len(first)
            tmpl = self._template(
                OpType.OK.value, process, f, b',"value":[' + b",".join([b"%d"] * width) + b"]}\n"
            )
            lines = [tmpl % (op_id, t, *v) for op_id, t, v in zip(op_ids, times, values, strict=True)]  # type: ignore[misc]
        self._write_lines(lines)

    def invoke_batch(
        self,
        process: str,
        f: str,
        fields: Sequence[dict[str, Any]],
        *,
        time_ns: int | Sequence[int] | None = None,
    ) -> list[int]:
        """One ``invoke`` per entry of ``fields`` (its extra fields, in order); ``time_ns`` is one
        time for all or one per record. Returns the ids, in order."""
        ids = [next(self._ids) for _ in fields]
        self._write_lines(self._batch(ids, OpType.INVOKE.value, process, f, fields, time_ns))
        return ids

    def complete_batch(
        self,
        op_ids: Sequence[int],
        outcomes: OpType | Sequence[OpType],
        process: str,
        f: str,
        fields: Sequence[dict[str, Any]],
        *,
        time_ns: int | Sequence[int] | None = None,
    ) -> None:
        """``complete(op_ids[i], outcomes[i], process, f, time_ns=time_ns[i], **fields[i])`` for each
        ``i``, as one write (``outcomes`` and ``time_ns`` may be one value for all)."""
        kind: str | list[str] = (
            outcomes.value if isinstance(outcomes, OpType) else [o.value for o in outcomes]
        )
        self._write_lines(self._batch(op_ids, kind, process, f, fields, time_ns))

    def invoke(self, process: str, f: str, *, time_ns: int | None = None, **fields: Any) -> int:
        op_id = next(self._ids)
        rec: dict[str, Any] = {
            "id": op_id,
            "type": OpType.INVOKE.value,
            "process": process,
            "f": f,
            "time_ns": self.clock.now_ns() if time_ns is None else time_ns,
        }
        rec.update(fields)
        self._write(rec)
        return op_id

    def complete(
        self,
        op_id: int,
        outcome: OpType,
        process: str,
        f: str,
        *,
        time_ns: int | None = None,
        **fields: Any,
    ) -> None:
        rec: dict[str, Any] = {
            "id": op_id,
            "type": outcome.value,
            "process": process,
            "f": f,
            "time_ns": self.clock.now_ns() if time_ns is None else time_ns,
        }
        rec.update(fields)
        self._write(rec)

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def close(self) -> None:
        with self._lock:
            self._flush_locked()
            self._file.close()

    def __enter__(self) -> HistoryRecorder:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
