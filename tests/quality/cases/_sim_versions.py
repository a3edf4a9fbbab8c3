"""The simulated platform's versioned records (:mod:`harness.bench.sim.versions`) driven by hypothesis
steps: a correct replicated store seen through client sessions (read-your-writes and monotonic reads
hold; reads of *other* sessions' writes may be stale, as on a lagging secondary)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from harness.bench.sim.versions import Versions
from tests.quality.cases._sim import MS, History, ops_by_id

SESSIONS = 4
KEYS = ["profile:t0:u1", "profile:t1:u2"]
OUTCOMES = ["ok", "ok", "ok", "ok", "fail", "info", None]
PREFS = ["primary", "secondaryPreferred", "nearest"]

# session, key, write?, outcome, applied (unknown outcomes), latency ms, gap ms, pick in [0, 1000]
Step = tuple[int, int, bool, str | None, bool, int, int, int]
step_st = st.tuples(
    st.integers(0, SESSIONS - 1),
    st.integers(0, len(KEYS) - 1),
    st.booleans(),
    st.sampled_from(OUTCOMES),
    st.booleans(),
    st.integers(1, 6),
    st.integers(0, 3),
    st.integers(0, 1000),
)
steps_st = st.lists(step_st, max_size=60)


#: Every history starts with a write and two reads by one session, so there is always something to judge.
PRELUDE: list[Step] = [(0, 0, True, "ok", False, 1, 0, 0), (0, 0, False, "ok", False, 1, 0, 1000)] * 2


def simulate(steps: list[Step]) -> list[dict[str, Any]]:
    steps = PRELUDE + steps
    h = History()
    store = Versions(h)
    ready = [0] * SESSIONS
    dead = [False] * SESSIONS
    t = 0
    for s, k, is_write, outcome, applied, latency, gap, pick in steps:
        if dead[s]:
            continue  # its last op never completed: the run ended for it
        key = KEYS[k]
        t = max(t + MS, ready[s])
        invoke, done = t, t + latency * MS + 1
        ready[s] = done + 1
        dead[s] = outcome is None
        at = (f"s{s}", key, key.split(":")[1])
        if is_write:
            store.write(f"p{s}", invoke, done, at, outcome, applied, {})
        else:
            low = store.floor(at[0], key)
            version = low + (store.latest(key) - low) * pick // 1000
            store.read(f"p{s}", invoke, done, at, version, outcome, {"read_pref": PREFS[pick % len(PREFS)]})
        t += gap * MS
    return h.file_order()


def own_write_floors(records: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """(read id, newest own acknowledged version before it) for ok reads that follow an own write."""
    ops = sorted(ops_by_id(records).values(), key=lambda o: o.invoke_ns)
    out = []
    for r in ops:
        if r.f != "read" or r.outcome != "ok":
            continue
        own = [
            w.value
            for w in ops
            if w.f == "write"
            and w.outcome == "ok"
            and w.get("session") == r.get("session")
            and w.get("key") == r.get("key")
            and w.complete_ns is not None
            and w.complete_ns < r.invoke_ns
        ]
        if own and max(own) >= 1:
            out.append((r.id, max(own)))
    return out


def written_bounds(records: list[dict[str, Any]]) -> list[tuple[int, int, bool]]:
    """(read id, highest version its key can hold when the read completed, hidden) for ok reads:
    the highest version an ok write invoked by then returned, plus one per write of unknown outcome
    invoked by then (``hidden``: there was one). One more is a version never written."""
    ops = sorted(ops_by_id(records).values(), key=lambda o: o.invoke_ns)
    out = []
    for r in ops:
        if r.f != "read" or r.outcome != "ok" or r.complete_ns is None:
            continue
        writes = [
            w for w in ops if w.f == "write" and w.get("key") == r.get("key") and w.invoke_ns <= r.complete_ns
        ]
        acked = max((w.value for w in writes if w.outcome == "ok"), default=0)
        unknown = sum(1 for w in writes if w.outcome not in ("ok", "fail"))
        out.append((r.id, acked + unknown, unknown > 0))
    return out


def earlier_read_floors(records: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """(read id, highest version an earlier completed read of its session saw), where that is >= 1."""
    ops = sorted(ops_by_id(records).values(), key=lambda o: o.invoke_ns)
    out = []
    for r in ops:
        if r.f != "read" or r.outcome != "ok":
            continue
        seen = [
            e.value or 0
            for e in ops
            if e.f == "read"
            and e.outcome == "ok"
            and e.id != r.id
            and e.get("session") == r.get("session")
            and e.get("key") == r.get("key")
            and e.complete_ns is not None
            and e.complete_ns < r.invoke_ns
        ]
        if seen and max(seen) >= 1:
            out.append((r.id, max(seen)))
    return out
