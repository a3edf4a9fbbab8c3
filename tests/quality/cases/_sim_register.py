"""The simulated platform's registers (:mod:`harness.bench.sim.registers`) driven by hypothesis steps:
linearizable, every op taking effect at one instant inside its interval."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from harness.bench.sim.registers import Register
from tests.quality.cases._sim import History, ops_by_id

PROCESSES = 4
KEYS = ["leader:t0", "leader:t1"]
OUTCOMES = ["ok", "ok", "ok", "ok", "info", None]
KINDS = ["read", "write", "cas"]

# process, key, kind (0 read, 1 write, 2 cas), outcome, applied (unknown outcomes), think time,
# duration, effect point in [0, 100] % of the interval
Step = tuple[int, int, int, str | None, bool, int, int, int]
steps_st = st.lists(
    st.tuples(
        st.integers(0, PROCESSES - 1),
        st.integers(0, len(KEYS) - 1),
        st.integers(0, 2),
        st.sampled_from(OUTCOMES),
        st.booleans(),
        st.integers(0, 20),
        st.integers(1, 60),
        st.integers(0, 100),
    ),
    max_size=40,
)
#: Two acknowledged writes, then a read after both: always one read a stale value would break.
PRELUDE: list[Step] = [
    (0, 0, 1, "ok", False, 0, 5, 50),
    (0, 0, 1, "ok", False, 0, 5, 50),
    (1, 0, 0, "ok", False, 20, 5, 50),
]


def simulate(steps: list[Step]) -> list[dict[str, Any]]:
    free_at = [0] * PROCESSES
    dead = [False] * PROCESSES
    planned = []  # (effect time, n, process, key, kind, outcome, applied, call, ret, value)
    for n, (p, k, kind, outcome, applied, think, duration, point) in enumerate(PRELUDE + steps):
        if dead[p]:
            continue
        call = free_at[p] + think + 1
        ret = call + duration
        free_at[p] = ret + 1
        dead[p] = outcome is None
        effect = call + (ret - call) * point // 100
        planned.append((effect, n, p, KEYS[k], kind, outcome, applied, call, ret))
    registers = {key: Register(key) for key in KEYS}
    last_written: dict[str, Any] = dict.fromkeys(KEYS)  # what a CAS expects: the last value written
    h = History()
    rows = []
    for _effect, n, p, key, kind, outcome, applied, call, ret in sorted(planned):
        f, outcome, fields, result = registers[key].apply(KINDS[kind], outcome, applied, n, last_written[key])
        if kind == 1:
            last_written[key] = n
        rows.append((call, ret, p, f, outcome, fields, result))
    for call, ret, p, f, outcome, fields, result in sorted(rows, key=lambda r: r[0]):
        h.call(f"p{p}", f, call * 1000, outcome, ret * 1000, fields, result)
    return h.file_order()


def impossible_reads(records: list[dict[str, Any]]) -> list[tuple[int, Any]]:
    """(read id, a stale value) such that returning it is certainly not linearizable: written by an
    acknowledged write that an acknowledged later write (of another value) followed, both before
    the read began."""
    ops = sorted(ops_by_id(records).values(), key=lambda o: o.invoke_ns)
    writes = [o for o in ops if o.f == "reg_write" and o.outcome == "ok"]
    out = []
    for r in ops:
        if r.f != "reg_read" or r.outcome != "ok":
            continue
        for w in writes:
            if w.get("key") != r.get("key") or (w.complete_ns or 0) >= r.invoke_ns:
                continue
            if any(
                w2.get("key") == w.get("key")
                and w2.invoke_ns > (w.complete_ns or 0)
                and (w2.complete_ns or 0) < r.invoke_ns
                for w2 in writes
            ):
                out.append((r.id, w.get("value")))
    return out
