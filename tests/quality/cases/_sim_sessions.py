"""The simulated platform's sessions (:mod:`harness.bench.sim.sessions`) driven by hypothesis steps: a
correct Redis session store with a sliding TTL (``HSET``+``EXPIRE``, ``HGETALL``+``EXPIRE``)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from harness.bench.sim.sessions import Sessions
from harness.history.loader import Op
from tests.quality.cases._sim import MS, History, ops_by_id

TTL_MS = 50
SKEW_MS = 1
KEYS = [f"session:t{i % 2}:s{i}" for i in range(4)]
ACTIONS = ["session_create", "session_touch", "session_touch", "session_read", "session_destroy"]
OUTCOMES = ["ok", "ok", "ok", "ok", "fail", "info", None]

# session, action, outcome, applied (unknown outcomes), latency ms, gap ms
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


def simulate(steps: list[Step]) -> list[dict[str, Any]]:
    h = History()
    store = Sessions(h, TTL_MS)
    t = 0
    plan = [(PRELUDE_KEY, 0, "ok", False, 1, 1), (PRELUDE_KEY, 3, "ok", False, 1, 1)]
    plan += [(KEYS[k], a, o, ap, lat, gap) for k, a, o, ap, lat, gap in steps]
    for n, (key, action, outcome, applied, latency, gap) in enumerate(plan):
        t += MS  # the op takes effect when it is sent
        value = {"user_id": f"u{n}", "role": "admin"}
        store.op(
            f"c{n % 3}",
            ACTIONS[action],
            t,
            t + latency * MS,
            (key, key.split(":")[1]),
            outcome,
            applied,
            value,
        )
        t += gap * MS
    t += FINAL_AFTER_MS * MS
    store.final(t, [PRELUDE_KEY, *KEYS], MS, MS, len(KEYS) + 1)
    return h.file_order()


def _window(op: Op) -> tuple[float, float]:
    start = float(op.get("now_ms"))
    end = start + ((op.complete_ns or 0) - op.invoke_ns) / MS if op.complete_ns is not None else float("inf")
    return start, end


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


def candidates(records: list[dict[str, Any]], found: bool) -> list[tuple[int, str]]:
    """Observations (op id, key) that the model guarantees: ``found`` ones whose session was certainly
    alive (flip one: a lost session), or absent ones certainly past every possible deadline (flip one:
    a session that outlived its TTL)."""
    ops = sorted(ops_by_id(records).values(), key=lambda o: o.invoke_ns)
    out = []
    for r in ops:
        start, end = _window(r)
        for key, seen in _observations(r):
            if seen != found:
                continue
            mine = [o for o in ops if o.get("key") == key and o.id != r.id]
            if any(
                o.f == "session_destroy" and o.outcome != "fail" and o.invoke_ns < (r.complete_ns or 0)
                for o in mine
            ):
                continue
            if found:
                certain = [
                    _window(o)[0] + TTL_MS
                    for o in mine
                    if o.outcome == "ok"
                    and (o.complete_ns or 0) < r.invoke_ns
                    and (o.f == "session_create" or (o.f == "session_touch" and o.value))
                ]
                if certain and max(certain) > end + 2 * SKEW_MS:
                    out.append((r.id, key))
            else:
                possible = [
                    _window(o)[1] + TTL_MS
                    for o in mine
                    if o.outcome != "fail"
                    and o.invoke_ns < (r.complete_ns or 0)
                    and (
                        o.f == "session_create" or (o.f == "session_touch" and (o.outcome != "ok" or o.value))
                    )
                ]
                if possible and max(possible) < start - 2 * SKEW_MS:
                    out.append((r.id, key))
    return out
