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

* ``phantom-session`` — an observation found a session that no create or touch invoked before
  the observation completed (itself excluded) could have made: a session nobody created.

File order is not time order (a completion line can follow a later one), so nothing is judged on
arrival: per key a frontier of certain deadlines, the possible extensions (invoke time, deadline)
and the observations (a few numbers each) are kept, and judged in ``finish`` by recorded times.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from harness.checkers._common import Examples, MaxFrontier, as_num, wall_window
from harness.checkers.compose import fold
from harness.checkers.verdict import Status, Verdict, run_ms
from harness.history.loader import Op
from harness.ops import OpType

# the members once: each OpType.X is an enum-class lookup (~200 ns), several per op and checker
_OK, _FAIL = OpType.OK, OpType.FAIL

NAME = "sessions"
#: The anomaly kinds this checker's examples (and ``details["violations_by_kind"]``) can name.
KINDS: frozenset[str] = frozenset({"session-lost", "session-outlived-ttl", "phantom-session"})

_CREATE, _TOUCH, _READ, _DESTROY, _FINAL = (
    "session_create",
    "session_touch",
    "session_read",
    "session_destroy",
    "final_sessions",
)
_US = 1000  # certain deadlines are kept as integer microseconds in the frontier


class _Obs(NamedTuple):
    op_id: int
    f: str
    invoke_ns: int
    complete_ns: int
    found: bool
    start_ms: float
    end_ms: float


@dataclass
class _Session:
    certain: MaxFrontier = field(default_factory=MaxFrontier)  # complete_ns -> start + ttl
    extensions: list[tuple[int, float, int]] = field(default_factory=list)  # invoke_ns, deadline, op
    first_destroy_ns: float = math.inf  # invoke of the earliest destroy that may have run
    observations: list[_Obs] = field(default_factory=list)
    tenant: Any = None


def _latest_before(
    extensions: list[tuple[int, float, int]],
) -> tuple[list[int], list[tuple[float, int]], list[tuple[float, int]]]:
    """Sorted invoke times and, per prefix, the largest and second largest possible deadline (so
    an observation can leave itself out)."""
    extensions.sort()
    times = [e[0] for e in extensions]
    best: list[tuple[float, int]] = []
    second: list[tuple[float, int]] = []
    b1: tuple[float, int] = (-math.inf, -1)
    b2: tuple[float, int] = (-math.inf, -1)
    for _, deadline, op_id in extensions:
        if deadline > b1[0]:
            b1, b2 = (deadline, op_id), b1
        elif deadline > b2[0]:
            b2 = (deadline, op_id)
        best.append(b1)
        second.append(b2)
    return times, best, second


class Sessions:
    name = NAME

    def __init__(self, *, ttl_ms: float = 1_800_000.0, clock_skew_ms: float = 1_000.0) -> None:
        self.fs: frozenset[str] | None = frozenset({_CREATE, _TOUCH, _READ, _DESTROY, _FINAL})
        self.ttl_ms = ttl_ms
        self.clock_skew_ms = clock_skew_ms
        self._sessions: dict[str, _Session] = {}
        self._examples = Examples()
        self._judged = 0
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
            if op.outcome != _OK:
                return
            if not isinstance(keys, list) or not isinstance(listed, list):
                self._malformed += 1
                return
            present = set(listed)
            for key in keys:
                if isinstance(key, str):
                    self._observation(op, self._state(key), key in present, window)
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
            if op.outcome != _FAIL:
                st.first_destroy_ns = min(st.first_destroy_ns, op.invoke_ns)
            return
        found: bool | None = None
        if op.outcome == _OK and op.f in (_TOUCH, _READ):
            value = op.completion.get("value") if op.completion is not None else None
            found = bool(value)
            self._observation(op, st, found, window)
        extends = op.f == _CREATE or (op.f == _TOUCH and found is not False)
        if not extends or op.outcome == _FAIL:
            return
        if op.outcome == _OK and op.complete_ns is not None:  # certainly applied
            st.certain.add(op.complete_ns, math.floor((window[0] + ttl) * _US), op.id)
        # possibly applied at any time up to its completion (never completed: the session may live on)
        st.extensions.append((op.invoke_ns, window[1] + ttl, op.id))

    @staticmethod
    def _observation(op: Op, st: _Session, found: bool, window: tuple[float, float]) -> None:
        done = op.complete_ns if op.complete_ns is not None else op.invoke_ns
        st.observations.append(_Obs(op.id, op.f, op.invoke_ns, done, found, window[0], window[1]))

    def _judge(self, key: str, st: _Session) -> None:
        """By the recorded times, whatever the order of the lines in the file."""
        times, best, second = _latest_before(st.extensions)
        for obs in st.observations:
            if obs.found:
                self._judged += 1
                i = bisect_left(times, obs.complete_ns)  # extensions invoked before it completed
                upper: tuple[float, int] = (-math.inf, -1)
                if i:
                    upper = best[i - 1] if best[i - 1][1] != obs.op_id else second[i - 1]
                if upper[0] == -math.inf:
                    self._add("phantom-session", key, st, obs, None, None)
                elif upper[0] < obs.start_ms - self.clock_skew_ms:
                    self._add("session-outlived-ttl", key, st, obs, upper[0], upper[1])
                continue
            certain = st.certain.before(obs.invoke_ns)
            if certain is None:
                continue  # nothing guaranteed it existed
            self._judged += 1
            deadline = certain[0] / _US
            if deadline > obs.end_ms + self.clock_skew_ms and not st.first_destroy_ns < obs.complete_ns:
                self._add("session-lost", key, st, obs, deadline, certain[1])

    def _add(
        self, kind: str, key: str, st: _Session, obs: _Obs, bound_ms: float | None, bound_op: int | None
    ) -> None:
        example: dict[str, Any] = {
            "kind": kind,
            "key": key,
            "tenant": st.tenant,
            "op": obs.op_id,
            "f": obs.f,
            "observed": "absent" if kind == "session-lost" else "present",
            "invoke_ms": run_ms(obs.invoke_ns),
            "complete_ms": run_ms(obs.complete_ns),
            "observed_wall_ms": [obs.start_ms, obs.end_ms],
        }
        if kind == "phantom-session":
            example["reason"] = "found, but no op that could create it was invoked before"
        else:
            bound = "deadline_at_least_ms" if kind == "session-lost" else "deadline_at_most_ms"
            example[bound] = bound_ms
            example["deadline_op"] = bound_op
        self._examples.add(obs.invoke_ns, example)

    def finish(self) -> Verdict:
        for key, st in self._sessions.items():
            self._judge(key, st)
        n = self._examples.count
        by_kind = self._examples.by_kind
        details: dict[str, Any] = {
            "violations_by_kind": dict(self._examples.by_kind),
            "sessions": len(self._sessions),
            "ops": self._ops,
            "observations_judged": self._judged,
            "lost": by_kind.get("session-lost", 0),
            "outlived_ttl": by_kind.get("session-outlived-ttl", 0),
            "phantom": by_kind.get("phantom-session", 0),
            "ttl_ms": self.ttl_ms,
            "clock_skew_ms": self.clock_skew_ms,
            "malformed_ops": self._malformed,
        }
        if self._judged == 0:
            return Verdict(NAME, "unknown", 0, "no session observation could be judged", details=details)
        status: Status = "invalid" if n else "valid"
        summary = (
            f"{self._judged} session observations: {details['lost']} lost within their TTL, "
            f"{details['outlived_ttl']} alive past it, {details['phantom']} found that no op created"
        )
        return Verdict(NAME, status, n, summary, self._examples.examples(), details)


def check_sessions(ops: Iterable[Op], **params: Any) -> Verdict:
    return fold(Sessions(**params), ops)
