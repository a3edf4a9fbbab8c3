"""Checker: data lives exactly as long as its retention class says (MongoDB TTL indexes, Redis TTLs).

MongoDB removes expired documents with a background TTL monitor that wakes every
``ttlMonitorSleepSecs`` (60 s by default) and can fall further behind under load, so a document may
stay readable for up to ``ttl_lag_ms`` after it expired, never longer; and it must stay readable
until it expires. Redis never returns a key past its expiry (lazy expiry on access), so a key read
after its TTL ran out is a violation at once.

Retention classes (``retention_ms``, scaled down in tests): ``standard`` events 90 days, ``audit``
365 days, ``aggregates`` 180 days (TTL on ``bucket_time``).

Op vocabulary (``now_ms`` = the client's wall clock in ms just before sending; the completion may
carry its own ``now_ms``, otherwise the op's duration is added; server clocks are the client's up
to ``clock_skew_ms``):

``doc_insert`` — one MongoDB insert (events, audit_logs or event_aggregates).
    invoke: ``key`` (the document's identity, unique across collections, e.g.
    ``events/<tenant>/<event_id>``), ``tenant``, ``retention_class``, ``created_ms`` (the TTL-indexed
    time: ``event_time``, ``logged_at`` or ``bucket_time``), optional ``expires_at_ms`` (when the
    TTL index is on ``expires_at`` with ``expireAfterSeconds: 0``; it then wins).
``doc_read`` / ``final_docs`` — look up documents by identity (``find({_id: {$in: ...}})``).
    invoke: ``keys`` (list), ``now_ms``, optional ``read_pref``; completion ``ok``: ``value`` = the
    keys found. Only reads from the primary (``read_pref`` absent or ``primary``) are judged: a
    secondary applies inserts and the primary's TTL deletes late, by its replication lag.
``ttl_write`` — a Redis write that sets the key's TTL in the same step (``SET k v PX ttl``, or
    ``INCR``/``ZADD`` + ``EXPIRE`` in one ``MULTI``). invoke: ``key``, ``ttl_ms``, ``now_ms``.
``key_read`` / ``final_keys`` — Redis reads. invoke: ``keys`` (list), ``now_ms``; completion
    ``ok``: ``value`` = the keys that exist (``EXISTS``, or a non-null result).

Findings: ``expired-too-late`` (a document found after expiry + ``ttl_lag_ms``), ``removed-too-early``
(a document acknowledged before the read began, not found although the read ended before its
expiry), ``ttl-expired-too-late`` (a Redis key found after the latest deadline any of its TTL writes
invoked before the read completed could have set: completion time + ttl, never for a write that
never completed).

Assumes documents are never deleted or re-inserted by the workload, and every write of a TTL'd
Redis key is a ``ttl_write``. Removal of Redis keys before their TTL (eviction, lost writes) is not
judged here. Unknown-outcome inserts may or may not exist; once found, they must expire too.

Phantoms are violations: ``phantom-document`` (a document found that no ``doc_insert`` that did
not fail wrote) and ``phantom-key`` (a Redis key found that no ``ttl_write`` that did not fail,
invoked before the read completed, wrote).

File order is not time order (a completion line can follow a later one): one small record per
document, per TTL write and per key of a read is kept, and everything is judged in ``finish`` by
the recorded times.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from harness.checkers._common import Examples, as_num, wall_window
from harness.checkers.compose import fold
from harness.checkers.verdict import Status, Verdict, run_ms
from harness.history.loader import Op
from harness.ops import OpType

# the members once: each OpType.X is an enum-class lookup (~200 ns), several per op and checker
_OK, _FAIL = OpType.OK, OpType.FAIL

NAME = "retention"
#: The anomaly kinds this checker's examples (and ``details["violations_by_kind"]``) can name.
KINDS: frozenset[str] = frozenset(
    {"removed-too-early", "expired-too-late", "ttl-expired-too-late", "phantom-document", "phantom-key"}
)

DAY_MS = 86_400_000.0
RETENTION_MS: Mapping[str, float] = {
    "standard": 90 * DAY_MS,
    "audit": 365 * DAY_MS,
    "aggregates": 180 * DAY_MS,
}
#: One TTL monitor period (ttlMonitorSleepSecs = 60) plus up to as long again for a pass under load.
TTL_LAG_MS = 120_000.0

_DOC_READS = frozenset({"doc_read", "final_docs"})
_KEY_READS = frozenset({"key_read", "final_keys"})


@dataclass(slots=True)
class _Doc:
    expires_ms: float
    op_id: int
    acked_ns: int | None  # earliest completion of an ok insert; None when none was acknowledged
    retention_class: str
    maybe: bool = False  # an insert that did not fail: the document may exist


class _Seen(NamedTuple):
    """One key of one read: what the checker needs to judge it in ``finish``."""

    op_id: int
    f: str
    invoke_ns: int
    complete_ns: int
    start_ms: float
    end_ms: float
    found: bool
    primary: bool


class Retention:
    name = NAME

    def __init__(
        self,
        *,
        retention_ms: Mapping[str, float] = RETENTION_MS,
        ttl_lag_ms: float = TTL_LAG_MS,
        clock_skew_ms: float = 1_000.0,
    ) -> None:
        self.fs: frozenset[str] | None = frozenset({"doc_insert", "ttl_write"}) | _DOC_READS | _KEY_READS
        self.retention_ms = dict(retention_ms)
        self.ttl_lag_ms = ttl_lag_ms
        self.clock_skew_ms = clock_skew_ms
        self._docs: dict[str, _Doc] = {}
        self._doc_reads: dict[str, list[_Seen]] = {}
        # Redis key -> (invoke_ns, latest possible deadline, op id) of its TTL writes that did not fail
        self._ttl_writes: dict[str, list[tuple[int, float, int]]] = {}
        self._key_reads: dict[str, list[_Seen]] = {}  # Redis key -> reads that found it
        #: Redis key -> (completed at ns, started at wall ms) of each read that did not find it: the
        #: evidence that retention held, once the key's TTL had surely run out
        self._key_absent: dict[str, list[tuple[int, float]]] = {}
        self._examples = Examples()
        self._judged = {"docs": 0, "keys": 0}
        self._ops: dict[str, int] = {}
        self._malformed = 0

    # --- MongoDB documents ----------------------------------------------------------------------

    def _insert(self, op: Op) -> None:
        key = op.get("key")
        cls = op.get("retention_class")
        expires = as_num(op.get("expires_at_ms"))
        if expires is None:
            created = as_num(op.get("created_ms"))
            period = self.retention_ms.get(cls) if isinstance(cls, str) else None
            expires = None if created is None or period is None else created + period
        if not isinstance(key, str) or expires is None:
            self._malformed += 1
            return
        doc = self._docs.get(key)
        if doc is None:
            doc = self._docs[key] = _Doc(expires, op.id, None, str(cls))
        if op.outcome == _FAIL:
            return
        doc.maybe = True
        acked = op.complete_ns if op.outcome == _OK else None
        if acked is not None and (doc.acked_ns is None or acked < doc.acked_ns):
            doc.acked_ns, doc.op_id, doc.expires_ms = acked, op.id, expires

    def _judge_doc(self, key: str, seen: _Seen) -> None:
        doc = self._docs.get(key)
        if doc is None or not doc.maybe:
            if seen.found:  # no insert that did not fail: nothing can have stored it
                self._phantom("phantom-document", key, seen, "no doc_insert that did not fail")
            return
        if not seen.primary:
            return  # a secondary applies the primary's inserts and TTL deletes late, by its lag
        if seen.found:
            self._judged["docs"] += 1
            if seen.start_ms > doc.expires_ms + self.ttl_lag_ms + self.clock_skew_ms:
                self._doc_example("expired-too-late", key, doc, seen)
            return
        if doc.acked_ns is None or doc.acked_ns >= seen.invoke_ns:
            return  # may not exist yet (or ever)
        self._judged["docs"] += 1
        if seen.end_ms < doc.expires_ms - self.clock_skew_ms:
            self._doc_example("removed-too-early", key, doc, seen)

    def _doc_example(self, kind: str, key: str, doc: _Doc, seen: _Seen) -> None:
        self._examples.add(
            seen.invoke_ns,
            {
                "kind": kind,
                "key": key,
                "retention_class": doc.retention_class,
                "op": seen.op_id,
                "f": seen.f,
                "observed": "present" if kind == "expired-too-late" else "absent",
                "invoke_ms": run_ms(seen.invoke_ns),
                "complete_ms": run_ms(seen.complete_ns),
                "observed_wall_ms": [seen.start_ms, seen.end_ms],
                "expires_at_ms": doc.expires_ms,
                "past_expiry_ms": round(seen.start_ms - doc.expires_ms, 3),
                "insert_op": doc.op_id,
            },
        )

    def _phantom(self, kind: str, key: str, seen: _Seen, reason: str) -> None:
        self._examples.add(
            seen.invoke_ns,
            {
                "kind": kind,
                "key": key,
                "op": seen.op_id,
                "f": seen.f,
                "observed": "present",
                "reason": f"found, but {reason} was invoked before the read completed",
                "invoke_ms": run_ms(seen.invoke_ns),
                "complete_ms": run_ms(seen.complete_ns),
                "observed_wall_ms": [seen.start_ms, seen.end_ms],
            },
        )

    # --- Redis keys -----------------------------------------------------------------------------

    def _ttl_write(self, op: Op, window: tuple[float, float]) -> None:
        key = op.get("key")
        ttl = as_num(op.get("ttl_ms"))
        if not isinstance(key, str) or ttl is None:
            self._malformed += 1
            return
        if op.outcome == _FAIL:
            return
        self._ttl_writes.setdefault(key, []).append((op.invoke_ns, window[1] + ttl, op.id))

    def _deadlines(self, key: str) -> tuple[list[int], list[tuple[float, int]]]:
        """``key``'s TTL writes by invoke time, and for each prefix of them the latest deadline any
        could have set, with its op: a read completed at ``t`` is bounded by the prefix of writes
        invoked before ``t``."""
        writes = sorted(self._ttl_writes.get(key, []))
        best: list[tuple[float, int]] = []
        top: tuple[float, int] = (-math.inf, -1)
        for _, deadline, op_id in writes:
            if deadline > top[0]:
                top = (deadline, op_id)
            best.append(top)
        return [w[0] for w in writes], best

    def _judge_keys(self, key: str, reads: list[_Seen]) -> None:
        """The reads that found ``key``, against the TTL writes invoked before each completed."""
        times, best = self._deadlines(key)
        for seen in reads:
            self._judged["keys"] += 1
            i = bisect_left(times, seen.complete_ns)
            if i == 0:
                self._phantom("phantom-key", key, seen, "no ttl_write that did not fail")
                continue
            upper, upper_op = best[i - 1]
            if seen.start_ms <= upper + self.clock_skew_ms:
                continue
            self._examples.add(
                seen.invoke_ns,
                {
                    "kind": "ttl-expired-too-late",
                    "key": key,
                    "op": seen.op_id,
                    "f": seen.f,
                    "observed": "present",
                    "invoke_ms": run_ms(seen.invoke_ns),
                    "complete_ms": run_ms(seen.complete_ns),
                    "observed_wall_ms": [seen.start_ms, seen.end_ms],
                    "deadline_at_most_ms": upper,
                    "deadline_op": upper_op,
                    "past_deadline_ms": round(seen.start_ms - upper, 3),
                },
            )

    def _judge_absent_keys(self, key: str, absent: list[tuple[int, float]]) -> None:
        """A read that did not find ``key`` after the latest deadline its TTL writes invoked before
        the read completed could have set is a judged observation that retention held (the same
        bound a read finding it is a violation past). Earlier, the key may simply not be due yet,
        and removal before the TTL is not judged here."""
        times, best = self._deadlines(key)
        for complete_ns, start_ms in absent:
            i = bisect_left(times, complete_ns)
            if i and start_ms > best[i - 1][0] + self.clock_skew_ms:
                self._judged["keys"] += 1

    # --- dispatch -------------------------------------------------------------------------------

    def observe(self, op: Op) -> None:
        self._ops[op.f] = self._ops.get(op.f, 0) + 1
        if op.f == "doc_insert":
            self._insert(op)
            return
        window = wall_window(op)
        if window is None:
            self._malformed += 1
            return
        if op.f == "ttl_write":
            self._ttl_write(op, window)
            return
        if op.outcome != _OK or op.completion is None or op.complete_ns is None:
            return
        keys, found = op.get("keys"), op.completion.get("value")
        if not isinstance(keys, list) or not isinstance(found, list):
            self._malformed += 1
            return
        present = set(found)
        start, end = window
        primary = op.get("read_pref", "primary") == "primary"
        is_key_read = op.f in _KEY_READS
        for key in keys:
            if not isinstance(key, str):
                continue
            seen = _Seen(op.id, op.f, op.invoke_ns, op.complete_ns, start, end, key in present, primary)
            if is_key_read:
                if seen.found:
                    self._key_reads.setdefault(key, []).append(seen)
                else:
                    self._key_absent.setdefault(key, []).append((op.complete_ns, start))
            else:
                self._doc_reads.setdefault(key, []).append(seen)

    def finish(self) -> Verdict:
        for key, reads in self._doc_reads.items():
            for seen in reads:
                self._judge_doc(key, seen)
        for key, reads in self._key_reads.items():
            self._judge_keys(key, reads)
        for key, absent in self._key_absent.items():
            self._judge_absent_keys(key, absent)
        n = self._examples.count
        by_kind = self._examples.by_kind
        details: dict[str, Any] = {
            "violations_by_kind": dict(self._examples.by_kind),
            "documents": len(self._docs),
            "redis_keys": len(self._ttl_writes.keys() | self._key_reads.keys()),
            "observations_judged": self._judged,
            "by_kind": by_kind,
            "found_but_never_inserted": by_kind.get("phantom-document", 0),
            "found_but_never_written": by_kind.get("phantom-key", 0),
            "ttl_lag_ms": self.ttl_lag_ms,
            "clock_skew_ms": self.clock_skew_ms,
            "ops": self._ops,
            "malformed_ops": self._malformed,
        }
        judged = self._judged["docs"] + self._judged["keys"]
        if judged == 0 and n == 0:
            return Verdict(NAME, "unknown", 0, "no read of an inserted document or TTL key", details=details)
        status: Status = "invalid" if n else "valid"
        summary = f"{judged} observations: {n} outside retention"
        if self._judged["docs"] or self._docs:  # the TTL monitor's lag only bears on documents
            summary += f" (TTL monitor lag allowed {self.ttl_lag_ms:g} ms)"
        return Verdict(NAME, status, n, summary, self._examples.examples(), details)


def check_retention(ops: Iterable[Op], **params: Any) -> Verdict:
    return fold(Retention(**params), ops)
