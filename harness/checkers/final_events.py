"""The ``final_events`` read: what MongoDB holds for a tenant after healing, as checkers see it.

Vocabulary (recorded by the runner after healing, process ``final``, one op per tenant and variant):

* invoke: ``{"f": "final_events", "tenant": <tenant_id>, "variant": ...}``;
* ok completion: ``{"value": {"event_ids": [...], "windows": [...]?}}``: one entry per stored
  document (so a duplicated event appears twice), read by paging the whole cursor inside the op;
  the optional ``windows`` list, parallel to ``event_ids``, gives each document's counter window.

A read that did not complete ``ok`` or whose value is malformed leaves the tenant unread (unknown).
When a tenant was read several times the latest read (by invoke time) counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.checkers.fields import later
from harness.history.loader import Op
from harness.ops import OpType

# the members once: each OpType.X is an enum-class lookup (~200 ns), several per op and checker
_OK = OpType.OK

F = "final_events"


@dataclass(slots=True)
class StoredRead:
    op_id: int
    invoke_ns: int
    complete_ns: int | None
    event_ids: list[str]
    windows: list[Any] | None


def _parse(op: Op) -> tuple[list[str], list[Any] | None] | None:
    value = op.completion.get("value") if op.completion is not None else None
    if not isinstance(value, dict):
        return None
    ids = value.get("event_ids")
    if not isinstance(ids, list):
        return None
    windows = value.get("windows")
    if windows is not None and (not isinstance(windows, list) or len(windows) != len(ids)):
        return None
    return [str(i) for i in ids], windows


class FinalEvents:
    """Accumulates ``final_events`` ops; ``reads[tenant]`` is the latest usable read."""

    def __init__(self) -> None:
        self.reads: dict[str, StoredRead] = {}
        self.unusable: dict[str, int] = {}
        self.malformed = 0
        self.ops = 0

    def observe(self, op: Op) -> None:
        self.ops += 1
        tenant = op.get("tenant")
        if not isinstance(tenant, str):
            self.malformed += 1
            return
        parsed = _parse(op) if op.outcome == _OK else None
        if parsed is None:
            self.unusable[tenant] = self.unusable.get(tenant, 0) + 1
            return
        prev = self.reads.get(tenant)
        if later(op, None if prev is None else (prev.invoke_ns, prev.op_id)):
            self.reads[tenant] = StoredRead(op.id, op.invoke_ns, op.complete_ns, *parsed)
