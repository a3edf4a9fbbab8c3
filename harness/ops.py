"""Operation records, after Jepsen: every op is an ``invoke`` followed by one completion.

Completions: ``ok`` (it happened), ``fail`` (it certainly did not happen), ``info`` (unknown, e.g. a
timeout: it may or may not have taken effect). A timeout is never counted as success or failure.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypedDict


class OpType(StrEnum):
    INVOKE = "invoke"
    OK = "ok"
    FAIL = "fail"
    INFO = "info"


COMPLETIONS = frozenset({OpType.OK, OpType.FAIL, OpType.INFO})


class OpRecord(TypedDict, total=False):
    """One line of ``history.jsonl``.

    ``id`` pairs an invoke with its completion (ops are pipelined, so a process may have many ops in
    flight). ``time_ns`` is monotonic nanoseconds since the run started. ``sched_ns`` (invoke only)
    is when the open-loop schedule wanted the op issued; latency is measured from it.
    """

    id: int
    type: str
    process: str
    f: str
    time_ns: int
    sched_ns: int
    variant: str
    key: str
    tenant: str
    value: Any
    error: str
