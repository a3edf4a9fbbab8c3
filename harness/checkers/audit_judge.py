"""The audit trail's per-tenant judgement: the stored chain against what the inserts sent (stored
twice, hash not its content's, forged, edited, deleted before expiry, forked or broken links)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.audit_chain import GENESIS
from harness.checkers.verdict import run_ms
from harness.ops import OpType

# the members once: each OpType.X is an enum-class lookup (~200 ns), several per op and checker
_OK = OpType.OK


@dataclass(slots=True)
class Inserted:
    """An audit record as an ``audit_insert`` sent it."""

    hash: str
    prev_hash: str
    digest: str  # audit_hash of what was sent (normally == hash)
    expires_ms: float
    op_id: int
    invoke_ns: int
    outcome: str | None


@dataclass(slots=True)
class Stored:
    """An audit record as the final read found it."""

    audit_id: str
    hash: str
    prev_hash: str
    digest: str
    op_id: int
    read_ns: int


@dataclass
class TenantRead:
    """One tenant's final audit read, all its pages."""

    records: list[Stored]
    latest_ms: float = -math.inf  # the latest wall-clock ms any page of the read can have run at
    first_ns: int = 0
    usable: bool = True


Add = Callable[..., None]  # (kind, tenant, sort_ns, **fields): one example of a violation


def judge_tenant(
    add: Add,
    tenant: str,
    read: TenantRead,
    inserted: dict[str, Inserted],
    by_hash: dict[str, str],
    clock_skew_ms: float,
) -> None:
    """Every violation of one tenant's stored chain against what its inserts sent."""
    present, children = _judge_stored(add, tenant, read, inserted)
    deleted, expired = _judge_missing(add, tenant, read, inserted, present, clock_skew_ms)
    _judge_links(add, tenant, read, present, children, deleted | expired, by_hash)


def _judge_stored(
    add: Add, tenant: str, read: TenantRead, inserted: dict[str, Inserted]
) -> tuple[dict[str, Stored], dict[str, list[Stored]]]:
    """Each stored record: stored twice, hash not its content's, sent by no insert, or edited."""
    present: dict[str, Stored] = {}
    children: dict[str, list[Stored]] = {}
    for rec in read.records:
        if rec.audit_id in present:
            add(
                "audit-chain-broken",
                tenant,
                rec.read_ns,
                audit_id=rec.audit_id,
                reason="the same audit_id is stored twice",
                final_read_op=rec.op_id,
            )
            continue
        present[rec.audit_id] = rec
        children.setdefault(rec.prev_hash, []).append(rec)
        ins = inserted.get(rec.audit_id)
        where = {
            "audit_id": rec.audit_id,
            "final_read_op": rec.op_id,
            "final_read_ms": run_ms(rec.read_ns),
        }
        if rec.hash != rec.digest:
            add(
                "audit-hash-mismatch",
                tenant,
                rec.read_ns,
                stored_hash=rec.hash,
                computed_hash=rec.digest,
                **where,
            )
        if ins is None:
            add(
                "audit-record-forged",
                tenant,
                rec.read_ns,
                reason="no audit_insert of this tenant sent this record",
                **where,
            )
            continue
        _judge_edited(add, tenant, rec, ins, where)
    return present, children


def _judge_edited(add: Add, tenant: str, rec: Stored, ins: Inserted, where: dict[str, Any]) -> None:
    """A stored record that is not what its insert sent: which of content, hash, prev_hash changed."""
    if (rec.digest, rec.hash, rec.prev_hash) != (ins.digest, ins.hash, ins.prev_hash):
        changed = [
            name
            for name, a, b in (
                ("content", rec.digest, ins.digest),
                ("hash", rec.hash, ins.hash),
                ("prev_hash", rec.prev_hash, ins.prev_hash),
            )
            if a != b
        ]
        add(
            "audit-record-edited",
            tenant,
            ins.invoke_ns,
            insert_op=ins.op_id,
            insert_ms=run_ms(ins.invoke_ns),
            changed=changed,
            **where,
        )


def _judge_missing(
    add: Add,
    tenant: str,
    read: TenantRead,
    inserted: dict[str, Inserted],
    present: dict[str, Stored],
    clock_skew_ms: float,
) -> tuple[set[str], set[str]]:
    """Each acknowledged record not stored before its expiry is deleted; returns the hashes of the
    records reported deleted and of those legitimately gone (expired)."""
    deleted: set[str] = set()  # hashes of records reported deleted
    expired: set[str] = set()  # hashes of records legitimately gone
    for audit_id, ins in inserted.items():
        if audit_id in present:
            continue
        if read.latest_ms >= ins.expires_ms - clock_skew_ms:
            expired.add(ins.hash)  # past its retention: the TTL monitor may have removed it
            continue
        if ins.outcome != _OK:
            continue  # may never have landed (a record linking to it is a broken chain)
        deleted.add(ins.hash)
        add(
            "audit-record-deleted",
            tenant,
            ins.invoke_ns,
            audit_id=audit_id,
            insert_op=ins.op_id,
            insert_ms=run_ms(ins.invoke_ns),
            expires_at_ms=ins.expires_ms,
            final_read_wall_ms=read.latest_ms,
            final_read_ms=run_ms(read.first_ns),
        )
    return deleted, expired


def _judge_links(
    add: Add,
    tenant: str,
    read: TenantRead,
    present: dict[str, Stored],
    children: dict[str, list[Stored]],
    accounted: set[str],
    by_hash: dict[str, str],
) -> None:
    """The chain: no fork, and every link to the first record, a present one, or one whose absence
    is reported (deleted) or allowed (expired)."""
    present_hashes = {rec.hash for rec in present.values()}
    for prev, recs in children.items():
        if len(recs) > 1:
            add(
                "audit-chain-broken",
                tenant,
                read.first_ns,
                reason="fork: records share a predecessor",
                prev_hash=prev,
                audit_ids=sorted(r.audit_id for r in recs)[:10],
                final_read_ms=run_ms(read.first_ns),
            )
        # the first record, a link to a present record, or one to a record whose absence is
        # reported (deleted) or allowed (expired: the TTL monitor removes expired records in
        # no particular order, so a trimmed chain may have gaps)
        if prev == GENESIS or prev in present_hashes or prev in accounted:
            continue
        for rec in recs:
            add(
                "audit-chain-broken",
                tenant,
                rec.read_ns,
                audit_id=rec.audit_id,
                reason="predecessor hash matches no record inserted or stored",
                prev_hash=prev,
                predecessor=by_hash.get(prev),
                final_read_op=rec.op_id,
            )
