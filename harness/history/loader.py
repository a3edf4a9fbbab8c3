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

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from harness.errors import HistoryError
from harness.history.ingest import expand_compact
from harness.ops import Op as Op  # re-exported: the loader yields them, its users take Op from here

#: Fields every record must have.
_REQUIRED = ("id", "type", "process", "f", "time_ns")
_REQUIRED_SET = frozenset(_REQUIRED)


def iter_records(path: Path) -> Iterator[dict[str, Any]]:
    """Yields records in file order; a torn final line (crash mid-write) is skipped, and a batch
    record comes out as the per-op records it stands for (:func:`explode`).

    A line that is complete but not a JSON object raises :class:`HistoryError` naming the line."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below; a generator cannot use 'with' for the error
    except OSError as exc:
        raise HistoryError(f"{path}: cannot read the history: {exc.strerror or exc}") from exc
    with fh:
        for lineno, line in enumerate(fh, 1):
            if not line.endswith(b"\n"):
                break
            if not line.strip():
                continue
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise HistoryError(f"{path}: line {lineno} is not JSON ({exc}); the file is damaged") from exc
            if not isinstance(rec, dict):
                raise HistoryError(f"{path}: line {lineno} is not a JSON object")
            if not rec.keys() >= _REQUIRED_SET:  # the message (path, line) is built only when needed
                _validate(rec, f"{path}: line {lineno}")
            if "batch" in rec:
                yield from explode(rec, f"{path}: line {lineno}")
            else:
                yield rec


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


def stream_pairs(records: Iterable[dict[str, Any]], *, expand: bool = True) -> Iterator[Op]:
    """Pairs by ``id`` holding only in-flight invokes; yields each op when its completion arrives.

    Completions without an invoke, and second completions, are ignored. An invoke that reuses the id
    of one still in flight replaces it (as :func:`pair_ops` does). Invokes never completed are yielded
    last, in invoke order, with ``outcome=None``: treat them like ``info``.

    With ``expand`` (the default), a compact ``ingest`` op is yielded as the vocabulary ops it
    stands for (:func:`harness.history.ingest.expand_ingest`), so checkers never see it."""
    if not expand:
        return _pairs(records)
    return expand_compact(_pairs(records))


def _pairs(records: Iterable[dict[str, Any]]) -> Iterator[Op]:
    pending: dict[int, Op] = {}
    for n, rec in enumerate(records, 1):
        try:
            op_id, kind = rec["id"], rec["type"]
            if kind == "invoke":
                pending[op_id] = _op(rec)
                continue
            op = pending.pop(op_id, None)
            if op is None:
                continue
            op.outcome = kind
            op.complete_ns = rec["time_ns"]
        except KeyError as exc:
            raise HistoryError(f"history record {n}: no '{exc.args[0]}' field") from exc
        op.completion = rec
        yield op
    yield from pending.values()  # dicts keep insertion order: invoke order


def stream_ops(path: Path, *, expand: bool = True) -> Iterator[Op]:
    """:func:`stream_pairs` over ``path`` (torn final line tolerated, bad lines named)."""
    return stream_pairs(iter_records(path), expand=expand)


def pair_ops(records: Iterable[dict[str, Any]]) -> list[Op]:
    """Every op, sorted by invoke time. Completions without an invoke are ignored; invokes without a
    completion keep ``outcome=None`` (the run ended before their outcome was known)."""
    ops: dict[int, Op] = {}
    for rec in records:
        op_id = rec["id"]
        if rec["type"] == "invoke":
            ops[op_id] = _op(rec)
        else:
            op = ops.get(op_id)
            if op is not None and op.outcome is None:
                op.outcome = rec["type"]
                op.complete_ns = rec["time_ns"]
                op.completion = rec
    return sorted(ops.values(), key=lambda o: o.invoke_ns)


def load_history(path: Path) -> list[Op]:
    return pair_ops(iter_records(path))
