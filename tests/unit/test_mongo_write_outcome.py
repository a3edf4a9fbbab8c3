"""pymongo errors → outcomes for the MongoDB data paths: fail only when certainly not applied."""

from __future__ import annotations

import pytest
from pymongo.errors import (
    AutoReconnect,
    DuplicateKeyError,
    ExecutionTimeout,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    ServerSelectionTimeoutError,
    WriteConcernError,
    WTimeoutError,
)

from harness.clients.mongo_outcomes import describe, read_preference, write_outcome
from harness.ops import OpType


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (
            ServerSelectionTimeoutError("no primary"),
            OpType.FAIL,
        ),  # never sent (pymongo re-raises a retry's first error)
        (DuplicateKeyError("E11000", 11000), OpType.FAIL),
        (OperationFailure("Document failed validation", 121), OpType.FAIL),
        (NetworkTimeout("timed out"), OpType.INFO),
        (AutoReconnect("connection closed"), OpType.INFO),
        (NotPrimaryError("not primary", {}), OpType.INFO),  # after a retry: the first try may have applied
        (WTimeoutError("waiting for replication timed out", 64), OpType.INFO),
        (WriteConcernError("write concern error", 100), OpType.INFO),
        (ExecutionTimeout("operation exceeded time limit", 50), OpType.INFO),
        (RuntimeError("unexpected"), OpType.INFO),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_write_outcome(exc: BaseException, outcome: OpType) -> None:
    assert write_outcome(exc) == outcome


def test_describe_names_class_and_code() -> None:
    assert describe(DuplicateKeyError("E11000 dup", 11000)) == "DuplicateKeyError (11000): E11000 dup"
    assert describe(AutoReconnect("closed")) == "AutoReconnect: closed"


def test_read_preference_by_name() -> None:
    assert read_preference("secondaryPreferred").document == {"mode": "secondaryPreferred"}
    assert read_preference("primary").document == {"mode": "primary"}
    with pytest.raises(ValueError):
        read_preference("fastest")
