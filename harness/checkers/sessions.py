"""Checker: a session touched within its sliding TTL is never lost; one left idle past it is gone.

The platform keeps user sessions in Redis hashes ``session:{tenant}:{session_id}`` (``HSET`` +
``EXPIRE`` on creation, 30 minutes) and slides the TTL on every use (``HGETALL`` then ``EXPIRE``, in
one ``MULTI``). A failover that loses writes (asynchronous replication) loses sessions users are
still using; a TTL that is not set (or a clock problem) keeps idle sessions alive.

Op vocabulary (every invoke has ``key`` = the session's Redis key, ``tenant``, and ``now_ms`` = the
client's wall clock in ms just before sending; the completion may carry its own ``now_ms``,
otherwise the op's duration is added; optional ``ttl_ms`` overrides the checker's ``ttl_ms``):

``session_create`` — ``HSET`` + ``EXPIRE ttl``. Sets the deadline to (when it ran) + ttl.
``session_touch`` — ``HGETALL`` + ``EXPIRE ttl`` (or ``GETEX`` on a string session).
    completion ``ok``: ``value`` = the session (any non-empty value) or null / ``{}`` when not found.
    Extends the deadline only when found.
``session_read`` — ``HGETALL`` without extending (``getSession(extendTTL=false)``); same value.
``session_destroy`` — ``DEL`` (logout). After it, absence is not a loss.
``final_sessions`` — after healing: invoke ``keys`` (list of session keys) and ``now_ms``;
    completion ``ok``: ``value`` = the list of those keys that exist (``EXISTS``, no extension).

Judgement (server clock = client wall clock, up to ``clock_skew_ms``):

* ``session-lost`` — an observation found no session although an acknowledged create or a touch
  that found it, completed before the observation began, had started less than ttl before the
  observation ended, and no destroy (of any outcome except ``fail``) was invoked before the
  observation completed;
* ``session-outlived-ttl`` — an observation found the session although every op that could have
  set or extended its TTL (creates and touches that did not fail or find nothing, invoked before
  the observation completed, the observation itself excluded) ended more than ttl before the
  observation began. An extension whose outcome is unknown counts as possibly applied, at any time
  up to its completion (never, if it never completed: then the session may live on).

Assumes one TTL per session (every extension sets the same ttl) and that the workload records
every op that creates, extends or deletes a session key.

Streaming: per key a frontier of certain deadlines and the largest possible deadline; observations
that look wrong on arrival are kept as suspects and cleared in ``finish`` by ops that arrive later
(still in flight at the time, or destroys), so memory is per session plus the suspects.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.checkers._common import Examples, MaxFrontier, as_num, wall_window
from harness.checkers.compose import fold
from harness.checkers.verdict import Status, Verdict, run_ms
from harness.history.loader import Op
from harness.ops import OpType

NAME = "sessions"

_CREATE, _TOUCH, _READ, _DESTROY, _FINAL = (
    "session_create",
    "session_touch",
    "session_read",
    "session_destroy",
    "final_sessions",
)
_US = 1000  # certain deadlines are kept as integer microseconds in the frontier


@dataclass
class _Suspect:
    kind: str
    op: Op
    start_ms: float
    end_ms: float
    bound_ms: float  # lost: the certain deadline; outlived: the largest possible deadline
    bound_op: int | None


@dataclass
class _Session:
    certain: MaxFrontier = field(default_factory=MaxFrontier)  # complete_ns -> start + ttl
    upper_ms: float = -math.inf  # largest possible deadline over the extensions arrived so far
    upper_op: int | None = None
    destroys: list[int] = field(default_factory=list)  # invoke_ns of destroys that may have run
    suspects: list[_Suspect] = field(default_factory=list)
    tenant: Any = None


class Sessions:
    name = NAME

    def __init__(self, *, ttl_ms: float = 1_800_000.0, clock_skew_ms: float = 1_000.0) -> None:
        self.fs: frozenset[str] | None = frozenset({_CREATE, _TOUCH, _READ, _DESTROY, _FINAL})
        self.ttl_ms = ttl_ms
        self.clock_skew_ms = clock_skew_ms
        self._sessions: dict[str, _Session] = {}
        self._examples = Examples()
        self._judged = 0
        self._unexplained = 0  # found, but no op that could have created it was recorded
        self._malformed = 0
        self._ops: dict[str, int] = {}

    def _state(self, key: str) -> _Session:
        st = self._sessions.get(key)
        if st is None:
            st = self._sessions[key] = _Session()
        return st

    def observe(self, op: Op) -> None:
        self._ops[op.f] = self._ops.get(op.f, 0) + 1
        window = wall_window(op)
        if window is None:
            self._malformed += 1
            return
        if op.f == _FINAL:
            keys = op.get("keys")
            listed = op.completion.get("value") if op.completion is not None else None
            if op.outcome != OpType.OK or not isinstance(keys, list) or not isinstance(listed, list):
                return
            present = set(listed)
            for key in keys:
                if isinstance(key, str):
                    self._observation(op, key, self._state(key), key in present, window)
            return
        key = op.get("key")
        if not isinstance(key, str):
            self._malformed += 1
            return
        st = self._state(key)
        st.tenant = op.get("tenant", st.tenant)
        ttl = as_num(op.get("ttl_ms"))
        ttl = self.ttl_ms if ttl is None else ttl
        if op.f == _DESTROY:
            if op.outcome != OpType.FAIL:
                st.destroys.append(op.invoke_ns)
            return
        found: bool | None = None
        if op.outcome == OpType.OK and op.f in (_TOUCH, _READ):
            value = op.completion.get("value") if op.completion is not None else None
            found = bool(value)
            self._observation(op, key, st, found, window)
        extends = op.f == _CREATE or (op.f == _TOUCH and found is not False)
        if not extends or op.outcome == OpType.FAIL:
            return
        if op.outcome == OpType.OK and op.complete_ns is not None:  # certainly applied
            st.certain.add(op.complete_ns, math.floor((window[0] + ttl) * _US), op.id)
        self._extension(st, op, window[1] + ttl)

    def _extension(self, st: _Session, op: Op, deadline_ms: float) -> None:
        """A possible extension up to ``deadline_ms``; clears suspects it explains."""
        if deadline_ms > st.upper_ms:
            st.upper_ms, st.upper_op = deadline_ms, op.id
        if st.suspects:
            st.suspects = [
                s
                for s in st.suspects
                if not (
                    s.kind == "session-outlived-ttl"
                    and s.op.id != op.id
                    and op.invoke_ns < (s.op.complete_ns or math.inf)
                    and deadline_ms >= s.start_ms - self.clock_skew_ms
                )
            ]

    def _observation(self, op: Op, key: str, st: _Session, found: bool, window: tuple[float, float]) -> None:
        start, end = window
        if found:
            if st.upper_ms < start - self.clock_skew_ms:
                st.suspects.append(_Suspect("session-outlived-ttl", op, start, end, st.upper_ms, st.upper_op))
            self._judged += 1
            return
        certain = st.certain.before(op.invoke_ns)
        if certain is None:
            return  # nothing guaranteed it existed
        self._judged += 1
        deadline = certain[0] / _US
        if deadline > end + self.clock_skew_ms:
            st.suspects.append(_Suspect("session-lost", op, start, end, deadline, certain[1]))

    def finish(self) -> Verdict:
        for key, st in self._sessions.items():
            for s in st.suspects:
                done = s.op.complete_ns if s.op.complete_ns is not None else math.inf
                if s.kind == "session-lost" and any(ns < done for ns in st.destroys):
                    continue
                if s.kind == "session-outlived-ttl" and s.bound_ms == -math.inf:
                    self._unexplained += 1  # no recorded op created it: not a TTL question
                    continue
                bound = "deadline_at_least_ms" if s.kind == "session-lost" else "deadline_at_most_ms"
                self._examples.add(
                    s.op.invoke_ns,
                    {
                        "kind": s.kind,
                        "key": key,
                        "tenant": st.tenant,
                        "op": s.op.id,
                        "f": s.op.f,
                        "observed": "absent" if s.kind == "session-lost" else "present",
                        "invoke_ms": run_ms(s.op.invoke_ns),
                        "complete_ms": run_ms(s.op.complete_ns),
                        "observed_wall_ms": [s.start_ms, s.end_ms],
                        bound: s.bound_ms,
                        "deadline_op": s.bound_op,
                    },
                )
        n = self._examples.count
        by_kind = self._examples.by_kind
        details: dict[str, Any] = {
            "sessions": len(self._sessions),
            "ops": self._ops,
            "observations_judged": self._judged,
            "lost": by_kind.get("session-lost", 0),
            "outlived_ttl": by_kind.get("session-outlived-ttl", 0),
            "ttl_ms": self.ttl_ms,
            "clock_skew_ms": self.clock_skew_ms,
            "found_but_never_created": self._unexplained,
            "malformed_ops": self._malformed,
        }
        if self._judged == 0:
            return Verdict(NAME, "unknown", 0, "no session observation could be judged", details=details)
        status: Status = "invalid" if n else "valid"
        summary = (
            f"{self._judged} session observations: {details['lost']} lost within their TTL, "
            f"{details['outlived_ttl']} alive past it"
        )
        return Verdict(NAME, status, n, summary, self._examples.examples(), details)


def check_sessions(ops: Iterable[Op], **params: Any) -> Verdict:
    return fold(Sessions(**params), ops)
