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

A read that sees a version no write invoked before it completed could have installed (above the
highest version an ``ok`` write invoked by then returned, plus one per write of unknown outcome
invoked by then) is ``value-never-written`` (judged when the history records writes at all).

File order is not time order (a completion is recorded with the reply's own time, so its line can
follow a later one): reads are kept (a few numbers each) and judged in ``finish`` by the recorded
times. Per (session, key) only a frontier of increasing versions of own writes is kept.
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

NAME = "read-your-writes"
#: The anomaly kinds this checker's examples (and ``details["violations_by_kind"]``) can name.
KINDS: frozenset[str] = frozenset({"stale-read", "value-never-written"})


class _Read(NamedTuple):
    session: str
    key: str
    invoke_ns: int
    complete_ns: int
    observed: int
    op_id: int
    tenant: Any
    read_pref: Any
    read_concern: Any


class ReadYourWrites:
    name = NAME

    def __init__(self, *, writes: Iterable[str] = ("write",), reads: Iterable[str] = ("read",)) -> None:
        self._writes = frozenset(writes)
        self._reads = frozenset(reads)
        self.fs: frozenset[str] | None = self._writes | self._reads
        self._own: dict[tuple[str, str], MaxFrontier] = {}
        self._written: dict[str, WrittenVersions] = {}
        self._read_log: list[_Read] = []
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
            if op.outcome == _FAIL:
                return  # certainly not applied
            written = self._written.get(key)
            if written is None:
                written = self._written[key] = WrittenVersions()
            version = as_int(op.value) if op.outcome == _OK else None
            if op.outcome != _OK or op.complete_ns is None or version is None:
                if op.outcome == _OK:
                    self._malformed += 1
                written.add_unknown(op.invoke_ns)  # may have installed a version: which, unknown
                return  # unknown writes promise nothing to their session
            written.add_ok(op.invoke_ns, version)
            frontier = self._own.get((session_of(op), key))
            if frontier is None:
                frontier = self._own[(session_of(op), key)] = MaxFrontier()
            frontier.add(op.complete_ns, version, op.id)
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
        self._read_log.append(
            _Read(
                shared(session_of(op)),
                shared(key),
                op.invoke_ns,
                op.complete_ns,
                observed,
                op.id,
                shared(op.get("tenant")),
                shared(op.get("read_pref")),
                shared(op.get("read_concern")),
            )
        )

    def _judge(self, r: _Read, writes_recorded: bool) -> None:
        """Judged in ``finish``, by the recorded times: every write is known by then, whatever the
        order of the lines in the file."""
        base = {
            "session": r.session,
            "key": r.key,
            "tenant": r.tenant,
            "read_op": r.op_id,
            "read_invoke_ms": run_ms(r.invoke_ns),
            "read_complete_ms": run_ms(r.complete_ns),
            "read_pref": r.read_pref,
            "read_concern": r.read_concern,
            "observed_version": r.observed,
        }
        if writes_recorded:
            written = self._written.get(r.key)
            most = written.bound(r.complete_ns) if written is not None else 0
            if r.observed > most:
                self._examples.add(
                    r.invoke_ns, {"kind": "value-never-written", **base, "max_possible_version": most}
                )
                return
        frontier = self._own.get((r.session, r.key))
        own = frontier.before(r.invoke_ns) if frontier is not None else None
        if own is None:
            return
        self._reads_after_own_write += 1
        pref = str(r.read_pref if r.read_pref is not None else "unspecified")
        tally = self._by_read_pref.setdefault(pref, {"reads": 0, "stale": 0})
        tally["reads"] += 1
        expected, write_id = own
        if r.observed >= expected:
            return
        tally["stale"] += 1
        assert frontier is not None
        first = frontier.first_above(r.observed)
        assert first is not None  # the frontier holds a version above ``observed``: ``expected``
        first_ns, _, first_id = first
        ms_behind = round((r.invoke_ns - first_ns) / 1e6, 3)
        self._ms.append(ms_behind)
        self._versions.append(expected - r.observed)
        self._examples.add(
            r.invoke_ns,
            {
                "kind": "stale-read",
                **base,
                "expected_min_version": expected,
                "write_op": write_id,
                "first_missed_write_op": first_id,
                "first_missed_write_ack_ms": run_ms(first_ns),
                "versions_behind": expected - r.observed,
                "ms_behind": ms_behind,
            },
        )

    def finish(self) -> Verdict:
        writes_recorded = bool(self._writes_by_outcome)
        for r in self._read_log:
            self._judge(r, writes_recorded)
        by_kind = self._examples.by_kind
        stale = by_kind.get("stale-read", 0)
        never = by_kind.get("value-never-written", 0)
        n = self._examples.count
        details: dict[str, Any] = {
            "violations_by_kind": dict(self._examples.by_kind),
            "writes": self._writes_by_outcome,
            "reads_ok": self._reads_ok,
            "reads_not_ok": self._reads_not_ok,
            "reads_after_own_write": self._reads_after_own_write,
            "stale_reads": stale,
            "values_never_written": never,
            "staleness_ms": percentiles(list(self._ms)),
            "staleness_versions": percentiles([float(v) for v in self._versions]),
            "by_read_pref": self._by_read_pref,
            "malformed_ops": self._malformed,
        }
        if n == 0 and self._reads_after_own_write == 0:
            return Verdict(
                NAME,
                "unknown",
                0,
                "no read followed an acknowledged write of its own session",
                details=details,
            )
        status: Status = "invalid" if n else "valid"
        summary = f"{stale} of {self._reads_after_own_write} reads after an own acknowledged write were stale"
        if stale:
            p = details["staleness_ms"]
            summary += f" (p50 {p['p50']} ms, max {p['max']} ms behind)"
        if never:
            summary += f"; {never} reads saw a version no write invoked before them could have installed"
        return Verdict(NAME, status, n, summary, self._examples.examples(), details)


def check_read_your_writes(ops: Iterable[Op], **params: Any) -> Verdict:
    return fold(ReadYourWrites(**params), ops)
