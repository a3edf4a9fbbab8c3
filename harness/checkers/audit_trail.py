"""Checker: the audit trail is immutable and its per-tenant hash chain is intact.

The platform's ``audit_logs`` collection is append-only (no updates, no deletes before the 365-day
retention), and each record carries ``hash``: SHA-256 over its canonical content and the previous
record's hash, so the records of one tenant form a chain in which any edit, deletion or insertion
shows. :func:`harness.audit_chain.audit_hash` is the one definition the workload and this checker
share.

Record (flat, as stored without ``_id``; dates as wall-clock ms)::

    {"audit_id": str, "tenant_id": str, "logged_at_ms": int, "expires_at_ms": int (optional),
     "category": ..., "action": ..., "actor": {...}, ...,        # the content: any JSON values
     "prev_hash": str, "hash": str}

    hash = "sha256:" + hex(SHA-256(prev_hash UTF-8 + "\\n" + canonical(content)))

where ``content`` is the record without ``hash`` and ``prev_hash``, and ``canonical`` is JSON with
sorted keys, no whitespace, UTF-8 (:mod:`harness.audit_chain`). The first record of a tenant has
``prev_hash`` = :data:`harness.audit_chain.GENESIS`.
Expiry is ``expires_at_ms`` when present, else ``logged_at_ms`` + ``retention_ms``.

Op vocabulary:

``audit_insert`` — one insert (``w: majority, j: true``) of one record.
    invoke: ``tenant`` (str), ``value`` = the record as sent. A writer appends to its tenant's chain
    one record at a time; after an unknown outcome it reads the chain head back before appending.
``final_audit`` — the audit log of one tenant read after healing (primary, majority read concern),
    sorted by ``logged_at``; several ops per tenant (pages) are united.
    invoke: ``tenant``, ``now_ms`` (wall-clock ms when the read started).
    completion ``ok``: ``value`` = list of records as stored.
``audit_update`` / ``audit_delete`` — optional tamper attempts the platform must refuse.
    invoke: ``tenant``, ``key`` (the audit_id), ``now_ms``. ``ok`` means the store allowed it.

Findings (example ``kind``):

* ``audit-hash-mismatch`` — a stored record's hash does not match its own content and prev_hash;
* ``audit-record-edited`` — a stored record differs from the one inserted (even if re-hashed), or
  an ``audit_update`` succeeded;
* ``audit-record-deleted`` — an acknowledged record is missing while the final read ran before
  its expiry (minus ``clock_skew_ms``), or an ``audit_delete`` before expiry succeeded;
* ``audit-chain-broken`` — two records share a predecessor (a fork), a record names a predecessor
  that no insert produced and that is not legitimately gone, or an audit_id is stored twice;
* ``audit-record-forged`` — a stored record that no ``audit_insert`` sent, or one without a string
  ``audit_id``, ``hash`` and ``prev_hash`` (the writer always sends them: never skipped as noise).

Unknown outcomes: an ``info`` (or never completed) insert may be present or absent; when present
it must match what was sent, and a stored record may link to it only if it is stored too (or
expired). A record linking to a reported deletion or to an expired record is not counted again
as a broken chain. A tenant with inserts but
no usable final read is not judged (``unknown`` unless something else is ``invalid``).

Streaming: inserts are kept as (tenant, hash, digest, prev_hash, expiry, op) per audit_id and final
records as digests, so memory is a few hundred bytes per audit record; judgement is in ``finish``
because inserts that never completed arrive last.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from harness.audit_chain import audit_hash
from harness.checkers._common import Examples, as_num, wall_window
from harness.checkers.audit_judge import Inserted, Stored, TenantRead, judge_tenant
from harness.checkers.compose import fold
from harness.checkers.verdict import Status, Verdict, run_ms
from harness.history.loader import Op
from harness.ops import OpType

# the members once: each OpType.X is an enum-class lookup (~200 ns), several per op and checker
_OK, _FAIL = OpType.OK, OpType.FAIL

NAME = "audit-trail-integrity"
#: The anomaly kinds this checker's examples (and ``details["violations_by_kind"]``) can name.
KINDS: frozenset[str] = frozenset(
    {
        "audit-hash-mismatch",
        "audit-record-edited",
        "audit-record-deleted",
        "audit-chain-broken",
        "audit-record-forged",
    }
)

DAY_MS = 86_400_000


class AuditTrail:
    name = NAME

    def __init__(self, *, retention_ms: float = 365 * DAY_MS, clock_skew_ms: float = 1_000.0) -> None:
        self.fs: frozenset[str] | None = frozenset(
            {"audit_insert", "final_audit", "audit_update", "audit_delete"}
        )
        self.retention_ms = retention_ms
        self.clock_skew_ms = clock_skew_ms
        # tenant -> audit_id -> what was sent; tenant -> hash of a sent record -> its audit_id
        self._inserted: dict[str, dict[str, Inserted]] = {}
        self._by_hash: dict[str, dict[str, str]] = {}
        self._reads: dict[str, TenantRead] = {}
        self._examples = Examples()
        self._inserts: dict[str, int] = {}
        self._tampers_refused = 0
        self._tampers: list[tuple[Op, str]] = []
        self._unreadable: list[tuple[str, int, int, Any]] = []  # (tenant, op id, invoke_ns, record)
        self._malformed = 0

    # --- observing ------------------------------------------------------------------------------

    def _expiry(self, rec: Mapping[str, Any]) -> float:
        expires = as_num(rec.get("expires_at_ms"))
        if expires is not None:
            return expires
        logged = as_num(rec.get("logged_at_ms"))
        return math.inf if logged is None else logged + self.retention_ms

    def observe(self, op: Op) -> None:
        tenant = op.get("tenant")
        if not isinstance(tenant, str):
            self._malformed += 1
            return
        if op.f == "audit_insert":
            self._observe_insert(op, tenant)
        elif op.f == "final_audit":
            self._observe_final(op, tenant)
        else:
            self._observe_tamper(op, tenant)

    def _observe_insert(self, op: Op, tenant: str) -> None:
        rec = op.invoke.get("value")
        outcome = op.outcome or "none"
        self._inserts[outcome] = self._inserts.get(outcome, 0) + 1
        if not _well_formed(rec):
            self._malformed += 1
            return
        assert isinstance(rec, dict)
        if op.outcome == _FAIL:
            return  # certainly not stored
        ins = Inserted(
            rec["hash"],
            rec["prev_hash"],
            audit_hash(rec, rec["prev_hash"]),
            self._expiry(rec),
            op.id,
            op.invoke_ns,
            op.outcome,
        )
        self._inserted.setdefault(tenant, {})[rec["audit_id"]] = ins
        self._by_hash.setdefault(tenant, {})[ins.hash] = rec["audit_id"]

    def _observe_final(self, op: Op, tenant: str) -> None:
        read = self._reads.get(tenant)
        if read is None:
            read = self._reads[tenant] = TenantRead([], first_ns=op.invoke_ns)
        window = wall_window(op)
        records = op.completion.get("value") if op.completion is not None else None
        if op.outcome != _OK or not isinstance(records, list):
            read.usable = False  # a page is missing: absences cannot be judged for this tenant
            return
        if window is None:
            read.usable = False
        else:
            read.latest_ms = max(read.latest_ms, window[1])
        read.first_ns = min(read.first_ns, op.invoke_ns)
        for rec in records:
            if not _well_formed(rec):
                # a stored record without its identity or hash cannot have come from the writer,
                # which always sends both: it is a forgery (or damage), never noise to skip
                self._unreadable.append((tenant, op.id, op.invoke_ns, rec))
                continue
            read.records.append(
                Stored(
                    rec["audit_id"],
                    rec["hash"],
                    rec["prev_hash"],
                    audit_hash(rec, rec["prev_hash"]),
                    op.id,
                    op.invoke_ns,
                )
            )

    def _observe_tamper(self, op: Op, tenant: str) -> None:
        if op.outcome != _OK:
            self._tampers_refused += op.outcome == _FAIL
            return
        self._tampers.append((op, tenant))  # judged in finish: the record's insert may arrive later

    def _judge_tamper(self, op: Op, tenant: str) -> None:
        audit_id = op.get("key")
        window = wall_window(op)
        ins = self._inserted.get(tenant, {}).get(audit_id) if isinstance(audit_id, str) else None
        if op.f == "audit_delete":
            expires = ins.expires_ms if ins is not None else math.inf
            if window is not None and window[1] >= expires - self.clock_skew_ms:
                return  # deleting an expired record is retention, not tampering
        kind = "audit-record-edited" if op.f == "audit_update" else "audit-record-deleted"
        self._examples.add(
            op.invoke_ns,
            {
                "kind": kind,
                "tenant": tenant,
                "audit_id": audit_id,
                "op": op.id,
                "f": op.f,
                "reason": f"{op.f} was acknowledged",
                "invoke_ms": run_ms(op.invoke_ns),
                "complete_ms": run_ms(op.complete_ns),
            },
        )

    # --- judging --------------------------------------------------------------------------------

    def _add(self, kind: str, tenant: str, sort_ns: int, **fields: Any) -> None:
        self._examples.add(sort_ns, {"kind": kind, "tenant": tenant, **fields})

    def finish(self) -> Verdict:
        for op, tenant in self._tampers:
            self._judge_tamper(op, tenant)
        for tenant, op_id, read_ns, rec in self._unreadable:
            fields = rec if isinstance(rec, dict) else {}
            self._add(
                "audit-record-forged",
                tenant,
                read_ns,
                audit_id=fields.get("audit_id"),
                reason="a stored record without a string audit_id, hash and prev_hash",
                missing=[f for f in ("audit_id", "hash", "prev_hash") if not isinstance(fields.get(f), str)],
                final_read_op=op_id,
                final_read_ms=run_ms(read_ns),
            )
        unjudged: list[str] = []
        judged = 0
        tenants = set(self._inserted) | set(self._reads)
        for tenant in sorted(tenants):
            read = self._reads.get(tenant)
            if read is None or not read.usable:
                unjudged.append(tenant)
                continue
            judged += 1
            judge_tenant(
                self._add,
                tenant,
                read,
                self._inserted.get(tenant, {}),
                self._by_hash.get(tenant, {}),
                self.clock_skew_ms,
            )
        n = self._examples.count
        details: dict[str, Any] = {
            "violations_by_kind": dict(self._examples.by_kind),
            "inserts": self._inserts,
            "records_stored": sum(len(r.records) for r in self._reads.values()),
            "tenants_judged": judged,
            "tenants_unjudged": len(unjudged),
            "tenants_unjudged_sample": unjudged[:20],
            "by_kind": self._examples.by_kind,
            "tamper_attempts_refused": self._tampers_refused,
            "malformed_ops": self._malformed,
        }
        if n == 0 and (judged == 0 or unjudged):
            why = (
                "no tenant's audit log was read after the run"
                if judged == 0
                else (f"{len(unjudged)} tenants without a usable final read")
            )
            return Verdict(NAME, "unknown", 0, why, details=details)
        status: Status = "invalid" if n else "valid"
        summary = (
            f"{n} audit integrity violations over {judged} tenants"
            if n
            else (f"{details['records_stored']} audit records over {judged} tenants intact, chains unbroken")
        )
        return Verdict(NAME, status, n, summary, self._examples.examples(), details)


def _well_formed(rec: Any) -> bool:
    return (
        isinstance(rec, dict)
        and isinstance(rec.get("audit_id"), str)
        and isinstance(rec.get("hash"), str)
        and isinstance(rec.get("prev_hash"), str)
    )


def check_audit_trail(ops: Iterable[Op], **params: Any) -> Verdict:
    return fold(AuditTrail(**params), ops)
