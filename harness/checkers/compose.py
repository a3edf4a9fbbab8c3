"""Runs several checkers over one history; a checker that crashes yields an ``unknown`` verdict."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence

from harness.checkers.verdict import Verdict
from harness.history.loader import Op

Check = Callable[[list[Op]], Verdict]


def run_check(name: str, check: Check, ops: list[Op]) -> Verdict:
    """One checker; an exception (or a result that is not a :class:`Verdict`) becomes ``unknown``."""
    try:
        verdict = check(ops)
    except Exception as exc:  # a checker bug must not lose the other verdicts or the run
        return Verdict(
            name=name,
            status="unknown",
            violations=0,
            summary=f"checker raised {type(exc).__name__}: {exc}",
            details={
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=20),
            },
        )
    if not isinstance(verdict, Verdict):
        return Verdict(
            name=name,
            status="unknown",
            violations=0,
            summary=f"checker returned {type(verdict).__name__}, not a Verdict",
            details={"error": f"bad return type {type(verdict).__name__}"},
        )
    return verdict


def run_checkers(checks: Sequence[tuple[str, Check]], ops: list[Op]) -> list[Verdict]:
    """One verdict per ``(name, check)``, in order; checkers are pure, so they share ``ops``."""
    return [run_check(name, check, ops) for name, check in checks]
