"""Pure checkers over a paired history (``list[Op]``), each returning a :class:`Verdict`."""

from __future__ import annotations

from harness.checkers.compose import Check, run_check, run_checkers
from harness.checkers.counters import check_acknowledged_increments
from harness.checkers.rate_limit import check_rate_limit
from harness.checkers.verdict import MAX_EXAMPLES, Status, Verdict

#: The checkers a run applies by default, by verdict name.
DEFAULT_CHECKS: list[tuple[str, Check]] = [
    ("acknowledged-increments-survive", check_acknowledged_increments),
    ("rate-limit-holds", check_rate_limit),
]

__all__ = [
    "DEFAULT_CHECKS",
    "MAX_EXAMPLES",
    "Check",
    "Status",
    "Verdict",
    "check_acknowledged_increments",
    "check_rate_limit",
    "run_check",
    "run_checkers",
]
