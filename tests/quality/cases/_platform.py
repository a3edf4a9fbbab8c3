"""A seeded model of the platform behaving correctly, and the history a workload records against it.

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

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

MS = 1_000_000
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


@dataclass
class Platform:
    limit: int = 2
    with_windows: bool = True
    records: list[dict[str, Any]] = field(default_factory=list)
    zsets: dict[str, list[int]] = field(default_factory=dict)  # limiter key -> admitted now_ms
    counters: dict[str, int] = field(default_factory=dict)
    stored: dict[str, list[tuple[str, int]]] = field(default_factory=dict)  # tenant -> (event_id, window)
    written_tenants: set[str] = field(default_factory=set)
    next_id: int = 1
    now_ms: int = 0
    events: int = 0

    # --- plumbing ---------------------------------------------------------------------------------
    def _op(
        self, f: str, t_ms: int, latency: int, outcome: Any, result: dict[str, Any], **fields: Any
    ) -> int:
        op_id, self.next_id = self.next_id, self.next_id + 1
        process = "final" if f.startswith("final") else f"w{op_id % 3}"
        t_ns = t_ms * MS + op_id  # distinct times; op ids break nothing
        self.records.append(
            {
                "id": op_id,
                "type": "invoke",
                "process": process,
                "f": f,
                "time_ns": t_ns,
                "variant": "v",
                **fields,
            }
        )
        if outcome is not None:
            done = {
                "id": op_id,
                "type": outcome,
                "process": process,
                "f": f,
                "time_ns": t_ns + latency * MS + 1,
            }
            if outcome == "ok":
                done.update(result)
            else:
                done["error"] = "TimeoutError" if outcome == "info" else "ConnectionError"
            self.records.append(done)
        return op_id

    def _shard(self, tenant: str) -> int:
        return self.events % SHARDS if tenant == "whale" else 0

    # --- one event --------------------------------------------------------------------------------
    def event(self, step: Step) -> None:
        tenant_i, dt, rl_out, rl_applied, attempts, incr_out, incr_applied, wc_i, wait, latency = step
        tenant = TENANTS[tenant_i]
        self.events += 1
        self.now_ms += dt
        now, t = self.now_ms, self.now_ms
        event_id = f"e{self.events}"
        shard = self._shard(tenant)
        sharded = tenant == "whale"
        group_limit = self.limit * SHARDS if sharded else self.limit
        key_limit = math.ceil(group_limit / SHARDS) if sharded else self.limit
        rl_key = f"ratelimit:{{t:{tenant}#{shard}}}" if sharded else f"ratelimit:{{t:{tenant}}}"
        allowed: bool | None = None
        if rl_out == "ok" or (rl_out == "info" and rl_applied):
            zset = [s for s in self.zsets.get(rl_key, []) if s > now - WINDOW_MS]
            allowed = len(zset) < key_limit
            if allowed:
                zset.append(now)
            self.zsets[rl_key] = zset
        value = {
            "now_ms": now,
            "limit": key_limit,
            "window_ms": WINDOW_MS,
            "req": event_id,
            "group": tenant,
            "group_limit": group_limit,
            "shards": SHARDS if sharded else 1,
        }
        self._op(
            "rate_limit",
            t,
            latency,
            rl_out,
            {"value": {"allowed": allowed, "remaining": 0}},
            key=rl_key,
            tenant=tenant,
            event_id=event_id,
            value=value,
        )
        if rl_out != "ok" or not allowed:
            return
        window = now // COUNTER_WINDOW_MS
        t += latency + 1
        # MongoDB: idempotent insert, retried until ok or out of attempts
        self.written_tenants.add(tenant)
        for outcome, applied in attempts:
            if outcome == "ok" or (outcome in ("info", None) and applied):
                docs = self.stored.setdefault(tenant, [])
                if all(e != event_id for e, _ in docs):
                    docs.append((event_id, window))
            extra = {"window": window} if self.with_windows else {}
            self._op(
                "insert", t, latency, outcome, {}, tenant=tenant, event_id=event_id, wc=WCS[wc_i], **extra
            )
            t += latency + 1
            if outcome == "ok" or outcome is None:
                break
        # Redis: the per-window counter
        ckey = f"counter:{{t:{tenant}#{shard}}}:{window}" if sharded else f"counter:{{t:{tenant}}}:{window}"
        if incr_out == "ok" or (incr_out in ("info", None) and incr_applied):
            self.counters[ckey] = self.counters.get(ckey, 0) + 1
        elif incr_out == "fail":
            self.counters.setdefault(ckey, 0)
        else:
            self.counters.setdefault(ckey, 0)
        extra = {"window": window} if self.with_windows else {}
        if wait:
            extra["wait"] = wait
        self._op(
            "incr",
            t,
            latency,
            incr_out,
            {"value": self.counters[ckey]},
            key=ckey,
            tenant=tenant,
            event_id=event_id,
            **extra,
        )

    def final_reads(self) -> None:
        t = self.now_ms + 1000
        for ckey in sorted(self.counters):
            self._op("final_read", t, 1, "ok", {"value": self.counters[ckey] or None, "key": ckey}, key=ckey)
            t += 2
        for tenant in sorted(self.written_tenants):
            docs = self.stored.get(tenant, [])
            value: dict[str, Any] = {"event_ids": [e for e, _ in docs]}
            if self.with_windows:
                value["windows"] = [w for _, w in docs]
            self._op("final_events", t, 1, "ok", {"value": value}, tenant=tenant)
            t += 2

    def history(self) -> list[dict[str, Any]]:
        return sorted(self.records, key=lambda r: r["time_ns"])


def simulate(steps: list[Step], config: tuple[int, bool]) -> list[dict[str, Any]]:
    sim = Platform(limit=config[0], with_windows=config[1])
    for step in steps:
        sim.event(step)
    sim.final_reads()
    return sim.history()


@st.composite
def histories(draw: st.DrawFn, min_events: int = 1, max_events: int = 40) -> list[dict[str, Any]]:
    steps = draw(st.lists(step_st, min_size=min_events, max_size=max_events))
    tenant = draw(st.integers(0, len(TENANTS) - 1))
    # one event that fully succeeds, so every checker has something to judge (else: "unknown")
    sure: Step = (tenant, 0, "ok", False, [("ok", False)], "ok", False, 0, 0, 1)
    return simulate([sure, *steps], draw(config_st))


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
