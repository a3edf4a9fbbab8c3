"""The simulated platform's sessions (:mod:`harness.bench.sim.sessions`) driven by hypothesis steps: a
correct Redis session store with a sliding TTL (``HSET``+``EXPIRE``, ``HGETALL``+``EXPIRE``).

Edge steps (action ``edge``) exercise the bounds from the model's side, with clocks ``SKEW_MS``
apart: a session created as its login completed, read just before that deadline by a client whose
clock is ahead; one created as its login was sent, read absent exactly at its deadline by a client
whose clock is behind (the read ending at deadline - skew). The checker must call both valid; the
mutations (``*_spots``) place their one observation 1 ms past the same bounds."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from harness.bench.sim.sessions import Sessions
from harness.history.loader import Op
from tests.quality.cases._sim import MS, History, ops_by_id, wall_ms

TTL_MS = 50
SKEW_MS = 1
KEYS = [f"session:t{i % 2}:s{i}" for i in range(4)]
ACTIONS = [
    "session_create",
    "session_touch",
    "session_touch",
    "session_read",
    "session_destroy",
    "edge",
]
OUTCOMES = ["ok", "ok", "ok", "ok", "fail", "info", None]

# session, action, outcome, applied (unknown outcomes; edge: late or early), latency ms, gap ms
Step = tuple[int, int, str | None, bool, int, int]
steps_st = st.lists(
    st.tuples(
        st.integers(0, len(KEYS) - 1),
        st.integers(0, len(ACTIONS) - 1),
        st.sampled_from(OUTCOMES),
        st.booleans(),
        st.integers(1, 4),
        st.sampled_from([0, 1, 5, 20, 45, 60]),
    ),
    max_size=50,
)
#: A session created and then used within its TTL, then left idle: always something to judge.
PRELUDE_KEY = "session:t9:prelude"
FINAL_AFTER_MS = 3 * TTL_MS


class _Edges:
    """Edge reads, each emitted once the run reaches the server time it observes (so the store's
    state is the one at that time): (server ns, client ns, key)."""

    def __init__(self, store: Sessions) -> None:
        self.store = store
        self.pending: list[tuple[int, int, str]] = []

    def flush(self, upto_ns: float) -> None:
        for server, client, key in sorted(p for p in self.pending if p[0] < upto_ns):
            self.pending.remove((server, client, key))
            found = self.store.alive(key, wall_ms(server))
            fields = {"key": key, "tenant": key.split(":")[1], "now_ms": wall_ms(client)}
            value = {"user_id": "u-edge", "role": "member"} if found else None
            self.store.sink.call("edge", "session_read", client, "ok", client + MS, fields, {"value": value})

    def step(self, key: str, t: int, done: int, late: bool) -> None:
        self.store.op("edge", "session_create", t, done, (key, key.split(":")[1]), "ok", False)
        if late:  # applied as the login completed; found just before, by a client ahead
            self.store.deadline[key] = wall_ms(done) + TTL_MS
            server = done + TTL_MS * MS - 1000
            self.pending.append((server, server + SKEW_MS * MS, key))
        else:  # gone at its deadline, seen as the read ends, by a client behind
            server = t + TTL_MS * MS
            self.pending.append((server, server - (SKEW_MS + 1) * MS, key))


def simulate(steps: list[Step]) -> list[dict[str, Any]]:
    h = History()
    store = Sessions(h, TTL_MS)
    edges = _Edges(store)
    t = 0
    plan = [(PRELUDE_KEY, 0, "ok", False, 1, 1), (PRELUDE_KEY, 3, "ok", False, 1, 1)]
    plan += [(KEYS[k], a, o, ap, lat, gap) for k, a, o, ap, lat, gap in steps]
    for n, (key, action, outcome, applied, latency, gap) in enumerate(plan):
        t += MS  # the op takes effect when it is sent
        edges.flush(t)
        if ACTIONS[action] == "edge":
            edges.step(key, t, t + latency * MS, applied)
        else:
            value = {"user_id": f"u{n}", "role": "admin"}
            at = (key, key.split(":")[1])
            store.op(f"c{n % 3}", ACTIONS[action], t, t + latency * MS, at, outcome, applied, value)
        t += gap * MS
    edges.flush(float("inf"))
    t = max(t, max(r["time_ns"] for r in h.records)) + FINAL_AFTER_MS * MS
    store.final(t, [PRELUDE_KEY, *KEYS], MS, MS, len(KEYS) + 1)
    return h.file_order()


def _observations(op: Op) -> list[tuple[str, bool]]:
    if op.outcome != "ok":
        return []
    if op.f == "final_sessions":
        return [(k, k in op.value) for k in op.get("keys")]
    if op.f in ("session_touch", "session_read"):
        return [(op.get("key"), bool(op.value))]
    return []


def phantom_spots(records: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """(observation op id, key) of session_read / final_sessions observations that did not find a
    session no create or touch (that did not fail) was invoked on before they completed."""
    ops = sorted(ops_by_id(records).values(), key=lambda o: o.invoke_ns)
    out = []
    for r in ops:
        if r.f not in ("session_read", "final_sessions") or r.complete_ns is None:
            continue
        for key, seen in _observations(r):
            makers = [
                o
                for o in ops
                if o.get("key") == key
                and o.f in ("session_create", "session_touch")
                and o.outcome != "fail"
                and o.invoke_ns < r.complete_ns
            ]
            if not seen and not makers:
                out.append((r.id, key))
    return out


def _extends(o: Op) -> bool:
    """Whether ``o`` may have set or slid its session's TTL (as the invariant counts it)."""
    if o.outcome == "fail":
        return False
    return o.f == "session_create" or (o.f == "session_touch" and (o.outcome != "ok" or bool(o.value)))


def late_found_spots(records: list[dict[str, Any]]) -> list[tuple[str, int, bool]]:
    """(key, run ns, hidden) of a 1 ms read that would find the session 1 ms past the latest
    deadline its extensions invoked before then could have set (completion + ``TTL_MS``, seen by
    a client ``SKEW_MS`` ahead); ``hidden`` when that deadline is an unknown-outcome op's."""
    ops = sorted(ops_by_id(records).values(), key=lambda o: o.invoke_ns)
    out = []
    for key in sorted({str(o.get("key")) for o in ops if o.f == "session_create"}):
        ext = [o for o in ops if o.get("key") == key and _extends(o)]
        best: tuple[int, bool] = (-1, False)
        for i, o in enumerate(ext):
            if o.complete_ns is None:
                break  # may be applied any time later: no deadline from here on
            best = max(best, (o.complete_ns + TTL_MS * MS, o.outcome != "ok"))
            t = best[0] + (SKEW_MS + 1) * MS
            if i + 1 == len(ext) or ext[i + 1].invoke_ns > t + MS:
                out.append((key, t, best[1]))
    return out


def early_absent_spots(records: list[dict[str, Any]]) -> list[tuple[str, int, bool]]:
    """(key, run ns, hidden) of a 1 ms read that would miss the session while ending 1 ms before
    the deadline an acknowledged create (or touch that found it) set, minus the skew, with no
    destroy invoked before; ``hidden`` when an op of unknown outcome on the key came before."""
    ops = sorted(ops_by_id(records).values(), key=lambda o: o.invoke_ns)
    out = []
    for c in ops:
        if c.outcome != "ok" or not _extends(c) or c.complete_ns is None:
            continue
        key = c.get("key")
        t = c.invoke_ns + (TTL_MS - SKEW_MS - 2) * MS
        mine = [o for o in ops if o.get("key") == key and o.invoke_ns < t + MS]
        if c.complete_ns < t and not any(o.f == "session_destroy" and o.outcome != "fail" for o in mine):
            out.append((str(key), t, any(o.outcome != "ok" for o in mine)))
    return out
