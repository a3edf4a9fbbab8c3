"""The result of one checker: valid, invalid (with concrete examples) or unknown (cannot judge).

One rule for every checker (:func:`decide`, enforced again by :class:`Verdict` itself): a verdict
on nothing, or on evidence some of which could not be read, is never ``valid``. A checker reports
``details["malformed_ops"]`` (ops it could not parse or group: a missing ``key`` / ``tenant``, a
value of the wrong type, a stored record it cannot read) and ``details["unjudged_ops"]`` (ops it
read but could not judge); either one above zero turns ``valid`` into ``unknown``, with the counts
in the summary. ``invalid`` stays: a concrete violation is evidence whatever else was damaged.
Every example carries a ``kind`` (a stable anomaly name a scenario can expect), one of its checker
module's ``KINDS``; ``details["violations_by_kind"]`` counts every violation (not only the kept
examples) per kind, so a scenario can tell which anomaly occurred (``expect_invalid: [checker:kind]``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["valid", "invalid", "unknown"]

#: Examples kept in a verdict; the rest are only counted.
MAX_EXAMPLES = 20


@dataclass
class Verdict:
    """``violations`` counts what was found; ``examples`` holds at most :data:`MAX_EXAMPLES` of them
    (keys, op ids, times in ms since the run started); ``details`` holds totals for the report."""

    name: str
    status: Status
    violations: int
    summary: str
    examples: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.violations:  # nothing found: no kind occurred (checkers with findings count them)
            self.details.setdefault("violations_by_kind", {})
        if len(self.examples) > MAX_EXAMPLES:
            self.examples = self.examples[:MAX_EXAMPLES]
        if self.status == "valid":
            damaged = damage(self.details)
            if damaged:
                self.status = "unknown"
                self.summary = f"{self.summary}; not valid: {damaged}"

    @property
    def ok(self) -> bool:
        return self.status == "valid"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _count(details: dict[str, Any], name: str) -> int:
    n = details.get(name, 0)
    return n if isinstance(n, int) and not isinstance(n, bool) else 0


def damage(details: dict[str, Any]) -> str:
    """Why ``details`` forbid a ``valid`` verdict ("" when they do not): malformed or unjudged ops."""
    parts = []
    malformed, unjudged = _count(details, "malformed_ops"), _count(details, "unjudged_ops")
    if malformed:
        parts.append(f"{malformed:,} malformed ops")
    if unjudged:
        parts.append(f"{unjudged:,} ops that could not be judged")
    return ", ".join(parts)


def decide(violations: int, *, judged: int, malformed: int = 0, unjudged: int = 0) -> Status:
    """The shared rule: ``invalid`` on any violation; else ``unknown`` when nothing was judged or
    any op was malformed or left unjudged; else ``valid``."""
    if violations:
        return "invalid"
    if judged <= 0 or malformed or unjudged:
        return "unknown"
    return "valid"


def run_ms(time_ns: int | None) -> float | None:
    """Nanoseconds since the run started, as milliseconds (3 decimals) for examples."""
    return None if time_ns is None else round(time_ns / 1e6, 3)
