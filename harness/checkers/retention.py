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

Streaming: one small record per document and per Redis key; observations that cannot be judged
on arrival (their insert or a TTL write is still to arrive) are kept as suspects until ``finish``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.checkers._common import Examples, as_num, wall_window
from harness.checkers.compose import fold
from harness.checkers.verdict import Status, Verdict, run_ms
from harness.history.loader import Op
from harness.ops import OpType

NAME = "retention"

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
    acked_ns: int | None  # completion of an ok insert; None when the outcome is unknown
    retention_class: str


@dataclass
class _Key:
    upper_ms: float = -math.inf  # latest possible deadline over the TTL writes arrived so far
    upper_op: int | None = None
    suspects: list[tuple[Op, float, float]] = field(default_factory=list)


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
        self._pending: dict[str, list[tuple[Op, float, float]]] = {}  # found before their insert arrived
        self._keys: dict[str, _Key] = {}
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
        if op.outcome == OpType.FAIL:
            return
        acked = op.complete_ns if op.outcome == OpType.OK else None
        doc = self._docs[key] = _Doc(expires, op.id, acked, str(cls))
        for read, start, end in self._pending.pop(key, []):
            self._judge_doc(read, key, doc, True, start, end)

    def _judge_doc(self, op: Op, key: str, doc: _Doc, found: bool, start: float, end: float) -> None:
        if op.get("read_pref", "primary") != "primary":
            return  # a secondary applies the primary's inserts and TTL deletes late, by its lag
        if found:
            self._judged["docs"] += 1
            if start > doc.expires_ms + self.ttl_lag_ms + self.clock_skew_ms:
                self._doc_example("expired-too-late", op, key, doc, start, end)
            return
        if doc.acked_ns is None or doc.acked_ns >= op.invoke_ns:
            return  # may not exist yet (or ever)
        self._judged["docs"] += 1
        if end < doc.expires_ms - self.clock_skew_ms:
            self._doc_example("removed-too-early", op, key, doc, start, end)

    def _doc_example(self, kind: str, op: Op, key: str, doc: _Doc, start: float, end: float) -> None:
        self._examples.add(
            op.invoke_ns,
            {
                "kind": kind,
                "key": key,
                "retention_class": doc.retention_class,
                "op": op.id,
                "f": op.f,
                "observed": "present" if kind == "expired-too-late" else "absent",
                "invoke_ms": run_ms(op.invoke_ns),
                "complete_ms": run_ms(op.complete_ns),
                "observed_wall_ms": [start, end],
                "expires_at_ms": doc.expires_ms,
                "past_expiry_ms": round(start - doc.expires_ms, 3),
                "insert_op": doc.op_id,
            },
        )

    # --- Redis keys -----------------------------------------------------------------------------

    def _ttl_write(self, op: Op, window: tuple[float, float]) -> None:
        key = op.get("key")
        ttl = as_num(op.get("ttl_ms"))
        if not isinstance(key, str) or ttl is None:
            self._malformed += 1
            return
        if op.outcome == OpType.FAIL:
            return
        st = self._keys.setdefault(key, _Key())
        deadline = window[1] + ttl
        if deadline > st.upper_ms:
            st.upper_ms, st.upper_op = deadline, op.id
        if st.suspects:  # a write in flight while a read saw the key explains it
            st.suspects = [
                s
                for s in st.suspects
                if not (
                    op.invoke_ns < (s[0].complete_ns or math.inf) and deadline >= s[1] - self.clock_skew_ms
                )
            ]

    def _judge_key(self, op: Op, key: str, start: float, end: float) -> None:
        st = self._keys.setdefault(key, _Key())
        self._judged["keys"] += 1
        if start > st.upper_ms + self.clock_skew_ms:
            st.suspects.append((op, start, end))

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
        if op.outcome != OpType.OK or op.completion is None:
            return
        keys, found = op.get("keys"), op.completion.get("value")
        if not isinstance(keys, list) or not isinstance(found, list):
            self._malformed += 1
            return
        present = set(found)
        start, end = window
        for key in keys:
            if not isinstance(key, str):
                continue
            if op.f in _KEY_READS:
                if key in present:
                    self._judge_key(op, key, start, end)
                continue
            doc = self._docs.get(key)
            if doc is not None:
                self._judge_doc(op, key, doc, key in present, start, end)
            elif key in present:
                self._pending.setdefault(key, []).append((op, start, end))

    def finish(self) -> Verdict:
        for key, st in self._keys.items():
            for op, start, end in st.suspects:
                if st.upper_op is None:
                    continue  # never written as far as the history knows
                self._examples.add(
                    op.invoke_ns,
                    {
                        "kind": "ttl-expired-too-late",
                        "key": key,
                        "op": op.id,
                        "f": op.f,
                        "observed": "present",
                        "invoke_ms": run_ms(op.invoke_ns),
                        "complete_ms": run_ms(op.complete_ns),
                        "observed_wall_ms": [start, end],
                        "deadline_at_most_ms": st.upper_ms,
                        "deadline_op": st.upper_op,
                        "past_deadline_ms": round(start - st.upper_ms, 3),
                    },
                )
        n = self._examples.count
        details: dict[str, Any] = {
            "documents": len(self._docs),
            "redis_keys": len(self._keys),
            "observations_judged": self._judged,
            "by_kind": self._examples.by_kind,
            "found_but_never_inserted": sum(len(v) for v in self._pending.values()),
            "ttl_lag_ms": self.ttl_lag_ms,
            "clock_skew_ms": self.clock_skew_ms,
            "ops": self._ops,
            "malformed_ops": self._malformed,
        }
        judged = self._judged["docs"] + self._judged["keys"]
        if judged == 0:
            return Verdict(NAME, "unknown", 0, "no read of an inserted document or TTL key", details=details)
        status: Status = "invalid" if n else "valid"
        summary = (
            f"{judged} observations: {n} outside retention (TTL monitor lag allowed {self.ttl_lag_ms:g} ms)"
        )
        return Verdict(NAME, status, n, summary, self._examples.examples(), details)


def check_retention(ops: Iterable[Op], **params: Any) -> Verdict:
    return fold(Retention(**params), ops)
