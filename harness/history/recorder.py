"""Streams op records to ``history.jsonl`` while the run goes; safe to call from several threads.

Per-record calls (:meth:`HistoryRecorder.invoke` / :meth:`HistoryRecorder.complete`) suit most
workloads; a hot path recording thousands of ops per batch uses :meth:`HistoryRecorder.invoke_batch`
/ :meth:`HistoryRecorder.complete_batch`, which write byte for byte the same lines with one lock and
one list extend per batch.

The hottest path (the ingestion workload, tens of thousands of ops a second) writes *batch records*
(:meth:`HistoryRecorder.invoke_columns` / :meth:`HistoryRecorder.complete_columns`): one line for a
batch's ``n`` invokes (or completions), its per-op fields as columns::

    {"id": first, "type": "invoke", "process", "f", "time_ns", "batch": n,
     "common": {field: value, ...}, "columns": {field: [n values], ...}}
    {"id": first, "type": outcome, "process", "f", "time_ns", "batch": n,
     "columns": {"time_ns": [n], "type": [n] (only when the outcomes differ), field: [n], ...}}

They stand for ops ``first`` … ``first + n - 1``. A column's ``null`` means the op has no such field;
a dotted name (``value.now_ms``) is a field of a nested object. The loader turns a batch record
back into the per-op records it stands for (:func:`harness.history.loader.iter_records`), so no
reader ever sees one. Serialising a few lists costs far less than ``n`` objects.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import orjson

from harness.clock import RunClock
from harness.history.digest import file_digest
from harness.ops import OpType


class HistoryRecorder:
    """Append-only JSONL writer. Each ``invoke`` gets a fresh id; its completion repeats that id.

    Lines are buffered and flushed every ``flush_every`` op records and on close, so a crash loses at
    most one buffer; the loader tolerates a torn last line. ``count`` is the op records written (a
    batch record counts as the ``n`` it stands for), ``lines`` the lines; after :meth:`close`,
    :meth:`summary` is what the file holds, for ``results.json``.
    """

    def __init__(self, path: Path, clock: RunClock, flush_every: int = 4096, first_id: int = 1) -> None:
        """``first_id``: where op ids start (a process appending to a history another wrote)."""
        self.path = path
        self.clock = clock
        self._file: BinaryIO = open(path, "ab")  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()
        self._next_id = first_id
        self._id_lock = threading.Lock()
        self._pending: list[bytes] = []
        self._pending_ops = 0
        self._flush_every = flush_every
        self._appended = self._file.tell() > 0  # the file held lines before: not all ours
        self.count = 0
        self.lines = 0

    def _write(self, record: dict[str, Any], ops: int = 1) -> None:
        line = orjson.dumps(record) + b"\n"
        with self._lock:
            self._pending.append(line)
            self.lines += 1
            self.count += ops
            # a batch record is one line of up to a few hundred kB: count the ops it stands for
            self._pending_ops += ops
            if self._pending_ops >= self._flush_every:
                self._flush_locked()

    def _flush_locked(self) -> None:
        if self._pending:
            self._file.write(b"".join(self._pending))
            self._pending.clear()
            self._pending_ops = 0
            self._file.flush()

    def _write_lines(self, lines: list[bytes]) -> None:
        with self._lock:
            self._pending.extend(lines)
            self.lines += len(lines)
            self.count += len(lines)
            self._pending_ops += len(lines)
            if self._pending_ops >= self._flush_every:
                self._flush_locked()

    def _reserve(self, n: int) -> int:
        """``n`` consecutive fresh ids; returns the first."""
        with self._id_lock:
            first = self._next_id
            self._next_id += n
        return first

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
        first = self._reserve(len(fields))
        ids = list(range(first, first + len(fields)))
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

    def invoke_columns(
        self,
        process: str,
        f: str,
        n: int,
        columns: Mapping[str, Sequence[Any]],
        *,
        common: Mapping[str, Any] | None = None,
        time_ns: int | None = None,
    ) -> int:
        """``n`` invokes as one batch record (see the module doc): op ``i`` has every ``common``
        field and ``columns[name][i]`` for each column. Returns the first id; the ops are
        ``first`` … ``first + n - 1``."""
        first = self._reserve(n)
        rec: dict[str, Any] = {
            "id": first,
            "type": OpType.INVOKE.value,
            "process": process,
            "f": f,
            "time_ns": self.clock.now_ns() if time_ns is None else time_ns,
            "batch": n,
            "common": common or {},
            "columns": columns,
        }
        self._write(rec, n)
        return first

    def complete_columns(
        self,
        first: int,
        n: int,
        outcomes: OpType | Sequence[OpType],
        process: str,
        f: str,
        columns: Mapping[str, Sequence[Any]],
        *,
        time_ns: Sequence[int],
    ) -> None:
        """The completions of ops ``first`` … ``first + n - 1`` (an :meth:`invoke_columns` batch, or
        ``n`` of its ops from ``first`` on) as one batch record: op ``i`` completed
        ``outcomes[i]`` (or ``outcomes`` for all) at ``time_ns[i]`` with ``columns[name][i]``."""
        cols: dict[str, Any] = {"time_ns": time_ns, **columns}
        if isinstance(outcomes, OpType):
            kind = outcomes.value
        else:
            kinds = [o.value for o in outcomes]
            kind = kinds[0] if kinds and kinds.count(kinds[0]) == len(kinds) else OpType.INFO.value
            if kinds.count(kind) != len(kinds):
                cols["type"] = kinds
        rec = {
            "id": first,
            "type": kind,
            "process": process,
            "f": f,
            "time_ns": max(time_ns, default=self.clock.now_ns()),
            "batch": n,
            "columns": cols,
        }
        self._write(rec, n)

    def invoke(self, process: str, f: str, *, time_ns: int | None = None, **fields: Any) -> int:
        op_id = self._reserve(1)
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

    @property
    def ops(self) -> int:
        """Ops invoked (each got an id)."""
        return self._next_id - 1

    def summary(self) -> dict[str, Any] | None:
        """After :meth:`close`: ``{ops, records, size, sha256}`` of the file (``records`` the lines
        written, ``size`` in bytes), or None when the file already held lines this recorder did not
        write (it appends)."""
        if self._appended:
            return None
        d = file_digest(self.path)
        return {"ops": self.ops, "records": self.lines, "size": d.size, "sha256": d.sha256}

    def __enter__(self) -> HistoryRecorder:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
