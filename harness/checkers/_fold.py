"""Feeds a stream of ops to one streaming checker (a stand-in for ``compose.fold`` until merge)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from harness.checkers.verdict import Verdict
from harness.history.loader import Op


class StreamingChecker(Protocol):
    name: str
    fs: frozenset[str] | None

    def observe(self, op: Op) -> None: ...

    def finish(self) -> Verdict: ...


def fold(checker: StreamingChecker, ops: Iterable[Op]) -> Verdict:
    """Observes every op whose ``f`` the checker consumes, in the order given, then finishes."""
    fs = checker.fs
    observe = checker.observe
    for op in ops:
        if fs is None or op.f in fs:
            observe(op)
    return checker.finish()
