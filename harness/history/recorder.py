"""Streams op records to ``history.jsonl`` while the run goes; safe to call from several threads."""

from __future__ import annotations

import itertools
import threading
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
