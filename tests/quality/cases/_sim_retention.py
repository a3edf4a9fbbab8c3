"""The simulated platform's retention (:mod:`harness.bench.sim.retention`) driven by hypothesis steps:
a correct MongoDB TTL monitor (passes every MONITOR_MS, a little late under load) and Redis TTLs."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from harness.bench.sim.core import ttl_removed_at
from harness.bench.sim.retention import Retention
from harness.history.loader import Op
from tests.quality.cases._sim import MS, History, ops_by_id, takes_effect, wall_ms

RETENTION_MS = {"standard": 40.0, "audit": 120.0, "aggregates": 80.0}
CLASSES = list(RETENTION_MS)
MONITOR_MS = 20
PASS_DELAY_MS = 5
TTL_LAG_MS = MONITOR_MS + PASS_DELAY_MS
SKEW_MS = 1
KEY_TTL_MS = 30
OUTCOMES = ["ok", "ok", "ok", "fail", "info", None]
REDIS_KEYS = [f"counter:t{i}:login:2024011510:30" for i in range(3)]

# action (0 insert, 1 doc read, 2 ttl write, 3 key read), class / key index, outcome, applied,
# how many recent documents a read asks for, latency ms, gap ms, pass delay ms
Step = tuple[int, int, str | None, bool, int, int, int, int]
steps_st = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.integers(0, 2),
        st.sampled_from(OUTCOMES),
        st.booleans(),
        st.integers(1, 6),
        st.integers(1, 3),
        st.sampled_from([0, 1, 3, 10, 25]),
        st.integers(0, PASS_DELAY_MS),
    ),
    max_size=50,
)
PRELUDE: list[Step] = [
    (0, 0, "ok", False, 1, 1, 0, 0),
    (1, 0, "ok", False, 1, 1, 0, 0),
    (2, 0, "ok", False, 1, 1, 0, 0),
]
FINAL_AFTER_MS = 200
ONE_PAGE = 1 << 30  # each final read checks every document (or key) at once


def simulate(steps: list[Step]) -> list[dict[str, Any]]:
    h = History()
    store = Retention(h)
    t = 0
    for n, (action, idx, outcome, applied, asked, latency, gap, delay) in enumerate(PRELUDE + steps):
        t += MS
        now = wall_ms(t)
        done = t + latency * MS
        if action == 0:
            cls = CLASSES[idx]
            removed_at = None
            if takes_effect(outcome, applied):  # a pass under load runs late
                removed_at = ttl_removed_at(now + RETENTION_MS[cls], MONITOR_MS, delay)
            store.insert(
                f"w{n % 2}", t, done, (f"events/t{n % 2}/e{n}", f"t{n % 2}", cls), outcome, removed_at
            )
        elif action == 1:
            store.read_docs(f"r{n % 2}", t, done, store.all_docs[-asked:], now, outcome)
        elif action == 2:
            store.ttl_write(f"w{n % 2}", t, done, REDIS_KEYS[idx], None, KEY_TTL_MS, outcome, applied)
        else:
            store.read_keys(f"r{n % 2}", t, done, REDIS_KEYS, outcome)
        t += gap * MS
    t += FINAL_AFTER_MS * MS
    t = store.final_docs(t, MS, 2 * MS, ONE_PAGE)
    store.final_keys(t, REDIS_KEYS, MS, 2 * MS, ONE_PAGE)
    return h.file_order()


def _window(op: Op) -> tuple[float, float]:
    start = float(op.get("now_ms"))
    return start, start + ((op.complete_ns or 0) - op.invoke_ns) / MS


def phantom_spots(records: list[dict[str, Any]], kind: str) -> list[tuple[int, str]]:
    """(read op id, key) of ok reads that did not find ``key`` although nothing that could have
    written it had been invoked: ``phantom-document``, a document whose every doc_insert failed;
    ``phantom-key``, a Redis key no ttl_write that did not fail was invoked on before the read
    completed. Adding the key to that read's result injects exactly that phantom."""
    ops = sorted(ops_by_id(records).values(), key=lambda o: o.invoke_ns)
    fs = ("doc_read", "final_docs") if kind == "phantom-document" else ("key_read", "final_keys")
    writer = "doc_insert" if kind == "phantom-document" else "ttl_write"
    out = []
    for r in ops:
        if r.f not in fs or r.outcome != "ok" or r.complete_ns is None:
            continue
        for key in r.get("keys"):
            writes = [w for w in ops if w.f == writer and w.get("key") == key and w.outcome != "fail"]
            if kind == "phantom-key":
                writes = [w for w in writes if w.invoke_ns < r.complete_ns]
            if key not in r.value and not writes:
                out.append((r.id, key))
    return out


def candidates(records: list[dict[str, Any]], kind: str) -> list[tuple[int, str]]:
    """(read op id, key) observations whose flip injects exactly one anomaly of ``kind``."""
    ops = sorted(ops_by_id(records).values(), key=lambda o: o.invoke_ns)
    inserts = {o.get("key"): o for o in ops if o.f == "doc_insert"}
    out = []
    for r in ops:
        if r.outcome != "ok" or r.f in ("doc_insert", "ttl_write"):
            continue
        start, end = _window(r)
        for key in r.get("keys"):
            found = key in r.value
            if kind in ("expired-too-late", "removed-too-early") and r.f in ("doc_read", "final_docs"):
                ins = inserts[key]
                expires = float(ins.get("created_ms")) + RETENTION_MS[ins.get("retention_class")]
                if (
                    kind == "expired-too-late"
                    and not found
                    and ins.outcome != "fail"
                    and start > expires + TTL_LAG_MS + 2 * SKEW_MS
                ):
                    out.append((r.id, key))
                if (
                    kind == "removed-too-early"
                    and found
                    and ins.outcome == "ok"
                    and (ins.complete_ns or 0) < r.invoke_ns
                    and end < expires - 2 * SKEW_MS
                ):
                    out.append((r.id, key))
            if kind == "ttl-expired-too-late" and r.f in ("key_read", "final_keys") and not found:
                writes = [
                    w
                    for w in ops
                    if w.f == "ttl_write"
                    and w.get("key") == key
                    and w.outcome != "fail"
                    and w.invoke_ns < (r.complete_ns or 0)
                ]
                if (
                    writes
                    and all(w.complete_ns is not None for w in writes)
                    and max(_window(w)[1] + KEY_TTL_MS for w in writes) < start - 2 * SKEW_MS
                ):
                    out.append((r.id, key))
    return out
