"""Checker: no read for tenant A ever returned data of tenant B (multi-tenant isolation).

Every read path of the platform is scoped by tenant: MongoDB queries filter on ``tenant_id`` (the
leading shard-key field), Redis keys carry the tenant (``timeline:{tenant}:{user}``,
``session:{tenant}:{id}``). A missing filter, a key built from the wrong tenant, or a cache entry
served to the wrong caller shows up as an item of another tenant in a result.

Op vocabulary: any op (any ``f``; restrict with ``reads=``) whose completion carries evidence:
    invoke: ``tenant`` (str) — the tenant the read was made for.
    completion ``ok``: ``tenants`` — list of the tenant of every item returned, in result order
    (each document's ``tenant_id``; for Redis, the tenant stored inside the item, not the one in the
    key that was asked for); optional ``ids`` — list of the items' ids, same order (``event_id``,
    ``audit_id``, session id, ...), used in examples.

Assumptions: the workload records the tenant *found in the returned data*, not the one it asked
for. Ops that did not complete ``ok`` returned nothing; ``ok`` ops without ``tenants`` carry no
evidence and are only counted. Each read with at least one foreign item is one violation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from harness.checkers._common import Examples
from harness.checkers.compose import fold
from harness.checkers.verdict import Status, Verdict, run_ms
from harness.history.loader import Op
from harness.ops import OpType

# the members once: each OpType.X is an enum-class lookup (~200 ns), several per op and checker
_OK = OpType.OK

NAME = "tenant-isolation"
#: The anomaly kinds this checker's examples (and ``details["violations_by_kind"]``) can name.
KINDS: frozenset[str] = frozenset({"cross-tenant-read"})

#: Foreign item ids listed per example.
_EXAMPLE_ITEMS = 5


class TenantIsolation:
    name = NAME

    def __init__(self, *, reads: Iterable[str] | None = None) -> None:
        self.fs: frozenset[str] | None = None if reads is None else frozenset(reads)
        self._examples = Examples()
        self._reads = 0
        self._items = 0
        self._foreign_items = 0
        self._without_evidence = 0
        self._malformed = 0
        self._tenants: set[str] = set()
        self._pairs: dict[str, int] = {}  # "A->B" -> reads of A that returned B's data

    def observe(self, op: Op) -> None:
        if op.outcome != _OK or op.completion is None:
            return
        found = op.completion.get("tenants")
        if found is None:
            if self.fs is not None:
                self._without_evidence += 1
            return
        tenant = op.get("tenant")
        if not isinstance(tenant, str) or not isinstance(found, list):
            self._malformed += 1
            return
        self._reads += 1
        self._items += len(found)
        self._tenants.add(tenant)
        foreign = [i for i, t in enumerate(found) if t != tenant]
        if not foreign:
            return
        self._foreign_items += len(foreign)
        others = sorted({str(found[i]) for i in foreign})
        for other in others:
            pair = f"{tenant}->{other}"
            self._pairs[pair] = self._pairs.get(pair, 0) + 1
        ids = op.completion.get("ids")
        example: dict[str, Any] = {
            "kind": "cross-tenant-read",
            "op": op.id,
            "f": op.f,
            "process": op.process,
            "tenant": tenant,
            "foreign_tenants": others,
            "items": len(found),
            "foreign_items": len(foreign),
            "invoke_ms": run_ms(op.invoke_ns),
            "complete_ms": run_ms(op.complete_ns),
        }
        if isinstance(ids, list) and len(ids) == len(found):
            example["foreign_ids"] = [ids[i] for i in foreign[:_EXAMPLE_ITEMS]]
        if op.get("key") is not None:
            example["key"] = op.get("key")
        self._examples.add(op.invoke_ns, example)

    def finish(self) -> Verdict:
        n = self._examples.count
        details: dict[str, Any] = {
            "violations_by_kind": dict(self._examples.by_kind),
            "reads_with_evidence": self._reads,
            "items": self._items,
            "foreign_items": self._foreign_items,
            "tenants": len(self._tenants),
            "cross_tenant_pairs": dict(sorted(self._pairs.items(), key=lambda kv: -kv[1])[:50]),
            "reads_without_evidence": self._without_evidence,
            "malformed_ops": self._malformed,
        }
        if self._reads == 0:
            summary = "no ok read recorded the tenants of its items"
            return Verdict(NAME, "unknown", 0, summary, details=details)
        status: Status = "invalid" if n else "valid"
        summary = (
            f"{n} of {self._reads} reads returned another tenant's data "
            f"({self._foreign_items} of {self._items} items)"
        )
        return Verdict(NAME, status, n, summary, self._examples.examples(), details)


def check_tenant_isolation(ops: Iterable[Op], **params: Any) -> Verdict:
    return fold(TenantIsolation(**params), ops)
