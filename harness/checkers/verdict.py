"""The result of one checker: valid, invalid (with concrete examples) or unknown (cannot judge)."""

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
        if len(self.examples) > MAX_EXAMPLES:
            self.examples = self.examples[:MAX_EXAMPLES]

    @property
    def ok(self) -> bool:
        return self.status == "valid"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_ms(time_ns: int | None) -> float | None:
    """Nanoseconds since the run started, as milliseconds (3 decimals) for examples."""
    return None if time_ns is None else round(time_ns / 1e6, 3)
