"""Loads a saved history and pairs each invoke with its completion.

Two forms:

* :func:`stream_ops` / :func:`stream_pairs` yield each :class:`Op` as soon as its completion is
  read, holding only the invokes still in flight; ops come in *completion* order (file order of the
  completions), then the invokes that never completed, in invoke order, with ``outcome=None``.
  Checkers use this form, so a history of millions of ops is never loaded whole. Compact ``ingest``
  ops come out expanded into the checkers' vocabulary (:mod:`harness.history.ingest`).
* :func:`load_history` / :func:`pair_ops` return every op as a list sorted by invoke time, for code
  that needs random access (metrics).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from harness.errors import HistoryError
from harness.history.idset import IdSet
from harness.history.ingest import expand_compact
from harness.ops import COMPLETIONS, OpType
from harness.ops import Op as Op  # re-exported: the loader yields them, its users take Op from here

#: Fields every record must have.
_REQUIRED = ("id", "type", "process", "f", "time_ns")


#: The record types: an invoke, then one completion (:class:`harness.ops.OpType`). A batch record's
#: ``type`` and its ``type`` column use the same four.
TYPES = frozenset(t.value for t in OpType)
_COMPLETIONS = frozenset(t.value for t in COMPLETIONS)
_COMPLETION_STR = {str(t.value): str(t.value) for t in COMPLETIONS}


def torn_tail_note(lineno: int, size: int) -> str:
    return f"history ends in a torn line (line {lineno}, {size} bytes): the last op's record was cut"


class HistoryFile:
    """The records of ``history.jsonl`` in file order (a batch record comes out as the per-op records
    it stands for, :func:`explode`), iterable once.

    A line that is complete but not a JSON object raises :class:`HistoryError` naming the line. A
    last line without its newline that does not parse (a crash mid-write) is left out and reported
    in ``damage`` (:func:`torn_tail_note`); one that parses is a whole record and is kept.
    ``where()`` names the line being read, for errors found after it was parsed (pairing)."""

    def __init__(self, path: Path, damage: list[str] | None = None) -> None:
        self.path = path
        self.lineno = 0
        self.damage: list[str] = [] if damage is None else damage

    def where(self) -> str:
        return f"{self.path}: line {self.lineno}"

    def __iter__(self) -> Iterator[dict[str, Any]]:
        path = self.path
        try:
            fh = open(path, "rb")  # noqa: SIM115 - closed below; a generator cannot use 'with' for the error
        except OSError as exc:
            raise HistoryError(f"{path}: cannot read the history: {exc.strerror or exc}") from exc
        loads, decode_error = orjson.loads, orjson.JSONDecodeError
        with fh:
            lineno = 0
            for line in fh:
                lineno += 1
                self.lineno = lineno
                # a record starts with '{': only other lines need the (allocating) blank-line test
                if line[0] != 123 and not line.strip():
                    continue
                try:
                    rec = loads(line)
                except decode_error as exc:
                    if not line.endswith(b"\n"):  # only the last line can lack it: torn mid-write
                        self.damage.append(torn_tail_note(lineno, len(line)))
                        break
                    raise HistoryError(
                        f"{path}: line {lineno} is not JSON ({exc}); the file is damaged"
                    ) from exc
                if type(rec) is not dict:  # orjson makes exact dicts
                    raise HistoryError(f"{path}: line {lineno} is not a JSON object")
                # five lookups: 0.3 us less per record than comparing rec.keys() with a set
                if not (
                    "id" in rec and "type" in rec and "process" in rec and "f" in rec and "time_ns" in rec
                ):
                    # the message (path, line) is built only when needed
                    _validate(rec, f"{path}: line {lineno}")
                if "batch" in rec:
                    yield from explode(rec, f"{path}: line {lineno}")
                else:
                    yield rec


def iter_records(path: Path, damage: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """The records of ``path`` in file order (:class:`HistoryFile`); a torn last line is left out
    and, when ``damage`` is given, reported there."""
    return iter(HistoryFile(path, damage))


def explode(rec: dict[str, Any], where: str = "batch record") -> Iterator[dict[str, Any]]:
    """The per-op records a batch record stands for (its format:
    :mod:`harness.history.recorder`), in order. A malformed one raises :class:`HistoryError`."""
    n, first = rec["batch"], rec["id"]
    common, cols = rec.get("common", {}), rec.get("columns", {})
    if not (type(n) is int and n >= 0 and type(first) is int):
        raise HistoryError(f"{where}: a batch record needs integer 'id' and 'batch' >= 0")
    if not (isinstance(common, dict) and isinstance(cols, dict)):
        raise HistoryError(f"{where}: a batch record's 'common' and 'columns' must be objects")
    head: dict[str, Any] = {
        "type": rec["type"],
        "process": rec["process"],
        "f": rec["f"],
        "time_ns": rec["time_ns"],
    }
    nested: dict[str, tuple[dict[str, Any], list[tuple[str, list[Any]]]]] = {}
    for name, value in common.items():
        top, dot, sub = name.partition(".")
        if dot:
            nested.setdefault(top, ({}, []))[0][sub] = value
        else:
            head[name] = value
    flat: list[tuple[str, list[Any]]] = []
    for name, col in cols.items():
        if not (isinstance(col, list) and len(col) == n):
            raise HistoryError(f"{where}: column '{name}' is not a list of {n} values (one per op)")
        top, dot, sub = name.partition(".")
        if dot:
            nested.setdefault(top, ({}, []))[1].append((sub, col))
        else:
            flat.append((name, col))
    for i in range(n):
        out = dict(head)
        out["id"] = first + i
        for name, col in flat:
            v = col[i]
            if v is not None:
                out[name] = v
        for top, (fixed, subs) in nested.items():
            d = dict(fixed)
            for sub, col in subs:
                v = col[i]
                if v is not None:
                    d[sub] = v
            out[top] = d
        yield out


def _validate(rec: dict[str, Any], where: str) -> None:
    for name in _REQUIRED:
        if name not in rec:
            raise HistoryError(f"{where}: op record has no '{name}' field (every record needs {_REQUIRED})")


def _op(rec: dict[str, Any]) -> Op:
    return Op(
        id=rec["id"],
        process=rec["process"],
        f=rec["f"],
        invoke_ns=rec["time_ns"],
        outcome=None,
        complete_ns=None,
        invoke=rec,
    )


def stream_pairs(
    records: Iterable[dict[str, Any]], *, expand: bool = True, where: Callable[[], str] | None = None
) -> Iterator[Op]:
    """Pairs by ``id`` holding only in-flight invokes; yields each op when its completion arrives.

    The history must be well formed, else :class:`HistoryError` names the record (``where()``, e.g.
    the file and line; by default its position): every ``type`` is invoke, ok, fail or info; an id
    is invoked once; a completion completes an op invoked before it and not yet completed. Invokes
    never completed are yielded last, in invoke order, with ``outcome=None``: treat them like
    ``info`` (unknown), never as ok.

    With ``expand`` (the default), a compact ``ingest`` op is yielded as the vocabulary ops it
    stands for (:func:`harness.history.ingest.expand_ingest`), so checkers never see it."""
    if not expand:
        return _pairs(records, where)
    return expand_compact(_pairs(records, where))


def _pairs(records: Iterable[dict[str, Any]], where: Callable[[], str] | None = None) -> Iterator[Op]:
    pending: dict[int, Op] = {}
    invoked = IdSet()  # every id invoked so far: a reused one is refused
    add_new = invoked.add_new
    completions = _COMPLETIONS
    intern = sys.intern
    for n, rec in enumerate(records, 1):
        try:
            op_id, kind = rec["id"], rec["type"]
            if kind == "invoke":
                if not add_new(op_id):
                    raise _bad(where, n, f"op id {op_id} is invoked a second time (ids must be unique)")
                # _op inlined (a call per op): the fields are read in its order, for the error. The
                # op's process and f are the one interned copy: checkers keep them (and compare f
                # with their names, which an identical string passes at once)
                process, f = rec["process"], rec["f"]
                pending[op_id] = Op(
                    op_id,
                    intern(process) if type(process) is str else process,
                    intern(f) if type(f) is str else f,
                    rec["time_ns"],
                    None,
                    None,
                    rec,
                )
                continue
            op = pending.pop(op_id, None)
            if op is None or kind not in completions:
                raise _bad(where, n, _unpaired(rec, op_id, kind, op_id in invoked))
            # one shared "ok" / "fail" / "info", not the record's copy: checkers keep outcomes per op
            op.outcome = _COMPLETION_STR[kind] if type(kind) is str else kind
            op.complete_ns = rec["time_ns"]
        except KeyError as exc:
            raise _bad(where, n, f"no '{exc.args[0]}' field") from exc
        op.completion = rec
        yield op
    yield from pending.values()  # dicts keep insertion order: invoke order


def _bad(where: Callable[[], str] | None, n: int, problem: str) -> HistoryError:
    return HistoryError(f"{where() if where else f'history record {n}'}: {problem}")


def _unpaired(rec: dict[str, Any], op_id: Any, kind: Any, invoked: bool) -> str:
    if kind not in TYPES:
        return f"unknown record type {kind!r} (expected invoke, ok, fail or info)"
    if invoked:
        return f"a second completion ({kind!r}) of op id {op_id}"
    return f"a completion ({kind!r}) of op id {op_id}, which was never invoked"


def stream_ops(path: Path, *, expand: bool = True, damage: list[str] | None = None) -> Iterator[Op]:
    """:func:`stream_pairs` over ``path``, errors naming the line; a torn last line is left out and,
    when ``damage`` is given, reported there (:class:`HistoryFile`)."""
    records = HistoryFile(path, damage)
    return stream_pairs(records, expand=expand, where=records.where)


def pair_ops(records: Iterable[dict[str, Any]], where: Callable[[], str] | None = None) -> list[Op]:
    """Every op, sorted by invoke time; a malformed history is refused as by :func:`stream_pairs`.
    Invokes without a completion keep ``outcome=None`` (the run ended before their outcome was
    known)."""
    return sorted(_pairs(records, where), key=lambda o: o.invoke_ns)


def load_history(path: Path, damage: list[str] | None = None) -> list[Op]:
    records = HistoryFile(path, damage)
    return pair_ops(records, records.where)
