"""Encodings of a history: the same ops, written the other ways a real run writes them.

The case modules' models write one line per op, in time order. A real run also writes

* *batch records* (:meth:`harness.history.recorder.HistoryRecorder.invoke_columns` /
  ``complete_columns``): one line for ``n`` ops with consecutive ids, their per-op fields as
  columns (dotted names for the fields of a nested object), a ``type`` column when the outcomes
  differ and a ``time_ns`` column on completions;
* completion lines in the order the replies were handled, so a completion line can come after a
  completion (or an invoke) with a later ``time_ns``.

:func:`batched` and :func:`reordered` are pure functions record list -> record list that keep the
history's meaning (every op, its fields and times) and change only its encoding; :func:`encode`
applies a named combination (:data:`ENCODINGS`, ``per-op`` first, so a failure shrinks to it),
its choices from a ``random.Random`` seeded by the given one (drawn from hypothesis).
:func:`as_read` is what the loader's reader makes of the lines (each through JSON, batch records
exploded), the input of :func:`harness.history.loader.stream_pairs`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import orjson

from harness.history.loader import explode

Record = dict[str, Any]

#: The encodings the matrix judges every history under; the first is the models' own.
ENCODINGS = ("per-op", "batched", "reordered", "batched+reordered")
#: How many lines a completion may move down the file, at most (:func:`reordered`).
WINDOW = 32
#: The most ops one batch record stands for (:func:`batched` draws each run's cap up to it).
MAX_BATCH = 16

_HEAD = ("id", "type", "process", "f", "time_ns")


def _same_line(a: Record, b: Record) -> bool:
    """Whether ``b`` may follow ``a`` in one batch record: same kind of record (invoke or a
    completion), process and ``f``, the next id; invokes share one ``time_ns`` (a batch record of
    invokes has one)."""
    if (a["type"] == "invoke") != (b["type"] == "invoke"):
        return False
    if a["process"] != b["process"] or a["f"] != b["f"] or b["id"] != a["id"] + 1:
        return False
    return bool(b["type"] != "invoke" or a["time_ns"] == b["time_ns"])


def _column(values: list[Any]) -> list[Any] | None:
    """A column for per-op values (``...`` for absent), or None when it cannot say them: a null in
    a column means the op has no such field, so a present ``None`` cannot be written."""
    if any(v is None for v in values):
        return None
    return [None if v is ... else v for v in values]


def _all_equal(values: list[Any]) -> bool:
    v0 = values[0]
    return all(type(v) is type(v0) and v == v0 for v in values)


def _fields(run: list[Record], invoke: bool) -> tuple[dict[str, Any], dict[str, list[Any]]] | None:
    """(common, columns) for the run's own fields as the recorder writes them, or None when they
    cannot be written as one batch record."""
    common: dict[str, Any] = {}
    columns: dict[str, list[Any]] = {}
    names = sorted({k for r in run for k in r if k not in _HEAD}, key=str)
    for name in names:
        if "." in name:
            return None
        values = [r.get(name, ...) for r in run]
        nested = all(isinstance(v, dict) for v in values) and any(values)
        parts: list[tuple[str, list[Any]]] = [(name, values)]
        if nested:
            subs = sorted({s for v in values for s in v}, key=str)
            dotted = [(f"{name}.{s}", [v.get(s, ...) for v in values]) for s in subs]
            if not any(x is None for _, vals in dotted for x in vals):  # else: the whole object
                parts = dotted
        for col_name, vals in parts:
            if invoke and all(v is not ... for v in vals) and _all_equal(vals):
                common[col_name] = vals[0]
                continue
            col = _column(vals)
            if col is None:
                return None
            columns[col_name] = col
    return common, columns


def _batch_record(run: list[Record]) -> Record | None:
    """The batch record the recorder writes for ``run``, or None when it cannot stand for it."""
    first, invoke = run[0], run[0]["type"] == "invoke"
    fields = _fields(run, invoke)
    if fields is None:
        return None
    common, columns = fields
    rec: Record = {"id": first["id"], "process": first["process"], "f": first["f"]}
    if invoke:
        rec.update(type="invoke", time_ns=first["time_ns"], batch=len(run), common=common)
        rec["columns"] = columns
    else:
        kinds = [r["type"] for r in run]
        times = [r["time_ns"] for r in run]
        cols: dict[str, list[Any]] = {"time_ns": times}
        kind = kinds[0] if kinds.count(kinds[0]) == len(kinds) else "info"
        if kinds.count(kind) != len(kinds):
            cols["type"] = kinds
        rec.update(type=kind, time_ns=max(times), batch=len(run), columns={**cols, **columns})
    return rec if list(explode(rec)) == run else None


def _runs(records: list[Record], rng: random.Random) -> Iterator[list[Record]]:
    """Maximal runs of records that may share a batch record, each cut at a drawn size."""
    run: list[Record] = []
    cap = rng.randint(1, MAX_BATCH)
    for rec in records:
        if run and (len(run) >= cap or not _same_line(run[-1], rec)):
            yield run
            run, cap = [], rng.randint(1, MAX_BATCH)
        run.append(rec)
    if run:
        yield run


def batched(records: list[Record], rng: random.Random) -> list[Record]:
    """``records`` with each run of batchable records (see :func:`_same_line`) of two or more as one
    batch record, exactly as the recorder writes it; a run it cannot write stays per-op."""
    out: list[Record] = []
    for run in _runs(records, rng):
        rec = _batch_record(run) if len(run) > 1 else None
        if rec is None:
            out.extend(run)
        else:
            out.append(rec)
    return out


def _ids(rec: Record) -> range:
    return range(rec["id"], rec["id"] + rec.get("batch", 1))


def _follows(rec: Record) -> set[int]:
    """The ops whose completion ``rec`` (an invoke) was recorded after: an ``ingest_fx`` is invoked
    only once its ``ingest_rl`` completed (round 2 is sent after round 1 is read)."""
    if "batch" in rec:
        col = rec.get("columns", {}).get("rl") or [rec.get("common", {}).get("rl")]
        return {x for x in col if isinstance(x, int)}
    rl = rec.get("rl")
    return {rl} if isinstance(rl, int) else set()


def reordered(records: list[Record], rng: random.Random) -> list[Record]:
    """``records`` with completion lines moved down the file by up to :data:`WINDOW` lines (each
    with a drawn chance), times kept: file order is no longer time order. A completion stays after
    its invoke (it only moves later) and before any invoke recorded because of it."""
    out = list(records)
    for i in range(len(out) - 1, -1, -1):
        rec = out[i]
        if rec["type"] == "invoke" or rng.random() < 0.5:
            continue
        ids = set(_ids(rec))
        j = i
        for _ in range(rng.randint(1, WINDOW)):
            if j + 1 >= len(out) or (out[j + 1]["type"] == "invoke" and _follows(out[j + 1]) & ids):
                break
            j += 1
        out.insert(j, out.pop(i))
    return out


def encode(name: str, records: list[Record], rng: random.Random) -> list[Record]:
    """``records`` under the encoding ``name`` (one of :data:`ENCODINGS`); batches are formed first
    and then moved as whole lines, as a run writes them."""
    if name not in ENCODINGS:
        raise ValueError(f"unknown encoding {name!r}; known: {', '.join(ENCODINGS)}")
    if name == "per-op":
        return records
    # one draw from ``rng`` (hypothesis' random costs a draw per call): the choices shrink with it
    rng = random.Random(rng.getrandbits(64))
    if "batched" in name:
        records = batched(records, rng)
    if "reordered" in name:
        records = reordered(records, rng)
    return records


def as_read(records: list[Record]) -> Iterator[Record]:
    """The per-op records the loader reads from these lines: each line through JSON (as the recorder
    writes it and the reader parses it), a batch record exploded into the ops it stands for."""
    for rec in records:
        line = orjson.loads(orjson.dumps(rec))
        if "batch" in line:
            yield from explode(line)
        else:
            yield line
