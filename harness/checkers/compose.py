"""The checker protocol, and running checkers over one streamed pass of a history.

A checker is a fold: ``observe`` each op it consumes (its ``fs``, the op ``f`` values it reads, or
every op when ``fs`` is None), then ``finish`` into a :class:`Verdict`. Ops arrive in *completion*
order (see :func:`harness.history.loader.stream_ops`), never assume invoke order: a checker that needs
order sorts what it retained in ``finish``.

A checker that raises (in ``observe`` or ``finish``) or returns something that is not a Verdict
yields ``unknown`` with the traceback in ``details["traceback"]``, never a pass; the other
checkers carry on. An exception raised while *reading* the history (a damaged file) is not a
checker's fault and propagates.
"""

from __future__ import annotations

import contextlib
import gc
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

from harness.checkers.verdict import Verdict
from harness.history.loader import Op


class Checker(Protocol):
    name: str
    fs: frozenset[str] | None  # op `f` values it consumes; None = every op

    def observe(self, op: Op) -> None: ...

    def finish(self) -> Verdict: ...


def crashed(name: str, exc: BaseException, phase: str, **where: Any) -> Verdict:
    """The ``unknown`` verdict of a checker that raised ``exc`` (call inside the ``except``)."""
    return Verdict(
        name=name,
        status="unknown",
        violations=0,
        summary=f"checker raised {type(exc).__name__} in {phase}: {exc}",
        details={
            "error": f"{type(exc).__name__}: {exc}",
            "phase": phase,
            **where,
            "traceback": traceback.format_exc(limit=20),
        },
    )


def _checked(name: str, verdict: object) -> Verdict:
    if isinstance(verdict, Verdict):
        return verdict
    return Verdict(
        name=name,
        status="unknown",
        violations=0,
        summary=f"checker returned {type(verdict).__name__}, not a Verdict",
        details={"error": f"bad return type {type(verdict).__name__}"},
    )


def _wants(fs: frozenset[str] | None, f: str) -> bool:
    return fs is None or f in fs


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """A pass retains millions of small acyclic objects; each full cyclic collection rescans all of
    them (measured: a third of the time of a 1M-op pass). Nothing here makes cycles, so the
    collector is paused for the pass and restored after (reference counting still frees memory)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def run_checkers(checkers: Sequence[Checker], ops: Iterable[Op]) -> list[Verdict]:
    """One verdict per checker, in order, from ONE pass over ``ops``.

    Each op goes only to the checkers whose ``fs`` contains ``op.f`` (or whose ``fs`` is None). A
    checker that raises is dropped from dispatch and yields ``unknown``; the others continue."""
    with _no_cyclic_gc():
        return _run(checkers, ops)


def _run(checkers: Sequence[Checker], ops: Iterable[Op]) -> list[Verdict]:
    verdicts: list[Verdict | None] = [None] * len(checkers)
    live = list(range(len(checkers)))
    # op f -> (index, bound observe) of the live checkers that consume it; rebuilt when a checker
    # drops out. Ops are counted per f, not per checker and op: a live checker has observed every
    # op whose f it wants (see _observed).
    route: dict[str, list[tuple[int, Callable[[Op], None]]]] = {}
    per_f: dict[str, int] = {}
    for op in ops:
        f = op.f
        targets = route.get(f)
        if targets is None:
            targets = route[f] = [(i, checkers[i].observe) for i in live if _wants(checkers[i].fs, f)]
        per_f[f] = per_f.get(f, 0) + 1
        for i, observe in targets:
            try:
                observe(op)
            except Exception as exc:  # a checker bug must not lose the other verdicts or the run
                seen = _observed(checkers[i].fs, per_f) - 1  # not this op: it raised
                verdicts[i] = crashed(checkers[i].name, exc, "observe", op=op.id, op_f=f, ops_observed=seen)
                live.remove(i)
                route.clear()
    for i in live:
        try:
            verdicts[i] = _checked(checkers[i].name, checkers[i].finish())
        except Exception as exc:
            seen = _observed(checkers[i].fs, per_f)
            verdicts[i] = crashed(checkers[i].name, exc, "finish", ops_observed=seen)
    return [v for v in verdicts if v is not None]


def _observed(fs: frozenset[str] | None, per_f: dict[str, int]) -> int:
    """Ops a checker still live has observed: every op so far whose f it wants."""
    return sum(n for f, n in per_f.items() if _wants(fs, f))


def fold(checker: Checker, ops: Iterable[Op]) -> Verdict:
    """The pure-function form of one checker: ``check_x(ops) = fold(X(**params), ops)``."""
    return run_checkers([checker], ops)[0]
