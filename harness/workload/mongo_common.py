"""Shared by the MongoDB data paths (aggregates, queries, profiles, sessions): pymongo errors → op
outcomes, and read preferences by mode name.

Writes: ``fail`` only when the server certainly did not apply the write. pymongo retries a
retryable write once and, when the retry cannot even select a server, re-raises the *first*
error, so a ``ServerSelectionTimeoutError`` means nothing was ever sent (``fail``). A write
concern error means the primary applied the write but could not confirm replication (it may
still roll back): ``info``. Timeouts, dropped connections and ``NotPrimaryError`` after a retry
(the first attempt may have applied) are ``info``; so is ``maxTimeMS`` expiry. Other server
error replies (duplicate key, validation, ...) are refusals: ``fail``.

Reads have no side effect, so a read that did not return is simply ``fail`` with its error.
"""

from __future__ import annotations

from pymongo.errors import (
    ConnectionFailure,
    ExecutionTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
    WriteConcernError,
)
from pymongo.read_preferences import _ServerMode, make_read_preference, read_pref_mode_from_name

from harness.ops import OpType


def read_preference(name: str) -> _ServerMode:
    """``primary``, ``secondaryPreferred``, ... as pymongo's read preference (ValueError if unknown)."""
    return make_read_preference(read_pref_mode_from_name(name), None)


def write_outcome(exc: BaseException) -> OpType:
    if isinstance(exc, ServerSelectionTimeoutError):
        return OpType.FAIL
    if isinstance(exc, ConnectionFailure | WriteConcernError | ExecutionTimeout):
        return OpType.INFO
    if isinstance(exc, OperationFailure):
        return OpType.FAIL
    return OpType.INFO  # anything unexpected: never a guess


def describe(exc: BaseException) -> str:
    """The error as recorded, with the server's code when there is one."""
    code = getattr(exc, "code", None)
    return f"{type(exc).__name__}{f' ({code})' if code is not None else ''}: {exc}"
