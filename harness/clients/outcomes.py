"""Client errors → op outcomes. ``fail`` only when the server certainly did not apply the command."""

from __future__ import annotations

import redis

from harness.ops import OpType

# Error replies that mean the command was rejected before it ran.
_NOT_APPLIED = (
    "NOSCRIPT",
    "CLUSTERDOWN",
    "MOVED",
    "ASK",
    "TRYAGAIN",
    "READONLY",
    "NOREPLICAS",
    "OOM",
    "LOADING",
    "MASTERDOWN",
    "WRONGTYPE",
    "ERR wrong number",
    "BUSY",
    "NOAUTH",
    "CROSSSLOT",
)


def outcome_of(exc: BaseException) -> OpType:
    """A timeout or a dropped connection leaves the outcome unknown (``info``): the command may
    have run. A refusal reply is a ``fail``. Anything unexpected is ``info``, never a guess."""
    if isinstance(exc, redis.ResponseError):
        text = str(exc)
        if text.startswith(_NOT_APPLIED) or any(text.startswith(p) for p in _NOT_APPLIED):
            return OpType.FAIL
        # Other error replies (e.g. a Lua runtime error) are raised before writes take effect
        # only for scripts that check first; be conservative.
        return OpType.INFO
    return OpType.INFO
