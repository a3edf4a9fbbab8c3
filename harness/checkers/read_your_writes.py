"""Checker: a session's read after its own acknowledged write sees that write (read-your-writes).

The stale-reads case study: a profile written to the primary, then read back from a lagging
secondary (``secondaryPreferred``), shows the old data. Causally consistent sessions, or reads from
the primary, fix it. This checker finds every read that missed its own session's earlier write and
reports how far behind it was.

Op vocabulary (the interface the workload implements):

``write`` — one update of a versioned record (a MongoDB document updated with ``$inc: {version: 1}``
and read back with ``returnDocument: after``, or a Redis hash whose ``version`` field is bumped by
``HINCRBY`` in the same transaction as the write).
    invoke: ``key`` (str, the record; unique across tenants), ``session`` (str, the client session,
    e.g. a MongoDB causally consistent session; defaults to the op's ``process``), ``tenant``;
    optional ``write_concern``.
    completion ``ok``: ``value`` = the version (int >= 1) this write installed.

``read`` — one read of the record.
    invoke: ``key``, ``session``, ``tenant``; optional ``read_pref`` (``primary``,
    ``secondaryPreferred``, ...) and ``read_concern`` (``local``, ``majority``, ...), reported apart.
    completion ``ok``: ``value`` = the version read (int), or null when the record was absent
    (version 0).

Assumptions: versions of one key only grow, one per applied write (never reused, never deleted),
so a read that returns version ``v`` saw exactly the writes up to ``v``. A read must see the
session's own ``ok`` writes that completed before the read was invoked; writes still in flight, of
unknown outcome (``info``, never completed) or failed constrain nothing. Reads that did not
complete ``ok`` carry no observation.

Staleness of a stale read: in versions, the session's newest acknowledged version minus the
version read; in ms, the time from the acknowledgement of the session's first write the read
missed to the read's invoke.

Streaming: ops arrive in completion order, so every write acknowledged before a read was invoked
has arrived before that read. Per (session, key) only a frontier of increasing versions is kept.
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

NAME = "read-your-writes"


class ReadYourWrites:
    name = NAME

    def __init__(self, *, writes: Iterable[str] = ("write",), reads: Iterable[str] = ("read",)) -> None:
        self._writes = frozenset(writes)
        self._reads = frozenset(reads)
        self.fs: frozenset[str] | None = self._writes | self._reads
        self._own: dict[tuple[str, str], MaxFrontier] = {}
        self._examples = Examples()
        self._ms = array("d")
        self._versions = array("q")
        self._writes_by_outcome: dict[str, int] = {}
        self._reads_ok = 0
        self._reads_after_own_write = 0
        self._reads_not_ok = 0
        self._malformed = 0
        self._by_read_pref: dict[str, dict[str, int]] = {}

    def observe(self, op: Op) -> None:
        key = op.get("key")
        if not isinstance(key, str):
            self._malformed += 1
            return
        if op.f in self._writes:
            outcome = op.outcome or "none"
            self._writes_by_outcome[outcome] = self._writes_by_outcome.get(outcome, 0) + 1
            if op.outcome != OpType.OK or op.complete_ns is None:
                return  # unknown or failed writes promise nothing
            version = as_int(op.value)
            if version is None:
                self._malformed += 1
                return
            frontier = self._own.get((session_of(op), key))
            if frontier is None:
                frontier = self._own[(session_of(op), key)] = MaxFrontier()
            frontier.add(op.complete_ns, version, op.id)
            return
        if op.outcome != OpType.OK or op.completion is None:
            self._reads_not_ok += 1
            return
        raw = op.completion.get("value")
        observed = 0 if raw is None else as_int(raw)
        if observed is None:
            self._malformed += 1
            return
        self._reads_ok += 1
        session = session_of(op)
        frontier = self._own.get((session, key))
        own = frontier.before(op.invoke_ns) if frontier is not None else None
        if own is None:
            return
        self._reads_after_own_write += 1
        pref = str(op.get("read_pref", "unspecified"))
        tally = self._by_read_pref.setdefault(pref, {"reads": 0, "stale": 0})
        tally["reads"] += 1
        expected, write_id = own
        if observed >= expected:
            return
        tally["stale"] += 1
        assert frontier is not None
        first = frontier.first_above(observed)
        assert first is not None  # the frontier holds a version above ``observed``: ``expected``
        first_ns, _, first_id = first
        ms_behind = round((op.invoke_ns - first_ns) / 1e6, 3)
        self._ms.append(ms_behind)
        self._versions.append(expected - observed)
        self._examples.add(
            op.invoke_ns,
            {
                "kind": "stale-read",
                "session": session,
                "key": key,
                "tenant": op.get("tenant"),
                "read_op": op.id,
                "read_invoke_ms": run_ms(op.invoke_ns),
                "read_complete_ms": run_ms(op.complete_ns),
                "read_pref": op.get("read_pref"),
                "read_concern": op.get("read_concern"),
                "observed_version": observed,
                "expected_min_version": expected,
                "write_op": write_id,
                "first_missed_write_op": first_id,
                "first_missed_write_ack_ms": run_ms(first_ns),
                "versions_behind": expected - observed,
                "ms_behind": ms_behind,
            },
        )

    def finish(self) -> Verdict:
        stale = self._examples.count
        details: dict[str, Any] = {
            "writes": self._writes_by_outcome,
            "reads_ok": self._reads_ok,
            "reads_not_ok": self._reads_not_ok,
            "reads_after_own_write": self._reads_after_own_write,
            "stale_reads": stale,
            "staleness_ms": percentiles(list(self._ms)),
            "staleness_versions": percentiles([float(v) for v in self._versions]),
            "by_read_pref": self._by_read_pref,
            "malformed_ops": self._malformed,
        }
        if self._reads_after_own_write == 0:
            return Verdict(
                NAME,
                "unknown",
                0,
                "no read followed an acknowledged write of its own session",
                details=details,
            )
        status: Status = "invalid" if stale else "valid"
        summary = f"{stale} of {self._reads_after_own_write} reads after an own acknowledged write were stale"
        if stale:
            p = details["staleness_ms"]
            summary += f" (p50 {p['p50']} ms, max {p['max']} ms behind)"
        return Verdict(NAME, status, stale, summary, self._examples.examples(), details)


def check_read_your_writes(ops: Iterable[Op], **params: Any) -> Verdict:
    return fold(ReadYourWrites(**params), ops)
