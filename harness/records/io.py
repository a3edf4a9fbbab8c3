"""Reading and writing record files: strictly for the runner and ``harness check``, leniently (what
does not fit is dropped and named) for the report."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.errors import HarnessError
from harness.records.base import R, Record


class _Gone:
    """Marks a part of a file that did not fit its model, to be taken out."""


_GONE = _Gone()


def salvage(model: type[R], data: object) -> tuple[R, list[str]]:
    """``data`` as ``model``, keeping all that fits: each part that does not (a string where a
    number belongs, a list where a map does) is dropped, so its default shows, and its place is
    named in the list returned. For the report, which must render a damaged run too."""
    if not isinstance(data, dict):
        return model(), ["(the whole file: not a JSON object)"]
    data = copy.deepcopy(data)
    dropped: list[str] = []
    while True:  # each round drops at least one part, so this ends
        try:
            return model.model_validate(data), dropped
        except ValidationError as exc:
            places = {_mark_point(data, e["loc"]) for e in exc.errors()}
            if () in places:
                return model(), [*dropped, "(the whole file)"]
            for place in places:
                _mark(data, place)
                dropped.append(".".join(str(p) for p in place))
            data = _purge(data)


def _mark_point(data: object, loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """The longest prefix of an error's ``loc`` that is a real place in ``data`` (the rest can be a
    union member's name or a key that is missing)."""
    node, real = data, 0
    for part in loc:
        inside_map = isinstance(node, dict) and part in node
        inside_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (inside_map or inside_list):
            break
        node = node[part]  # type: ignore[index]
        real += 1
    return tuple(loc[:real])


def _mark(data: Any, place: tuple[int | str, ...]) -> None:
    node = data
    for part in place[:-1]:
        node = node[part]
    node[place[-1]] = _GONE


def _purge(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _purge(v) for k, v in node.items() if v is not _GONE}
    if isinstance(node, list):
        return [_purge(v) for v in node if v is not _GONE]
    return node


def load_record(path: Path, model: type[R], what: str) -> R:
    """``path`` as ``model``, strictly: a missing, unreadable or ill-fitting file raises a
    :class:`HarnessError` naming the file (and the field), then ``what`` to do about it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise HarnessError(f"{path}: not found; {what}") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HarnessError(f"{path}: unreadable ({exc}); {what}") from exc
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: not a JSON object; {what}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in _mark_point(data, first["loc"])) or "-"  # no union member names
        raise HarnessError(f"{path}: field '{where}': {first['msg']}; {what}") from exc


def write_record(path: Path, record: Record) -> None:
    """Writes ``record`` as the runner always wrote its files (indent 1; odd values as strings)."""
    path.write_text(json.dumps(record.dump(), indent=1, default=str))
