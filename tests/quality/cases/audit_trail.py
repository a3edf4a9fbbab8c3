"""Detection-matrix case: audit trail integrity over a simulated append-only, hash-chained log."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterable
from typing import Any

from hypothesis.strategies import SearchStrategy

from harness.audit_chain import audit_hash
from harness.checkers.audit_trail import check_audit_trail
from harness.checkers.verdict import Verdict
from harness.history.loader import Op
from tests.quality.cases import NotApplicable
from tests.quality.cases._sim import MS
from tests.quality.cases._sim_audit import (
    RETENTION_MS,
    SKEW_MS,
    final_reads,
    inserts,
    rechain,
    simulate,
    steps_st,
)

CHECK: Callable[[Iterable[Op]], Verdict] = functools.partial(
    check_audit_trail, retention_ms=RETENTION_MS, clock_skew_ms=SKEW_MS
)

Mutation = Callable[[list[dict[str, Any]], random.Random], list[dict[str, Any]]]


def clean() -> SearchStrategy[list[dict[str, Any]]]:
    return steps_st.map(simulate)


def _pick_stored(
    records: list[dict[str, Any]], rng: random.Random, young: bool = False
) -> tuple[list[Any], int]:
    """A final read's record list and the index of one stored record (``young``: acknowledged and
    expiring more than the skew after the read ended; half the time the one closest to that edge,
    which the model's final read places 1 ms inside it)."""
    sent = inserts(records)
    spots = []
    for read in final_reads(records):
        invoke = next(r for r in records if r["id"] == read["id"] and r["type"] == "invoke")
        end = invoke["now_ms"] + (read["time_ns"] - invoke["time_ns"]) / MS
        for i, rec in enumerate(read["value"]):
            expires = rec["logged_at_ms"] + RETENTION_MS
            if not young or (sent[rec["audit_id"]][1] == "ok" and expires > end + SKEW_MS):
                spots.append((expires, read["value"], i))
    if not spots:
        raise NotApplicable("no stored record to tamper with")
    if young and rng.random() < 0.5:
        spots = [min(spots, key=lambda sp: sp[0])]
    _, chain, i = rng.choice(spots)
    return chain, i


def _edited(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """A stored record's content is changed and the chain re-hashed from it on: only the history
    (what was inserted) can tell."""
    chain, i = _pick_stored(records, rng)
    rechain(chain, i, lambda rec: rec.update(action="permission_revoked"))
    return records


def _hash_mismatch(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """A stored record's content is changed, its hash left as it was."""
    chain, i = _pick_stored(records, rng)
    chain[i]["severity"] = "low"
    return records


def _deleted(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """An acknowledged record disappears before its retention ends (half the time 1 ms before the
    skew could explain it)."""
    chain, i = _pick_stored(records, rng, young=True)
    del chain[i]
    return records


def _chain_broken(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """A writer appends to a stale head: a record links to its predecessor's predecessor (a fork).
    The history and the store agree, every hash verifies; only the chain shows it."""
    spots = []
    for read in final_reads(records):
        chain = read["value"]
        spots += [(chain, i) for i in range(1, len(chain)) if chain[i]["prev_hash"] == chain[i - 1]["hash"]]
    if not spots:
        raise NotApplicable("no two linked records stored")
    chain, i = rng.choice(spots)
    grandparent = chain[i - 1]["prev_hash"]
    remap = rechain(chain, i, lambda rec: rec.update(prev_hash=grandparent))
    tenant = chain[i]["tenant_id"]
    # the writer sent exactly what is stored: rewrite the inserts of this tenant from the target on
    sent = [
        r for r in records if r["f"] == "audit_insert" and r["type"] == "invoke" and r["tenant"] == tenant
    ]
    stored = {rec["audit_id"]: rec for rec in chain}
    start = next(k for k, r in enumerate(sent) if r["value"]["audit_id"] == chain[i]["audit_id"])
    for r in sent[start:]:
        aid = r["value"]["audit_id"]
        if aid in stored:
            r["value"] = dict(stored[aid])
        elif r["value"]["prev_hash"] in remap:  # not stored (failed, or expired): follow the writer
            r["value"]["prev_hash"] = remap[r["value"]["prev_hash"]]
    return records


def _forged(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """One record no writer sent is stored at the head of a tenant's chain, linked to the head and
    correctly hashed (a copy of the head with a new audit_id, 1 ms later): only the history of
    inserts can tell."""
    chains = [read["value"] for read in final_reads(records) if read["value"]]
    if not chains:
        raise NotApplicable("no stored chain to extend")
    chain = rng.choice(chains)
    head = chain[-1]
    forged = {**head, "audit_id": f"{head['audit_id']}-forged", "logged_at_ms": head["logged_at_ms"] + 1}
    forged["prev_hash"] = head["hash"]
    forged["hash"] = audit_hash(forged, forged["prev_hash"])
    chain.append(forged)
    return records


ANOMALIES: dict[str, Mutation] = {
    "audit-record-edited": _edited,
    "audit-hash-mismatch": _hash_mismatch,
    "audit-record-deleted": _deleted,
    "audit-chain-broken": _chain_broken,
    "audit-record-forged": _forged,
}
