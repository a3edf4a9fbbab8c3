"""Checker: a session never observes a version older than one it already observed (monotonic reads).

Reads served by different replicas (``secondaryPreferred``, or a failover to a member that is
further behind) can make a session go back in time: it saw version 7, then version 5.

Op vocabulary: the ``read`` ops of :mod:`harness.checkers.read_your_writes` (same fields):
    invoke: ``key`` (str), ``session`` (str; defaults to the op's ``process``), ``tenant``,
    optional ``read_pref`` / ``read_concern``.
    completion ``ok``: ``value`` = the version read (int), or null when the record was absent
    (version 0).

Assumptions: versions of one key only grow (see read_your_writes). Read B regresses when an
earlier read A of the same session and key *completed before B was invoked* and B's version is
lower than A's. Reads that overlap in time (a session with pipelined reads) may legitimately be
served in either order, so they are not compared. Reads that did not complete ``ok`` observe
nothing.

Streaming: in completion order, every read that completed before B's invoke has arrived before B;
per (session, key) only a frontier of increasing versions is kept.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from typing import Any

from harness.checkers._common import Examples, MaxFrontier, as_int, percentiles, session_of
from harness.checkers.compose import fold
from harness.checkers.verdict import Status, Verdict, run_ms
from harness.history.loader import Op
from harness.ops import OpType

NAME = "monotonic-reads"


class MonotonicReads:
    name = NAME

    def __init__(self, *, reads: Iterable[str] = ("read",)) -> None:
        self.fs: frozenset[str] | None = frozenset(reads)
        self._seen: dict[tuple[str, str], MaxFrontier] = {}
        self._examples = Examples()
        self._back = array("q")
        self._reads_ok = 0
        self._reads_compared = 0
        self._reads_not_ok = 0
        self._malformed = 0

    def observe(self, op: Op) -> None:
        key = op.get("key")
        if not isinstance(key, str):
            self._malformed += 1
            return
        if op.outcome != OpType.OK or op.completion is None or op.complete_ns is None:
            self._reads_not_ok += 1
            return
        raw = op.completion.get("value")
        observed = 0 if raw is None else as_int(raw)
        if observed is None:
            self._malformed += 1
            return
        self._reads_ok += 1
        session = session_of(op)
        frontier = self._seen.get((session, key))
        if frontier is None:
            frontier = self._seen[(session, key)] = MaxFrontier()
        earlier = frontier.before(op.invoke_ns)
        frontier.add(op.complete_ns, observed, op.id)
        if earlier is None:
            return
        self._reads_compared += 1
        seen, seen_id = earlier
        if observed >= seen:
            return
        self._back.append(seen - observed)
        self._examples.add(
            op.invoke_ns,
            {
                "kind": "regressing-read",
                "session": session,
                "key": key,
                "tenant": op.get("tenant"),
                "read_op": op.id,
                "read_invoke_ms": run_ms(op.invoke_ns),
                "read_complete_ms": run_ms(op.complete_ns),
                "read_pref": op.get("read_pref"),
                "observed_version": observed,
                "earlier_read_op": seen_id,
                "earlier_version": seen,
                "versions_back": seen - observed,
            },
        )

    def finish(self) -> Verdict:
        n = self._examples.count
        details: dict[str, Any] = {
            "reads_ok": self._reads_ok,
            "reads_not_ok": self._reads_not_ok,
            "reads_compared": self._reads_compared,
            "regressing_reads": n,
            "versions_back": percentiles([float(v) for v in self._back]),
            "malformed_ops": self._malformed,
        }
        if self._reads_compared == 0:
            return Verdict(
                NAME,
                "unknown",
                0,
                "no read followed an earlier completed read of its session",
                details=details,
            )
        status: Status = "invalid" if n else "valid"
        summary = f"{n} of {self._reads_compared} reads went back to an older version than their session saw"
        return Verdict(NAME, status, n, summary, self._examples.examples(), details)


def check_monotonic_reads(ops: Iterable[Op], **params: Any) -> Verdict:
    return fold(MonotonicReads(**params), ops)
