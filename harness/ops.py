"""Operation records, after Jepsen: every op is an ``invoke`` followed by one completion.

Completions: ``ok`` (it happened), ``fail`` (it certainly did not happen), ``info`` (unknown, e.g. a
timeout: it may or may not have taken effect). A timeout is never counted as success or failure.

Here too: :class:`Op` (an invoke paired with its completion, what the loader yields and the checkers
read) and the op names of the ingestion path, with the compact form ingestion records them in, which
its recorder (:mod:`harness.workload.redis_plane.ingest_record`) writes and the loader expands
(:mod:`harness.history.ingest`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass(slots=True)
class Op:
    """An invoke paired with its completion (``outcome`` is None when the run ended first)."""

    id: int
    process: str
    f: str
    invoke_ns: int
    outcome: str | None
    complete_ns: int | None
    invoke: dict[str, Any]
    completion: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def value(self) -> Any:
        """The completion's value when it has one, else the invoke's."""
        if self.completion is not None and "value" in self.completion:
            return self.completion["value"]
        return self.invoke.get("value")

    def get(self, name: str, default: Any = None) -> Any:
        """A field from the invoke (where keys, tenants and variants live)."""
        return self.invoke.get(name, default)


# -- the ingestion path's ops -----------------------------------------------------------------------

#: The checkers' vocabulary for one ingested event: the limiter's check, then the side effects of an
#: admitted event (the counter's ``INCR``, the HyperLogLog's ``PFADD``, the timeline's write).
RATE_LIMIT = "rate_limit"
INCR = "incr"
PFADD = "pfadd"
TTL_WRITE = "ttl_write"
SIDE_EFFECTS = (INCR, PFADD, TTL_WRITE)
#: The error of a side effect that did not happen because the limiter rejected its event.
REJECTED = "rejected by the rate limiter"

#: The compact form: one op per event (``ingest``: the design script) or two (``ingest_rl``, the
#: limiter, and ``ingest_fx``, the side effects of an admitted event: the design pipeline), written as
#: batch records. ``ingest``/``ingest_rl`` invoke: ``tenant``, ``event_id``, ``user``, ``sched_ns``,
#: ``variant``, ``window`` (the counter's minute bucket), ``keys`` = [limiter, counter, hll, timeline],
#: ``value`` = ``{now_ms, limit, window_ms, group_limit, shards, ttl_ms}``; ok completion: ``value`` =
#: ``[allowed 0/1, remaining, counter]`` (``ingest``) or ``[allowed 0/1, remaining]``
#: (``ingest_rl``); fail/info: ``error``. ``ingest_fx`` invoke: ``rl`` (the ``ingest_rl`` op's id),
#: timed when round 2 is sent; completion ``value`` = the counter ``INCR`` returned (absent unless
#: ok) and, unless all of it was ok, ``side`` = the outcomes of [incr, pfadd, ttl_write] and
#: ``error``.
INGEST = "ingest"
INGEST_RL = "ingest_rl"
INGEST_FX = "ingest_fx"
