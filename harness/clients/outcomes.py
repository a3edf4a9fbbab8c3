"""Client errors → op outcomes. ``fail`` only when the server certainly did not apply the command.

redis-py turns many error replies into their own exception classes and strips the reply's prefix
(``MOVED 3156 host:port`` arrives as ``MovedError("3156 host:port")``, ``CLUSTERDOWN ...`` as
``ClusterDownError``, which is not even a ``ResponseError``, and ``LOADING`` as ``BusyLoadingError``,
a ``ConnectionError``). So refusals are recognised by class first, then by the prefix of replies
redis-py leaves as plain ``ResponseError`` (``NOREPLICAS``, ``WRONGTYPE``, ``BUSY``, ...).
"""

from __future__ import annotations

import redis
from redis import exceptions as rexc

from harness.ops import OpType

#: Error *replies* (the connection is fine) that redis-py raises outside ResponseError.
REPLY_ERRORS: tuple[type[BaseException], ...] = (
    redis.ResponseError,
    rexc.ClusterDownError,  # CLUSTERDOWN and MASTERDOWN
    rexc.BusyLoadingError,  # LOADING
    rexc.AuthenticationError,  # NOAUTH, WRONGPASS
)

#: Refusals: the server rejected the command before running it.
_REFUSED_CLASSES: tuple[type[BaseException], ...] = (
    rexc.MovedError,
    rexc.AskError,
    rexc.TryAgainError,
    rexc.ReadOnlyError,
    rexc.NoScriptError,
    rexc.ClusterCrossSlotError,
    rexc.ClusterDownError,
    rexc.BusyLoadingError,
    rexc.OutOfMemoryError,
    rexc.NoPermissionError,
    rexc.AuthenticationError,
    rexc.ExecAbortError,
)

#: Refusals redis-py leaves as plain ResponseError, recognised by the reply's prefix.
_REFUSED_PREFIXES = (
    "NOREPLICAS",
    "MASTERDOWN",
    "CLUSTERDOWN",
    "MOVED",
    "ASK",
    "TRYAGAIN",
    "READONLY",
    "NOSCRIPT",
    "OOM",
    "LOADING",
    "WRONGTYPE",
    "ERR wrong number",
    "BUSY",
    "NOAUTH",
    "CROSSSLOT",
)

#: Replies after which the client's slot map is stale.
REDIRECTS: tuple[type[BaseException], ...] = (
    rexc.MovedError,
    rexc.AskError,
    rexc.ClusterDownError,
    rexc.TryAgainError,
)


def outcome_of(exc: BaseException) -> OpType:
    """A timeout or a dropped connection leaves the outcome unknown (``info``): the command may
    have run. A refusal is a ``fail``. Anything unexpected is ``info``, never a guess."""
    if isinstance(exc, _REFUSED_CLASSES):
        return OpType.FAIL
    if isinstance(exc, redis.ResponseError):
        if str(exc).startswith(_REFUSED_PREFIXES):
            return OpType.FAIL
        # Other error replies (e.g. a Lua runtime error) may come after a script's writes: unknown.
        return OpType.INFO
    return OpType.INFO


def describe(exc: BaseException) -> str:
    """The error as recorded: its class says what the stripped message no longer does."""
    return f"{type(exc).__name__}: {exc}"
