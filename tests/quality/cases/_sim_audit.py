"""The simulated platform's audit logs (:mod:`harness.bench.sim.audit`) driven by hypothesis steps:
per-tenant hash chains, a TTL monitor that removes expired records within its lag, and one final
read per tenant after the run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from harness.audit_chain import audit_hash
from harness.bench.sim.audit import AuditLog
from tests.quality.cases._sim import MS, History, takes_effect, wall_ms

TENANTS = ["t0", "t1", "t2"]
OUTCOMES = ["ok", "ok", "ok", "ok", "fail", "info", None]
RETENTION_MS = 100
SKEW_MS = 1
TTL_LAG_MS = 30
ACTIONS = ["permission_granted", "role_changed", "data_exported", "api_key_created"]

# tenant, outcome, applied (unknown outcomes), latency ms, gap ms, removal delay in [0, lag]
Step = tuple[int, str | None, bool, int, int, int]
steps_st = st.lists(
    st.tuples(
        st.integers(0, len(TENANTS) - 1),
        st.sampled_from(OUTCOMES),
        st.booleans(),
        st.integers(1, 4),
        st.integers(0, 12),
        st.integers(0, TTL_LAG_MS),
    ),
    max_size=40,
)
#: Every history has one acknowledged record young enough to be present at the final read.
PRELUDE: list[Step] = [(0, "ok", False, 1, 0, 0)]
FINAL_AFTER_MS = 60
ONE_PAGE = 1 << 30  # each tenant's final read returns all its records at once


def simulate(steps: list[Step]) -> list[dict[str, Any]]:
    h = History()
    log = AuditLog(h)
    acked: list[tuple[int, int]] = []  # (logged at, tenant index) of acknowledged records
    t = 0
    for n, (ti, outcome, applied, latency, gap, delay) in enumerate(steps + PRELUDE):
        tenant = TENANTS[ti]
        t += MS
        body = {
            "audit_id": f"aud-{tenant}-{n}",
            "tenant_id": tenant,
            "logged_at_ms": wall_ms(t),
            "category": "security",
            "action": ACTIONS[n % len(ACTIONS)],
            "actor": {"user_id": f"admin-{n % 3}", "ip_address": "203.0.113.50"},
            "severity": "high",
        }
        removed_at = body["logged_at_ms"] + RETENTION_MS + delay if takes_effect(outcome, applied) else None
        log.append(f"w{ti}", t, t + latency * MS, log.chain(body), outcome, removed_at)
        if outcome == "ok":
            acked.append((t, ti))
        t += gap * MS
    t += FINAL_AFTER_MS * MS
    log.final(_final_at(t + MS, acked), MS, MS, TENANTS, ONE_PAGE, {})
    return h.file_order()


def _final_at(default: int, acked: list[tuple[int, int]]) -> int:
    """When the final reads start: at ``default``, or later so that the oldest acknowledged record
    still young then is read 1 ms before its expiry minus the skew (the edge where losing it is
    just an anomaly); each tenant's read takes 1 ms, one after the other."""
    young = [(t, ti) for t, ti in acked if t + RETENTION_MS * MS >= default + (ti + 2 + SKEW_MS) * MS]
    if not young:
        return default
    t, ti = min(young)
    return t + (RETENTION_MS - SKEW_MS - 2 - ti) * MS


def final_reads(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["f"] == "final_audit" and r["type"] == "ok"]


def inserts(records: list[dict[str, Any]]) -> dict[str, tuple[dict[str, Any], str | None]]:
    """audit_id -> (the record sent, the insert's outcome)."""
    outcomes = {r["id"]: r["type"] for r in records if r["f"] == "audit_insert" and r["type"] != "invoke"}
    return {
        r["value"]["audit_id"]: (r["value"], outcomes.get(r["id"]))
        for r in records
        if r["f"] == "audit_insert" and r["type"] == "invoke"
    }


def rechain(
    chain: list[dict[str, Any]], start: int, edit: Callable[[dict[str, Any]], None]
) -> dict[str, str]:
    """Applies ``edit`` to ``chain[start]`` and re-hashes it and every later record linked to a
    re-hashed one (as a writer, or a tamperer covering tracks, would). Returns old -> new hashes."""
    remap: dict[str, str] = {}
    for i in range(start, len(chain)):
        rec = chain[i]
        if i == start:
            edit(rec)
        elif rec["prev_hash"] in remap:
            rec["prev_hash"] = remap[rec["prev_hash"]]
        else:
            continue
        old, rec["hash"] = rec["hash"], audit_hash(rec, rec["prev_hash"])
        remap[old] = rec["hash"]
    return remap
