"""pymongo errors → op outcomes. ``fail`` only when the server certainly did not apply the write.

What it assumes (pymongo 4.x): an unordered ``insert_many`` raises :class:`BulkWriteError` whose
``details`` is the merged reply: ``writeErrors`` (each ``index`` in the batch, ``code``, ``errmsg``,
and for duplicates ``keyPattern``/``keyValue``), ``writeConcernErrors``, ``nInserted``. A document
with no write error was applied on the primary; a ``writeConcernError`` means it was not confirmed
at the requested write concern (unknown, not lost). A network error, a timeout or a not-primary
error raised for the command leaves every document of the batch unknown: pymongo cannot say which
were applied. Errors raised before anything was sent (no server selected, a document that cannot
be encoded, a closed client) are ``fail``.

Single-document writes (upserts, ``find_one_and_update``; :func:`write_outcome`): pymongo retries a
retryable write once and, when the retry cannot even select a server, re-raises the *first*
error, so a ``ServerSelectionTimeoutError`` means nothing was ever sent (``fail``). A write concern
error means the primary applied the write but could not confirm replication (``info``). Timeouts,
dropped connections, ``NotPrimaryError`` after a retry (the first attempt may have applied) and
``maxTimeMS`` expiry are ``info``. Reads have no side effect: a read that did not return is ``fail``.

A server's error for a write it received — one document's ``writeError`` in a bulk reply, or the
error a single-document write raised — is classified in one place, :func:`server_error_outcome`:
with the ``RetryableWriteError`` label, or one of :data:`MAYBE_APPLIED_CODES` (behind mongos: the
shard was lost mid-write or a time limit ran out, so it may have applied it), ``info``; anything
else (duplicate key, validation, ...) is a refusal, ``fail``, and worth sending again only for
:data:`RETRY_REFUSED_CODES` (a stepdown, no shard primary: not written, a retry may succeed).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bson.errors import InvalidDocument
from pymongo.errors import (
    BulkWriteError,
    ConfigurationError,
    ConnectionFailure,
    ExecutionTimeout,
    InvalidOperation,
    OperationFailure,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
    WriteConcernError,
)
from pymongo.read_preferences import _ServerMode, make_read_preference, read_pref_mode_from_name

from harness.ops import OpType

DUPLICATE_KEY = 11000

#: Raised by pymongo before any byte of the command was sent.
NOT_SENT: tuple[type[BaseException], ...] = (
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
    InvalidDocument,
    InvalidOperation,
    ConfigurationError,
)

#: Command-level error replies that refuse the command before it runs (parse, auth, options).
REFUSED_CODES = frozenset({2, 9, 13, 14, 18, 26, 72, 73})

#: Per-document write errors caused by a replica-set state change: the document was not written,
#: and sending it again (to the new primary) may succeed.
STATE_CHANGE_CODES = frozenset({91, 189, 10058, 10107, 11600, 11602, 13435, 13436})

#: FailedToSatisfyReadPreference: mongos found no primary for the shard and sent it nothing.
NO_SHARD_PRIMARY_CODES = frozenset({133})

#: Refusals of a write that was certainly not applied but may succeed if sent again.
RETRY_REFUSED_CODES = STATE_CHANGE_CODES | NO_SHARD_PRIMARY_CODES

#: Errors after which the write may have been applied: mongos lost the shard mid-write
#: (HostUnreachable 6, HostNotFound 7, NetworkTimeout 89, NetworkInterfaceExceededTimeLimit 202,
#: SocketException 9001: what toxics on a shard member's proxy produce), or a time limit ran out
#: while it ran (MaxTimeMSExpired 50, ExceededTimeLimit 262).
MAYBE_APPLIED_CODES = frozenset({6, 7, 50, 89, 202, 262, 9001})

#: The server's (or pymongo's) label for an error a retry of the same write may settle.
RETRYABLE_WRITE_ERROR = "RetryableWriteError"

_INDEX_NAME = re.compile(r"index: (\S+) dup key")


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """One document's outcome: ``detail`` says which rule gave it; ``retryable`` whether sending the
    same document again is worth it (unknown outcomes, and refusals a new primary may not give)."""

    outcome: OpType
    # inserted | already-stored | write-error | write-concern-error | unknown | not-sent | refused
    # | unacknowledged
    detail: str
    code: int | None = None
    error: str | None = None

    @property
    def retryable(self) -> bool:
        if self.detail == "unacknowledged":  # sent again, it would be just as unknown
            return False
        return self.outcome is OpType.INFO or self.detail == "not-sent" or self.code in RETRY_REFUSED_CODES


def describe(exc: BaseException) -> str:
    """The error as recorded, with the server's code when there is one."""
    code = getattr(exc, "code", None)
    return f"{type(exc).__name__}{f' ({code})' if code is not None else ''}: {exc}"


def server_error_outcome(code: int | None, retryable_label: bool, error: str) -> WriteOutcome:
    """The outcome of a write the server received and answered with error ``code`` (one document's
    ``writeError``, or a single-document write's error): the one classification every path uses."""
    if retryable_label or code in MAYBE_APPLIED_CODES:
        return WriteOutcome(OpType.INFO, "unknown", code, error)
    return WriteOutcome(OpType.FAIL, "write-error", code, error)


def write_outcome(exc: BaseException) -> OpType:
    """The outcome of a single-document write that raised ``exc`` (see the module doc)."""
    if isinstance(exc, NOT_SENT):
        return OpType.FAIL
    if isinstance(exc, ConnectionFailure | WriteConcernError | ExecutionTimeout):
        return OpType.INFO
    if isinstance(exc, OperationFailure):
        return server_error_outcome(
            exc.code, exc.has_error_label(RETRYABLE_WRITE_ERROR), describe(exc)
        ).outcome
    return OpType.INFO  # anything unexpected: never a guess


def read_preference(name: str) -> _ServerMode:
    """``primary``, ``secondaryPreferred``, ... as pymongo's read preference (ValueError if unknown)."""
    return make_read_preference(read_pref_mode_from_name(name), None)


def duplicate_index(error: Mapping[str, Any]) -> str | None:
    """The name of the unique index a duplicate-key write error names (None when not a duplicate)."""
    if error.get("code") != DUPLICATE_KEY:
        return None
    m = _INDEX_NAME.search(str(error.get("errmsg", "")))
    return m.group(1) if m else ""


def is_duplicate_on(
    error: Mapping[str, Any], index: str, key: Sequence[str], unnamed: Callable[[], bool] | None = None
) -> bool:
    """A duplicate on the given unique index: by ``keyPattern`` when the server sent it (4.4+), else
    by the index name in ``errmsg``. A duplicate that names neither (FerretDB 1.x: "E11000 duplicate
    key error collection: db.coll") is on ``index`` only if ``unnamed()`` says it must be (the
    writer's documents carry fresh ``_id``s and ``index`` is the collection's only other unique
    index); without ``unnamed`` it is not attributed."""
    if error.get("code") != DUPLICATE_KEY:
        return False
    pattern = error.get("keyPattern")
    if isinstance(pattern, Mapping):
        return list(pattern) == list(key)
    named = duplicate_index(error)
    if named:
        return named == index
    return unnamed is not None and unnamed()


def exception_outcome(exc: BaseException) -> WriteOutcome:
    """The outcome of a whole command that raised ``exc`` (not a :class:`BulkWriteError`)."""
    if isinstance(exc, NOT_SENT):
        return WriteOutcome(OpType.FAIL, "not-sent", None, describe(exc))
    code = exc.code if isinstance(exc, OperationFailure) else None
    if isinstance(exc, OperationFailure):
        res = server_error_outcome(code, exc.has_error_label(RETRYABLE_WRITE_ERROR), describe(exc))
        # Refused before it ran (parse, auth, no shard primary): nothing of the command applied.
        if res.outcome is OpType.FAIL and code in REFUSED_CODES | NO_SHARD_PRIMARY_CODES:
            return WriteOutcome(OpType.FAIL, "refused", code, res.error)
    # Network errors, timeouts, not-primary mid-command, anything unexpected: unknown (a command
    # error cannot say which of its documents were applied).
    return WriteOutcome(OpType.INFO, "unknown", code, describe(exc))


def bulk_outcomes(
    n: int,
    exc: BaseException | None,
    *,
    dup_index: str,
    dup_key: Sequence[str],
    acknowledged: bool = True,
    unnamed_duplicate: Callable[[], bool] | None = None,
) -> list[WriteOutcome]:
    """One outcome per document of an unordered insert of ``n`` documents that raised ``exc``
    (None: all inserted, if the result was ``acknowledged``). A duplicate on ``dup_index`` means an
    earlier attempt stored the same event: ``ok`` "already-stored" (the server waits for the write
    concern of the existing document too), unless a write concern error says the wait fell short.
    ``unnamed_duplicate`` decides a duplicate that names no index (see :func:`is_duplicate_on`)."""
    if exc is None and not acknowledged:
        # w: 0: pymongo raised nothing because no reply came; nothing is known (never ``ok``).
        return [WriteOutcome(OpType.INFO, "unacknowledged")] * n
    if exc is None:
        return [WriteOutcome(OpType.OK, "inserted")] * n
    if not isinstance(exc, BulkWriteError):
        return [exception_outcome(exc)] * n
    details = exc.details
    errors = {e["index"]: e for e in details.get("writeErrors") or []}
    wces = details.get("writeConcernErrors") or []
    wce: WriteOutcome | None = None
    if wces:
        first = wces[0]
        wce = WriteOutcome(
            OpType.INFO, "write-concern-error", first.get("code"), f"writeConcernError: {first.get('errmsg')}"
        )
    out: list[WriteOutcome] = []
    for i in range(n):
        err = errors.get(i)
        if err is None:
            out.append(wce or WriteOutcome(OpType.OK, "inserted"))
        elif is_duplicate_on(err, dup_index, dup_key, unnamed_duplicate):
            out.append(wce or WriteOutcome(OpType.OK, "already-stored", DUPLICATE_KEY))
        else:
            # mongos reports a shard's errors per document, network errors included; pymongo
            # leaves a write error's own ``errorLabels`` (if the server sent any) in place.
            labelled = RETRYABLE_WRITE_ERROR in (err.get("errorLabels") or ())
            out.append(server_error_outcome(err.get("code"), labelled, str(err.get("errmsg"))))
    return out
