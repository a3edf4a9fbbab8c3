"""Reading op fields the way every checker here does: lenient numbers, level labels, event keys."""

from __future__ import annotations

import sys
from typing import Any

from harness.history.loader import Op


def as_int(value: Any) -> int | None:
    """An int result (bytes/str digits accepted); None when it is not one. Bools are not ints here."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, bytes | str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def completion_value(op: Op) -> Any:
    return op.completion.get("value") if op.completion is not None else None


def wait_level(op: Op) -> str:
    """The Redis durability level of a write: ``wait:<n>`` when the client ran ``WAIT n``, else ``none``."""
    n = as_int(op.invoke.get("wait"))
    return "none" if n is None else sys.intern(f"wait:{n}")  # one copy: checkers keep it per key


def write_concern(op: Op) -> str:
    """The MongoDB write concern of an insert as ``w:<value>`` (``w:default`` when not given)."""
    wc = op.invoke.get("wc")
    if isinstance(wc, dict):  # {"w": "majority", "j": true} as the driver spells it
        wc = wc.get("w", "default")
    return sys.intern(f"w:{'default' if wc is None else wc}")  # one copy: kept per event


def event_key(op: Op) -> tuple[str, str] | None:
    """``(tenant, event_id)``: the platform's idempotency key; None when the op lacks one."""
    inv = op.invoke
    tenant, event_id = inv.get("tenant"), inv.get("event_id")
    if not isinstance(tenant, str) or not isinstance(event_id, str | int) or isinstance(event_id, bool):
        return None
    # the keys of three checkers' per-event state: one copy of each tenant name, not one per event
    return (sys.intern(tenant) if type(tenant) is str else tenant), str(event_id)


def later(op: Op, than: tuple[int, int] | None) -> bool:
    """Whether ``op`` was invoked after the op whose ``(invoke_ns, id)`` is ``than``."""
    return than is None or (op.invoke_ns, op.id) > than
