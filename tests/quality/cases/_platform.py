"""The simulated platform's ingestion path (:mod:`harness.bench.sim.ingestion`) driven by hypothesis
steps, and helpers for the mutations of the cases that judge it.

Each event of a tenant runs the ingestion path: the sliding-window rate limiter (one key per tenant,
or write-sharded over ``SHARDS`` keys for the whale), then, when admitted, the MongoDB insert under
the idempotency key ``(tenant, event_id)`` (retried after ``fail``/``info``, idempotent: at most one
document per key) and the per-window counter ``INCR`` (optionally with ``WAIT``). After the
workload, the runner's final reads: ``final_read`` per counter key and ``final_events`` per tenant.

Every choice comes from hypothesis (a list of step tuples), so failing histories shrink. Records are
dicts exactly as ``HistoryRecorder`` writes them, in file (time) order; completions overlap later
invokes, so the streaming loader yields them out of invoke order.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from hypothesis import strategies as st

from harness.bench.sim.core import MS, History
from harness.bench.sim.ingestion import Ingestion, Layout

TENANTS = ["t0", "t1", "whale"]
SHARDS = 2  # the whale's limiter and counter shards
WINDOW_MS = 50  # limiter window
COUNTER_WINDOW_MS = 100  # counter bucket ("minute" scaled down)
WCS = ["1", "majority"]
OUTCOMES = ["ok", "ok", "ok", "ok", "fail", "info", None]  # None: the run ended before completion

# (tenant, dt_ms, limiter outcome, limiter applied?, insert attempts [(outcome, applied?)],
#  incr outcome, incr applied?, write concern, WAIT level, latency ms)
Step = tuple[int, int, Any, bool, list[tuple[Any, bool]], Any, bool, int, int, int]

step_st = st.tuples(
    st.integers(0, len(TENANTS) - 1),
    st.integers(0, 30),
    st.sampled_from(["ok", "ok", "ok", "ok", "ok", "fail", "info"]),
    st.booleans(),
    st.lists(st.tuples(st.sampled_from(OUTCOMES), st.booleans()), min_size=1, max_size=3),
    st.sampled_from(OUTCOMES),
    st.booleans(),
    st.integers(0, len(WCS) - 1),
    st.integers(0, 2),
    st.integers(0, 40),
)
config_st = st.tuples(st.integers(1, 4), st.booleans())  # (per-tenant limit, record windows?)


LAYOUT = Layout(window_ms=WINDOW_MS, counter_window_ms=COUNTER_WINDOW_MS, shards=SHARDS)


class _Records(History):
    """The matrix's recorder: three workers by op id, distinct times (op id ns later); inserts
    record their event's content (``fingerprint``)."""

    def op(
        self,
        process: str,
        f: str,
        invoke_ns: int,
        outcome: str | None,
        complete_ns: int,
        fields: dict[str, Any] | None = None,
        result: dict[str, Any] | None = None,
    ) -> int:
        op_id = self.next_id
        process = "final" if f.startswith("final") else f"w{op_id % 3}"
        if f == "insert" and fields is not None:
            # the event's content, as no-duplicates reads it: same event, same content, whatever id
            fields = {**fields, "fingerprint": f"{fields['tenant']}/{fields['event_id']}"}
        return super().op(process, f, invoke_ns + op_id, outcome, complete_ns + op_id, fields, result)


def _event(m: Ingestion, limit: int, now: int, step: Step) -> None:
    tenant_i, _, rl_out, rl_applied, attempts, incr_out, incr_applied, wc_i, wait, latency = step
    ev = m.begin(TENANTS[tenant_i], now)
    t, took = now * MS, latency * MS + 1
    if not m.rate_limit("", t, t + took, ev, limit, rl_out, rl_applied):
        return
    t += (latency + 1) * MS
    written = False  # a write of this event that may have landed (ok, or of unknown outcome)
    for outcome, applied in attempts:  # the idempotent insert, retried until ok or out of attempts
        m.insert("", t, t + took, ev, WCS[wc_i], outcome, applied)
        t += (latency + 1) * MS
        written = written or outcome != "fail"
        if outcome == "ok" or outcome is None:
            break
    m.incr("", t, t + took, ev, wait, incr_out, incr_applied)
    if not written and incr_out == "fail":
        # A correct ingestion service never drops an admitted event: with every write refused, it
        # sends the INCR again (rate-limit-holds: an admission needs a write that was not refused).
        t += (latency + 1) * MS
        m.incr("", t, t + took, ev, wait, "ok", False)


def simulate(steps: list[Step], config: tuple[int, bool]) -> list[dict[str, Any]]:
    h = _Records(variant="v")
    m = Ingestion(h, replace(LAYOUT, windows=config[1]))
    now = 0
    for step in steps:
        now += step[1]
        _event(m, config[0], now, step)
    m.final((now + 1000) * MS, MS + 1, 2 * MS)
    return h.file_order()


@st.composite
def histories(draw: st.DrawFn, min_events: int = 1, max_events: int = 40) -> list[dict[str, Any]]:
    steps = draw(st.lists(step_st, min_size=min_events, max_size=max_events))
    tenant = draw(st.integers(0, len(TENANTS) - 1))
    # one event that fully succeeds, so every checker has something to judge (else: "unknown")
    sure: Step = (tenant, 0, "ok", False, [("ok", False)], "ok", False, 0, 0, 1)
    limit, windows = draw(config_st)
    prelude = [sure]
    if draw(st.integers(0, 3)):  # most histories
        # a burst: three sequential acknowledged events of an unsharded tenant in one counter
        # window (INCR replies 1, 2, 3, each invoked after the previous one completed), within a
        # limit of 2 per limiter window: what a counter's real-time checks need to judge; the
        # second one's first insert times out (applied) and its retry is acknowledged. At limit 2
        # the third is admitted only because the first sits exactly on its window's open edge
        # (now - window): a limiter window's boundary that a clean history must pass.
        tenant = draw(st.integers(0, 1))
        prelude = [(tenant, 0 if i == 0 else WINDOW_MS // 2, *sure[2:]) for i in range(3)]
        prelude[1] = (*prelude[1][:4], [("info", True), ("ok", False)], *prelude[1][5:])
        limit = max(limit, 2)
    return simulate([*prelude, *steps], (limit, windows))


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


def ops_of(records: list[dict[str, Any]], f: str) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
    for inv, done in pairs(records).values():
        if inv["f"] == f:
            yield inv, done


def next_id(records: list[dict[str, Any]]) -> int:
    return max((r["id"] for r in records), default=0) + 1


def append_op(
    records: list[dict[str, Any]], f: str, outcome: str, t_ns: int, result: dict[str, Any], **fields: Any
) -> int:
    """Adds one op (invoke + completion) at ``t_ns``, keeping the records in time order."""
    op_id = next_id(records)
    base = {"id": op_id, "process": "w9", "f": f}
    records.append({**base, "type": "invoke", "time_ns": t_ns, "variant": "v", **fields})
    records.append({**base, "type": outcome, "time_ns": t_ns + 1, **result})
    records.sort(key=lambda r: r["time_ns"])
    return op_id
