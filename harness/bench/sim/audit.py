"""Append-only audit logs: one hash chain per tenant (:func:`audit_hash`), a TTL monitor removing
records past retention a little late, and the runner's final read of each tenant's log.
:class:`AuditTraffic` is the benchmark's driver: admin actions, one writer per tenant that reads
the chain head back after a timeout."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from harness.audit_chain import GENESIS, audit_hash
from harness.bench.sim.core import MS, Sink, draw_outcome, takes_effect, ttl_removed_at, wall
from harness.bench.sim.platform import AUDIT_PAGE, RATES, RETENTION_MS, TTL_MONITOR_MS, TTL_PASS_LATE_MS, Sim


class AuditLog:
    """Each tenant's chain head and its stored records, each with when the TTL monitor removes it."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.heads: dict[str, str] = {}
        self.stored: dict[str, list[tuple[dict[str, Any], float]]] = {}
        self.tenants: dict[str, None] = {}  # every tenant with an insert, in order

    def head(self, tenant: str) -> str:
        return self.heads.get(tenant, GENESIS)

    def chain(self, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` (its ``tenant_id`` naming the chain) linked to the chain's head and hashed."""
        rec = {**body, "prev_hash": self.head(body["tenant_id"])}
        rec["hash"] = audit_hash(rec, rec["prev_hash"])
        return rec

    def append(
        self,
        process: str,
        t: int,
        done: int,
        rec: dict[str, Any],
        outcome: str | None,
        removed_at: float | None,
    ) -> None:
        """Inserts the chained ``rec``; it took effect when ``removed_at`` (wall ms) is given."""
        tenant = rec["tenant_id"]
        self.tenants[tenant] = None
        if removed_at is not None:
            self.stored.setdefault(tenant, []).append((rec, removed_at))
            self.heads[tenant] = rec["hash"]
        self.sink.call(process, "audit_insert", t, outcome, done, {"tenant": tenant, "value": dict(rec)})

    def read_head(self, process: str, t: int, done: int, tenant: str) -> None:
        head = self.head(tenant)
        result = {"value": head, "tenants": [tenant] if head != GENESIS else []}
        fields = {"tenant": tenant, "read_concern": "majority"}
        self.sink.call(process, "audit_head", t, "ok", done, fields, result)

    def final(
        self, t: int, latency: int, step: int, tenants: Iterable[str], page: int, extra: dict[str, Any]
    ) -> int:
        """Each tenant's records present at its read, ``page`` a read (a tenant whose records all
        expired reads ``[]``); returns the time after them."""
        for tenant in tenants:
            now = wall(t)
            present = [dict(rec) for rec, removed in self.stored.get(tenant, []) if now < removed]
            for i in range(0, max(1, len(present)), page):
                fields = {"tenant": tenant, "now_ms": wall(t), **extra}
                self.sink.call(
                    "final", "final_audit", t, "ok", t + latency, fields, {"value": present[i : i + page]}
                )
                t += step
        return t


class AuditTraffic:
    """Admin actions appended to per-tenant chains; after an unknown outcome the tenant's writer reads
    the head back before appending again."""

    ACTIONS = ("permission_granted", "role_changed", "data_exported", "api_key_created", "user_deleted")

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.rng = sim.rng("audit")
        self.model = AuditLog(sim.w)
        self.ready: dict[str, int] = {}  # tenant -> when its writer is free again
        self.n = 0
        sim.clock.poisson(RATES["audit"], self.rng, self.append)

    def _body(self, tenant: str, logged: float) -> dict[str, Any]:
        rng = self.rng
        return {
            "audit_id": f"aud-{self.n}",
            "tenant_id": tenant,
            "logged_at_ms": logged,
            "category": "security",
            "action": self.ACTIONS[self.n % len(self.ACTIONS)],
            "actor": {
                "user_id": f"admin-{rng.randrange(5)}",
                "ip_address": f"203.0.113.{rng.randrange(256)}",
            },
            "resource": {"type": "user", "id": f"u{rng.randrange(self.sim.users(tenant))}"},
            "severity": rng.choice(("low", "medium", "high")),
        }

    def append(self, t: int) -> None:
        rng = self.rng
        tenant = self.sim.tenant()
        t = max(t, self.ready.get(tenant, 0))  # the tenant's writer appends one record at a time
        self.n += 1
        logged = wall(t)
        rec = self.model.chain(self._body(tenant, logged))
        out = draw_outcome(rng, 0.985, 0.01)
        removed = None
        if takes_effect(out, self.sim.coin(rng, out)):
            late = rng.uniform(0, TTL_PASS_LATE_MS)
            removed = ttl_removed_at(logged + RETENTION_MS["audit"], TTL_MONITOR_MS, late)
        lat = rng.randrange(MS, 4 * MS)
        self.model.append(f"audit-{rng.randrange(4)}", t, t + lat, rec, out, removed)
        t += lat + 1000
        if out == "info":  # the writer reads the chain head back before appending again
            lat = rng.randrange(MS // 2, 2 * MS)
            self.model.read_head("audit-0", t, t + lat, tenant)
            t += lat + 1000
        self.ready[tenant] = t

    def final(self, t: int) -> int:
        tenants = sorted(self.model.tenants)
        return self.model.final(t, MS, 2 * MS, tenants, AUDIT_PAGE, {"read_concern": "majority"})
