"""The Redis ingest path recorded in its compact form (:mod:`harness.history.ingest`), driven by
hypothesis steps, and helpers for the mutations of the cases that judge it.

A history is a run of batches of events under one design, as
:mod:`harness.workload.redis_plane.ingest_path` runs them: design ``script`` records one ``ingest``
op per event (limiter + ``INCR`` + ``PFADD`` + timeline write in one script); design ``pipeline``
records ``ingest_rl`` (round 1, the limiter) and, for each event the limiter certainly admitted,
``ingest_fx`` (round 2, the side effects, sent after round 1's replies were read). The server is a
sliding-window limiter per tenant key (:meth:`harness.bench.sim.ingestion.Ingestion.admits`) and a
counter per tenant and window, applying events in batch order; every op's effect happens between
its invoke and its completion. After the batches, the runner's ``final_read`` of every counter key.

Records are per-op dicts as :class:`harness.history.recorder.HistoryRecorder` writes them, in time
order (a batch's invokes share their send time); ``cases/_encodings.py`` writes them as the batch
records and out-of-order completion lines of a real run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from hypothesis import strategies as st

from harness.bench.sim.core import MS, Sink, takes_effect
from harness.bench.sim.ingestion import Event, Ingestion, Layout
from harness.history.ingest import EXPANDED_BASE
from harness.history.loader import stream_pairs
from harness.ops import INCR, INGEST, INGEST_FX, INGEST_RL

TENANTS = ["t0", "t1"]
WINDOW_MS = 50  # the limiter's window
COUNTER_WINDOW_MS = 100  # the counters' bucket ("minute" scaled down)
TTL_MS = 10_000
US = 1_000  # ns
OUTCOMES = ["ok", "ok", "ok", "ok", "fail", "info", None]  # None: the run ended before completion
#: round 2 as a whole: ok, or one of pfadd/timeline refused (the INCR was ok), or unknown
FX_OUTCOMES = ["ok", "ok", "ok", "partial", "info", None]

# (tenant, dt_ms, outcome, applied when unknown?, round-2 outcome, round 2 applied?, latency µs)
EventStep = tuple[int, int, Any, bool, str | None, bool, int]

event_st = st.tuples(
    st.integers(0, len(TENANTS) - 1),
    st.integers(0, 20),
    st.sampled_from(OUTCOMES),
    st.booleans(),
    st.sampled_from(FX_OUTCOMES),
    st.booleans(),
    st.integers(1, 3000),
)
batch_st = st.tuples(st.integers(0, 30), st.lists(event_st, min_size=1, max_size=8))  # (gap ms, events)


@dataclass
class _Run:
    """The server's state and the records written so far."""

    design: str
    limit: int
    model: Ingestion = field(
        default_factory=lambda: Ingestion(cast(Sink, None), Layout(WINDOW_MS, COUNTER_WINDOW_MS))
    )
    records: list[dict[str, Any]] = field(default_factory=list)
    next_id: int = 1
    applied_ns: int = 0  # when the server applied its last event (effects apply in this order)
    read_ns: int = 0  # when the last reply so far was read

    def op(self, f: str, t: int, fields: dict[str, Any]) -> int:
        op_id, self.next_id = self.next_id, self.next_id + 1
        self.records.append(
            {"id": op_id, "type": "invoke", "process": "ingest", "f": f, "time_ns": t, **fields}
        )
        return op_id

    def done(self, op_id: int, f: str, outcome: str | None, t: int, fields: dict[str, Any]) -> None:
        if outcome is not None:
            rec = {"id": op_id, "type": outcome, "process": "ingest", "f": f, "time_ns": t, **fields}
            self.records.append(rec)

    def apply(self, t: int, latency_us: int) -> int:
        """An effect applied at or after ``t`` (after the last one); returns its reply's time."""
        self.applied_ns = max(self.applied_ns + 1, t + 1)
        self.read_ns = max(self.read_ns, self.applied_ns + latency_us * US)
        return self.applied_ns + latency_us * US


def _fields(run: _Run, ev: Event, sched: int) -> dict[str, Any]:
    m = run.model
    keys = [m.limiter_key(ev), m.counter_key(ev), f"unique:{{t:{ev.tenant}}}:users", f"tl:{{t:{ev.tenant}}}"]
    value = {"now_ms": ev.now_ms, "limit": run.limit, "window_ms": WINDOW_MS, "group_limit": run.limit}
    value |= {"shards": 1, "ttl_ms": TTL_MS}
    fields = {"variant": "v", "sched_ns": sched, "tenant": ev.tenant, "event_id": ev.event_id}
    return fields | {"user": f"u{ev.n % 5}", "window": str(ev.window), "keys": keys, "value": value}


def _limit(run: _Run, ev: Event, step: EventStep) -> tuple[bool, int, int]:
    """The limiter (design script: the whole script) on ``ev``: (admitted and applied, remaining,
    the counter after it)."""
    m, outcome, applied = run.model, step[2], step[3]
    key = m.limiter_key(ev)
    allowed = m.admits(ev, run.limit)
    took = allowed and takes_effect(outcome, applied)
    if took:
        m.zsets[key].append(ev.now_ms)
    counter = m.counters.setdefault(m.counter_key(ev), 0)
    if took and run.design == "script":
        counter = m.counters[m.counter_key(ev)] = counter + 1
    return allowed, max(0, run.limit - len(m.zsets[key])), counter


def _round1(
    run: _Run, send: int, events: list[tuple[Event, EventStep]]
) -> list[tuple[int, Event, EventStep]]:
    """Round 1 of a batch; returns the events the limiter certainly admitted (design pipeline), with
    their ``ingest_rl`` ids."""
    f = INGEST if run.design == "script" else INGEST_RL
    ids = [run.op(f, send, _fields(run, ev, send - step[1] * US)) for ev, step in events]
    admitted = []
    for op_id, (ev, step) in zip(ids, events, strict=True):
        allowed, remaining, counter = _limit(run, ev, step)
        t = run.apply(send, step[6])
        if step[2] == "ok":
            value = [int(allowed), remaining] + (
                [counter if allowed else 0] if run.design == "script" else []
            )
            run.done(op_id, f, "ok", t, {"value": value})
            if allowed and run.design == "pipeline":
                admitted.append((op_id, ev, step))
        else:
            run.done(
                op_id, f, step[2], t, {"error": "ConnectionError" if step[2] == "fail" else "TimeoutError"}
            )
    return admitted


def _round2(run: _Run, send: int, admitted: list[tuple[int, Event, EventStep]]) -> None:
    """Round 2 (design pipeline): the side effects of the certainly admitted events."""
    ids = [run.op(INGEST_FX, send, {"rl": rl}) for rl, _, _ in admitted]
    m = run.model
    for op_id, (_, ev, step) in zip(ids, admitted, strict=True):
        outcome, applied = step[4], step[5]
        key = m.counter_key(ev)
        if outcome in ("ok", "partial") or applied:  # unknown outcomes: as drawn
            m.counters[key] = m.counters.get(key, 0) + 1
        t = run.apply(send, step[6])
        if outcome == "ok":
            run.done(op_id, INGEST_FX, "ok", t, {"value": m.counters[key]})
        elif outcome == "partial":  # the INCR was ok, the timeline write refused
            fields = {
                "value": m.counters[key],
                "side": ["ok", "ok", "fail"],
                "error": "OOM command not allowed",
            }
            run.done(op_id, INGEST_FX, "fail", t, fields)
        else:
            run.done(op_id, INGEST_FX, outcome, t, {"side": ["info"] * 3, "error": "TimeoutError"})


def simulate(design: str, limit: int, batches: list[tuple[int, list[EventStep]]]) -> list[dict[str, Any]]:
    run = _Run(design, limit)
    now_ms = 0
    send = 0
    for gap, steps in batches:
        send = run.read_ns + gap * MS + 1  # sent once the previous batch was read
        events = []
        for step in steps:
            now_ms += step[1]
            events.append((run.model.begin(TENANTS[step[0]], now_ms), step))
        admitted = _round1(run, send, events)
        if admitted:
            _round2(run, run.read_ns + US, admitted)  # once round 1's replies were read
    t = run.read_ns + MS
    for key in sorted(run.model.counters):
        op_id = run.next_id
        run.next_id += 1
        run.records.append(
            {
                "id": op_id,
                "type": "invoke",
                "process": "final",
                "f": "final_read",
                "time_ns": t,
                "variant": "v",
                "key": key,
            }
        )
        value = run.model.counters[key] or None
        run.records.append(
            {
                "id": op_id,
                "type": "ok",
                "process": "final",
                "f": "final_read",
                "time_ns": t + US,
                "key": key,
                "value": value,
            }
        )
        t += 2 * US
    run.records.sort(key=lambda r: r["time_ns"])
    return run.records


@st.composite
def histories(draw: st.DrawFn, max_batches: int = 6) -> list[dict[str, Any]]:
    design = draw(st.sampled_from(["script", "pipeline"]))
    limit = draw(st.integers(1, 4))
    sure: EventStep = (draw(st.integers(0, len(TENANTS) - 1)), 0, "ok", False, "ok", False, 1)
    batches = draw(st.lists(batch_st, min_size=1, max_size=max_batches))
    return simulate(design, limit, [(0, [sure]), *batches])


# --- helpers for mutations ------------------------------------------------------------------------
def pairs(records: list[dict[str, Any]]) -> dict[int, tuple[dict[str, Any], dict[str, Any] | None]]:
    """op id -> (invoke, completion or None), the very dicts in ``records`` (mutate in place)."""
    out: dict[int, tuple[dict[str, Any], dict[str, Any] | None]] = {}
    for rec in records:
        if rec["type"] == "invoke":
            out[rec["id"]] = (rec, None)
        elif rec["id"] in out:
            out[rec["id"]] = (out[rec["id"]][0], rec)
    return out


def expanded(records: list[dict[str, Any]], f: str) -> Iterator[Any]:
    """The vocabulary ops ``f`` the loader expands the records into."""
    return (op for op in stream_pairs(records) if op.f == f)


def incr_source(records: list[dict[str, Any]], op_id: int) -> dict[str, Any]:
    """The compact completion that says what the expanded ``incr`` op ``op_id`` returned: its
    ``ingest`` completion (value[2]) or its ``ingest_fx`` completion (value)."""
    base = (op_id - EXPANDED_BASE - 1) // 4
    ops = pairs(records)
    inv, done = ops[base]
    if inv["f"] == INGEST and done is not None:
        return done
    for fx, fx_done in ops.values():
        if fx["f"] == INGEST_FX and fx.get("rl") == base and fx_done is not None:
            return fx_done
    raise LookupError(f"no compact completion for {INCR} op {op_id}")
