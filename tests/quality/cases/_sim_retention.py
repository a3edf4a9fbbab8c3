"""The simulated platform's retention (:mod:`harness.bench.sim.retention`) driven by hypothesis steps:
a correct MongoDB TTL monitor (passes every MONITOR_MS, a little late under load) and Redis TTLs.

Edge steps (action 4) exercise the bounds from the model's side, with clocks ``SKEW_MS`` apart: a
document the monitor removes at the latest (expiry + ``TTL_LAG_MS``) read just before that by a
client whose clock is ahead; one removed exactly at its expiry read absent by a client whose clock is
behind, the read ending exactly at expiry - skew; a Redis key whose write reached the server at
the end of its window, found just before that deadline by a client ahead. The checker must call
each of them valid; the mutations (``*_spots``) place their one observation 1 ms past the same
bounds."""

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

# action (0 insert, 1 doc read, 2 ttl write, 3 key read, 4 edge: 0 late doc, 1 early doc, 2 key),
# class / key / edge index, outcome, applied,
# how many recent documents a read asks for, latency ms, gap ms, pass delay ms
Step = tuple[int, int, str | None, bool, int, int, int, int]
steps_st = st.lists(
    st.tuples(
        st.integers(0, 4),
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
    (0, 0, "fail", False, 1, 1, 0, 0),  # a document nothing stored, for the final read to miss
    (1, 0, "ok", False, 1, 1, 0, 0),
    (2, 0, "ok", False, 1, 1, 0, 0),
]
FINAL_AFTER_MS = 200
ONE_PAGE = 1 << 30  # each final read checks every document (or key) at once


class _Edges:
    """Edge observations, each emitted once the run reaches the server time it observes (so the
    store's state is the one at that time): (server ns, client ns, f, key)."""

    def __init__(self, store: Retention) -> None:
        self.store = store
        self.pending: list[tuple[int, int, str, str]] = []

    def flush(self, upto_ns: float) -> None:
        for server, client, f, key in sorted(p for p in self.pending if p[0] < upto_ns):
            self.pending.remove((server, client, f, key))
            now, seen = wall_ms(client), wall_ms(server)
            if f == "doc_read":
                found = [key] if self.store.present(key, seen) else []
            else:
                found = [key] if self.store.alive(key, seen) else []
            fields = {"keys": [key], "now_ms": now}
            self.store.sink.call("edge", f, client, "ok", client + MS, fields, {"value": found})

    def step(self, n: int, t: int, idx: int, latency: int) -> None:
        done = t + latency * MS
        if idx == 2:  # a TTL write applied as it completed; found just before that deadline
            key = REDIS_KEYS[n % len(REDIS_KEYS)]
            self.store.ttl_write(f"w{n % 2}", t, done, key, None, KEY_TTL_MS, "ok", False)
            self.store.deadline[key] = wall_ms(done) + KEY_TTL_MS
            server = done + KEY_TTL_MS * MS - 1000
            self.pending.append((server, server + SKEW_MS * MS, "key_read", key))
            return
        key, expires = f"events/t{n % 2}/e{n}", t + int(RETENTION_MS["standard"]) * MS
        late = idx == 0  # removed at the latest the monitor may, or exactly at expiry
        removed = wall_ms(expires) + (TTL_LAG_MS if late else 0)
        self.store.insert(f"w{n % 2}", t, done, (key, f"t{n % 2}", "standard"), "ok", removed)
        if late:  # present just before removal, to a client whose clock is ahead
            server = expires + TTL_LAG_MS * MS - 1000
            self.pending.append((server, server + SKEW_MS * MS, "doc_read", key))
        else:  # absent at expiry, seen as the read ends, by a client whose clock is behind
            self.pending.append((expires, expires - (SKEW_MS + 1) * MS, "doc_read", key))


def simulate(steps: list[Step]) -> list[dict[str, Any]]:
    h = History()
    store = Retention(h)
    edges = _Edges(store)
    t = 0
    for n, (action, idx, outcome, applied, asked, latency, gap, delay) in enumerate(PRELUDE + steps):
        t += MS
        edges.flush(t)
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
        elif action == 3:
            store.read_keys(f"r{n % 2}", t, done, REDIS_KEYS, outcome)
        else:
            edges.step(n, t, idx, latency)
        t += gap * MS
    edges.flush(float("inf"))
    t = max(t, max(r["time_ns"] for r in h.records)) + FINAL_AFTER_MS * MS
    t = store.final_docs(t, MS, 2 * MS, ONE_PAGE)
    store.final_keys(t, REDIS_KEYS, MS, 2 * MS, ONE_PAGE)
    return h.file_order()


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


def _inserts(records: list[dict[str, Any]]) -> list[Op]:
    return sorted((o for o in ops_by_id(records).values() if o.f == "doc_insert"), key=lambda o: o.id)


def late_doc_spots(records: list[dict[str, Any]]) -> list[tuple[Op, int]]:
    """(insert, run ns) of a read that would find its document 1 ms past the latest the model's
    TTL monitor can leave it (expiry + ``TTL_LAG_MS``) as seen by a client ``SKEW_MS`` ahead: every
    document whose insert did not fail (one of unknown outcome, once found, must expire too)."""
    out = []
    for ins in _inserts(records):
        if ins.outcome != "fail":
            expires = ins.invoke_ns + int(RETENTION_MS[ins.get("retention_class")]) * MS
            out.append((ins, expires + (TTL_LAG_MS + SKEW_MS + 1) * MS))
    return out


def early_doc_spots(records: list[dict[str, Any]]) -> list[tuple[Op, int]]:
    """(insert, run ns) of a 1 ms read that would miss its acknowledged document while ending 1 ms
    before its expiry minus the skew (the model never removes one before expiry)."""
    out = []
    for ins in _inserts(records):
        t = ins.invoke_ns + (int(RETENTION_MS[ins.get("retention_class")]) - SKEW_MS - 2) * MS
        if ins.outcome == "ok" and ins.complete_ns is not None and ins.complete_ns < t:
            out.append((ins, t))
    return out


def late_key_spots(records: list[dict[str, Any]]) -> list[tuple[str, int, bool]]:
    """(key, run ns, hidden) of a 1 ms key read that would find the key 1 ms past the latest deadline
    its TTL writes invoked before it completed could have set (completion + ``KEY_TTL_MS``, seen by
    a client ``SKEW_MS`` ahead); ``hidden`` when that deadline is an unknown-outcome write's."""
    ops = sorted(ops_by_id(records).values(), key=lambda o: o.invoke_ns)
    out = []
    for key in REDIS_KEYS:
        writes = [w for w in ops if w.f == "ttl_write" and w.get("key") == key and w.outcome != "fail"]
        best: tuple[int, bool] = (-1, False)
        for i, w in enumerate(writes):
            if w.complete_ns is None:
                break  # may be applied any time later: no deadline from here on
            best = max(best, (w.complete_ns + KEY_TTL_MS * MS, w.outcome != "ok"))
            t = best[0] + (SKEW_MS + 1) * MS
            if i + 1 == len(writes) or writes[i + 1].invoke_ns > t + MS:
                out.append((key, t, best[1]))
    return out
