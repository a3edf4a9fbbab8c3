"""Loads a saved history and pairs each invoke with its completion."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson


@dataclass
class Op:
    """An invoke paired with its completion (``outcome`` is None when the run ended first)."""

    id: int
    process: str
    f: str
    invoke_ns: int
    outcome: str | None
    complete_ns: int | None
    invoke: dict[str, Any]
    completion: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def value(self) -> Any:
        """The completion's value when it has one, else the invoke's."""
        if self.completion is not None and "value" in self.completion:
            return self.completion["value"]
        return self.invoke.get("value")

    def get(self, name: str, default: Any = None) -> Any:
        """A field from the invoke (where keys, tenants and variants live)."""
        return self.invoke.get(name, default)


def iter_records(path: Path) -> Iterator[dict[str, Any]]:
    """Yields records in file order; a torn final line (crash mid-write) is skipped."""
    with open(path, "rb") as fh:
        for line in fh:
            if not line.endswith(b"\n"):
                break
            yield orjson.loads(line)


def pair_ops(records: Iterator[dict[str, Any]] | list[dict[str, Any]]) -> list[Op]:
    """Pairs by ``id``. Completions without an invoke are ignored; invokes without a completion keep
    ``outcome=None`` (treat them like ``info``: the run ended before their outcome was known)."""
    ops: dict[int, Op] = {}
    for rec in records:
        op_id = rec["id"]
        if rec["type"] == "invoke":
            ops[op_id] = Op(
                id=op_id,
                process=rec["process"],
                f=rec["f"],
                invoke_ns=rec["time_ns"],
                outcome=None,
                complete_ns=None,
                invoke=rec,
            )
        else:
            op = ops.get(op_id)
            if op is not None and op.outcome is None:
                op.outcome = rec["type"]
                op.complete_ns = rec["time_ns"]
                op.completion = rec
    return sorted(ops.values(), key=lambda o: o.invoke_ns)


def load_history(path: Path) -> list[Op]:
    return pair_ops(iter_records(path))
