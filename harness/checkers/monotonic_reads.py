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

When the history records writes (``writes``, default ``write``: the read_your_writes vocabulary),
a read that sees a version no write invoked before it completed could have installed is
``value-never-written`` (see :class:`harness.checkers._common.WrittenVersions`).

File order is not time order (a completion line can follow a later one): reads are kept (a few
numbers each) and judged in ``finish`` by their recorded times.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from typing import Any, NamedTuple

from harness.checkers._common import (
    Examples,
    MaxFrontier,
    WrittenVersions,
    as_int,
    percentiles,
    session_of,
    shared,
)
from harness.checkers.compose import fold
from harness.checkers.verdict import Status, Verdict, run_ms
from harness.history.loader import Op
from harness.ops import OpType

# the members once: each OpType.X is an enum-class lookup (~200 ns), several per op and checker
_OK, _FAIL = OpType.OK, OpType.FAIL

NAME = "monotonic-reads"
#: The anomaly kinds this checker's examples (and ``details["violations_by_kind"]``) can name.
KINDS: frozenset[str] = frozenset({"regressing-read", "value-never-written"})


class _Read(NamedTuple):
    invoke_ns: int
    complete_ns: int
    observed: int
    op_id: int
    tenant: Any
    read_pref: Any


class MonotonicReads:
    name = NAME

    def __init__(self, *, reads: Iterable[str] = ("read",), writes: Iterable[str] = ("write",)) -> None:
        self._read_fs = frozenset(reads)
        self._write_fs = frozenset(writes) - self._read_fs
        self.fs: frozenset[str] | None = self._read_fs | self._write_fs
        self._reads: dict[tuple[str, str], list[_Read]] = {}
        self._written: dict[str, WrittenVersions] = {}
        self._write_ops = 0
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
        if op.f in self._write_fs:
            self._write_ops += 1
            if op.outcome == _FAIL:
                return
            written = self._written.get(key)
            if written is None:
                written = self._written[key] = WrittenVersions()
            version = as_int(op.value) if op.outcome == _OK else None
            if version is None:
                written.add_unknown(op.invoke_ns)
            else:
                written.add_ok(op.invoke_ns, version)
            return
        if op.outcome != _OK or op.completion is None or op.complete_ns is None:
            self._reads_not_ok += 1
            return
        raw = op.completion.get("value")
        observed = 0 if raw is None else as_int(raw)
        if observed is None:
            self._malformed += 1
            return
        self._reads_ok += 1
        reads = self._reads.get((session_of(op), key))
        if reads is None:  # the dict's key holds the names once; the reads share the rest
            reads = self._reads[(shared(session_of(op)), shared(key))] = []
        reads.append(
            _Read(
                op.invoke_ns,
                op.complete_ns,
                observed,
                op.id,
                shared(op.get("tenant")),
                shared(op.get("read_pref")),
            )
        )

    def _judge(self, session: str, key: str, reads: list[_Read]) -> None:
        """By the recorded times, whatever the file order: a frontier of every completed read of
        the session and key, then each read against the reads that completed before its invoke."""
        frontier = MaxFrontier()
        for r in reads:
            frontier.add(r.complete_ns, r.observed, r.op_id)
        written = self._written.get(key) if self._write_ops else None
        for r in sorted(reads):
            base = {
                "session": session,
                "key": key,
                "tenant": r.tenant,
                "read_op": r.op_id,
                "read_invoke_ms": run_ms(r.invoke_ns),
                "read_complete_ms": run_ms(r.complete_ns),
                "read_pref": r.read_pref,
                "observed_version": r.observed,
            }
            if self._write_ops:
                most = written.bound(r.complete_ns) if written is not None else 0
                if r.observed > most:
                    self._examples.add(
                        r.invoke_ns, {"kind": "value-never-written", **base, "max_possible_version": most}
                    )
                    continue
            earlier = frontier.before(r.invoke_ns)
            if earlier is None:
                continue
            self._reads_compared += 1
            seen, seen_id = earlier
            if r.observed >= seen:
                continue
            self._back.append(seen - r.observed)
            self._examples.add(
                r.invoke_ns,
                {
                    "kind": "regressing-read",
                    **base,
                    "earlier_read_op": seen_id,
                    "earlier_version": seen,
                    "versions_back": seen - r.observed,
                },
            )

    def finish(self) -> Verdict:
        for (session, key), reads in self._reads.items():
            self._judge(session, key, reads)
        n = self._examples.count
        never = self._examples.by_kind.get("value-never-written", 0)
        details: dict[str, Any] = {
            "violations_by_kind": dict(self._examples.by_kind),
            "reads_ok": self._reads_ok,
            "reads_not_ok": self._reads_not_ok,
            "reads_compared": self._reads_compared,
            "regressing_reads": self._examples.by_kind.get("regressing-read", 0),
            "values_never_written": never,
            "write_ops": self._write_ops,
            "versions_back": percentiles([float(v) for v in self._back]),
            "malformed_ops": self._malformed,
        }
        if n == 0 and self._reads_compared == 0:
            return Verdict(
                NAME,
                "unknown",
                0,
                "no read followed an earlier completed read of its session",
                details=details,
            )
        status: Status = "invalid" if n else "valid"
        summary = (
            f"{details['regressing_reads']} of {self._reads_compared} reads went back to an older "
            "version than their session saw"
        )
        if never:
            summary += f"; {never} reads saw a version no write invoked before them could have installed"
        return Verdict(NAME, status, n, summary, self._examples.examples(), details)


def check_monotonic_reads(ops: Iterable[Op], **params: Any) -> Verdict:
    return fold(MonotonicReads(**params), ops)
