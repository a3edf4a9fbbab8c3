"""Per-document outcomes of an unordered insert, from the error shapes pymongo raises."""

from __future__ import annotations

from typing import Any

import pytest
from bson.errors import InvalidDocument
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    ExecutionTimeout,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    ServerSelectionTimeoutError,
    WriteError,
)

from harness.clients.mongo_outcomes import (
    RETRYABLE_WRITE_ERROR,
    bulk_outcomes,
    duplicate_index,
    exception_outcome,
    server_error_outcome,
    write_outcome,
)
from harness.ops import OpType

KEY = ("tenant_id", "event_time", "event_id")


def dup(index: int, name: str = "idempotency", pattern: bool = True) -> dict[str, Any]:
    err: dict[str, Any] = {
        "index": index,
        "code": 11000,
        "errmsg": f"E11000 duplicate key error collection: eventlog.events index: {name} dup key: {{ }}",
    }
    if pattern:
        err["keyPattern"] = dict.fromkeys(KEY if name == "idempotency" else ("_id",), 1)
    return err


def bulk(
    write_errors: list[dict[str, Any]], wce: list[dict[str, Any]] | None = None, n: int = 0
) -> BulkWriteError:
    return BulkWriteError(
        {
            "writeErrors": write_errors,
            "writeConcernErrors": wce or [],
            "nInserted": n,
            "nUpserted": 0,
            "nMatched": 0,
            "nModified": 0,
            "nRemoved": 0,
            "upserted": [],
        }
    )


def outcomes(n: int, exc: BaseException | None) -> list[tuple[str, str, int | None]]:
    return [
        (o.outcome.value, o.detail, o.code)
        for o in bulk_outcomes(n, exc, dup_index="idempotency", dup_key=KEY)
    ]


def test_success_is_ok_for_every_document() -> None:
    assert outcomes(3, None) == [("ok", "inserted", None)] * 3


def test_duplicate_on_the_idempotency_index_is_already_stored_other_errors_fail() -> None:
    exc = bulk(
        [dup(1), dup(2, "_id_"), {"index": 3, "code": 121, "errmsg": "Document failed validation"}], n=1
    )
    assert outcomes(4, exc) == [
        ("ok", "inserted", None),
        ("ok", "already-stored", 11000),
        ("fail", "write-error", 11000),  # a duplicate on another unique index is a real refusal
        ("fail", "write-error", 121),
    ]


def test_duplicate_recognised_by_index_name_when_the_server_sends_no_key_pattern() -> None:
    assert duplicate_index(dup(0, pattern=False)) == "idempotency"
    assert outcomes(1, bulk([dup(0, pattern=False)])) == [("ok", "already-stored", 11000)]


def test_write_concern_error_leaves_the_written_documents_unknown() -> None:
    wce = [{"code": 64, "errmsg": "waiting for replication timed out", "errInfo": {"wtimeout": True}}]
    exc = bulk([dup(1), {"index": 2, "code": 121, "errmsg": "bad"}], wce, n=1)
    assert outcomes(3, exc) == [
        ("info", "write-concern-error", 64),
        ("info", "write-concern-error", 64),  # stored earlier, but not confirmed at this wc
        ("fail", "write-error", 121),
    ]


@pytest.mark.parametrize(
    "exc",
    [
        AutoReconnect("connection closed"),
        NetworkTimeout("timed out"),
        NotPrimaryError("not primary", {"code": 10107, "errmsg": "not primary"}),
        ExecutionTimeout("operation exceeded time limit", 50),
        OperationFailure("something odd", 8),
    ],
)
def test_errors_mid_command_leave_the_whole_batch_unknown(exc: BaseException) -> None:
    got = bulk_outcomes(3, exc, dup_index="idempotency", dup_key=KEY)
    assert [o.outcome for o in got] == [OpType.INFO] * 3
    assert all(o.retryable for o in got)


@pytest.mark.parametrize(
    "exc",
    [ServerSelectionTimeoutError("no primary"), InvalidDocument("cannot encode"), OperationFailure("no", 13)],
)
def test_errors_before_sending_or_refusals_fail(exc: BaseException) -> None:
    assert exception_outcome(exc).outcome is OpType.FAIL
    assert outcomes(2, exc)[0][0] == "fail"


def test_retryable_covers_unknown_unsent_and_stepdown_refusals_only() -> None:
    assert exception_outcome(ServerSelectionTimeoutError("x")).retryable
    assert not exception_outcome(OperationFailure("unauthorized", 13)).retryable
    stepdown = bulk([{"index": 0, "code": 11602, "errmsg": "interrupted due to repl state change"}])
    (res,) = bulk_outcomes(1, stepdown, dup_index="idempotency", dup_key=KEY)
    assert res.outcome is OpType.FAIL and res.retryable
    (res,) = bulk_outcomes(1, bulk([dup(0, "_id_")]), dup_index="idempotency", dup_key=KEY)
    assert not res.retryable


#: mongos→shard network errors and time limits: the shard may have applied the write.
MAYBE_APPLIED = {
    6: "HostUnreachable",
    7: "HostNotFound",
    50: "MaxTimeMSExpired",
    89: "NetworkTimeout",
    202: "NetworkInterfaceExceededTimeLimit",
    262: "ExceededTimeLimit",
    9001: "SocketException",
}


@pytest.mark.parametrize("code", sorted(MAYBE_APPLIED), ids=lambda c: f"{c}-{MAYBE_APPLIED[c]}")
def test_maybe_applied_codes_are_unknown_and_retryable_in_every_path(code: int) -> None:
    doc_error = {"index": 0, "code": code, "codeName": MAYBE_APPLIED[code], "errmsg": "shard unreachable"}
    assert server_error_outcome(code, False, "x").outcome is OpType.INFO
    (res,) = bulk_outcomes(1, bulk([doc_error]), dup_index="idempotency", dup_key=KEY)
    assert (res.outcome, res.detail, res.code, res.retryable) == (OpType.INFO, "unknown", code, True)
    # A single-document write (update_one, find_one_and_update) raising the same code
    assert write_outcome(WriteError("shard unreachable", code, doc_error)) is OpType.INFO
    assert write_outcome(OperationFailure("shard unreachable", code)) is OpType.INFO
    assert exception_outcome(OperationFailure("shard unreachable", code)).outcome is OpType.INFO


def test_retryable_write_error_label_makes_any_code_unknown() -> None:
    labelled = {"index": 0, "code": 1, "errmsg": "internal", "errorLabels": [RETRYABLE_WRITE_ERROR]}
    plain = {"index": 1, "code": 1, "errmsg": "internal"}
    got = bulk_outcomes(2, bulk([labelled, plain]), dup_index="idempotency", dup_key=KEY)
    assert [(o.outcome, o.retryable) for o in got] == [(OpType.INFO, True), (OpType.FAIL, False)]
    exc = OperationFailure("internal", 1, {"ok": 0, "code": 1, "errorLabels": [RETRYABLE_WRITE_ERROR]})
    assert write_outcome(exc) is OpType.INFO
    assert write_outcome(OperationFailure("internal", 1, {"ok": 0, "code": 1})) is OpType.FAIL
    assert exception_outcome(exc).outcome is OpType.INFO


def test_no_shard_primary_is_a_certain_refusal_worth_retrying() -> None:
    doc_error = {"index": 0, "code": 133, "errmsg": "Could not find host matching read preference"}
    (res,) = bulk_outcomes(1, bulk([doc_error]), dup_index="idempotency", dup_key=KEY)
    assert (res.outcome, res.detail, res.retryable) == (OpType.FAIL, "write-error", True)
    assert write_outcome(OperationFailure("no primary", 133)) is OpType.FAIL
    cmd = exception_outcome(OperationFailure("no primary", 133))
    assert (cmd.outcome, cmd.detail, cmd.retryable) == (OpType.FAIL, "refused", True)


def test_other_write_errors_stay_certain_refusals() -> None:
    for code in (121, 2, 11000):
        res = server_error_outcome(code, False, "refused")
        assert (res.outcome, res.detail, res.retryable) == (OpType.FAIL, "write-error", False)
