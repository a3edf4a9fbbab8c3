"""Checker: one stored event per ``(tenant_id, event_id)`` idempotency key, retries included.

What it assumes: MongoDB enforces the platform's idempotency key (a unique index on
``(tenant_id, event_id)``, or an upsert on it), so however often a client retries a write, at most
one document per key is stored. After healing, the runner reads every tenant's stored events
(``final_events``, see :mod:`harness.checkers.final_events`: one list entry per stored document). A
key listed more than once is ``duplicate-idempotency-key``; the example shows the insert attempts
behind it, so a duplicate caused by a client retry after a timeout shows as such.

A client that makes a *new* id when it retries defeats the idempotency key: the same event is then
stored under two ids. When insert ops record the event's content (invoke ``fingerprint``, else
``payload``, ``content``, ``document``, ``doc`` or ``value``, compared as canonical JSON), two
stored ids of one tenant whose inserts carried the same content are ``duplicate-content``.

Ops read (any order): ``final_events`` (the evidence) and ``insert`` (invoke: ``tenant``,
``event_id``, optional content as above; to show the attempts, count retries and fingerprint the
content). No final read: ``unknown``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from harness.checkers.compose import fold
from harness.checkers.fields import event_key
from harness.checkers.final_events import F as FINAL_EVENTS
from harness.checkers.final_events import FinalEvents
from harness.checkers.verdict import MAX_EXAMPLES, Status, Verdict, run_ms
from harness.history.loader import Op

NAME = "no-duplicates"
#: The anomaly kinds this checker's examples (and ``details["violations_by_kind"]``) can name.
KINDS: frozenset[str] = frozenset({"duplicate-idempotency-key", "duplicate-content"})
_OPS_PER_EXAMPLE = 5
#: Invoke fields that carry an event's content, in the order they are looked for.
CONTENT_FIELDS = ("fingerprint", "payload", "content", "document", "doc", "value")
#: (invoke_ns, op id) to order examples by, and the example.
_Finding = tuple[int, int, dict[str, Any]]


def fingerprint(op: Op) -> str | None:
    """The canonical form of the content an insert carried, or None when it carried none."""
    for name in CONTENT_FIELDS:
        value = op.invoke.get(name)
        if value is not None:
            return f"{name}:{json.dumps(value, sort_keys=True, separators=(',', ':'), default=str)}"
    return None


class NoDuplicates:
    """Fold form of the checker (see the module docstring)."""

    name = NAME
    fs: frozenset[str] | None = frozenset({"insert", FINAL_EVENTS})

    def __init__(self) -> None:
        self.final = FinalEvents()
        # key -> [attempt count, (invoke_ns, op id, outcome) of the first few attempts]
        self.attempts: dict[tuple[str, str], list[Any]] = {}
        self.inserts = 0
        self.malformed = 0
        self.content: dict[tuple[str, str], str] = {}  # event key -> fingerprint of its content

    def observe(self, op: Op) -> None:
        if op.f == FINAL_EVENTS:
            self.final.observe(op)
            return
        self.inserts += 1
        key = event_key(op)
        if key is None:
            self.malformed += 1
            return
        entry = self.attempts.get(key)
        if entry is None:
            entry = self.attempts[key] = [0, []]
        entry[0] += 1
        fp = fingerprint(op)
        if fp is not None:
            self.content.setdefault(key, fp)
        if len(entry[1]) < _OPS_PER_EXAMPLE:
            entry[1].append((op.invoke_ns, op.id, op.outcome))

    def finish(self) -> Verdict:
        reads = self.final.reads
        if not reads:
            why = "no usable final_events read" if self.final.ops else "no final_events read in history"
            details0 = {"final_reads": self.final.ops, "malformed_ops": self.malformed + self.final.malformed}
            return Verdict(NAME, "unknown", 0, why, details=details0)
        stored = sum(len(read.event_ids) for read in reads.values())
        findings = self._duplicate_keys()
        dup_keys = len(findings)
        extra = sum(f[2]["copies"] - 1 for f in findings)
        same_content = self._same_content(findings)
        extra += same_content
        findings.sort(key=lambda f: (f[0], f[1]))
        retried = [n for n, _ in self.attempts.values() if n > 1]
        unread = sorted({t for t, _ in self.attempts} - reads.keys())
        status: Status = "invalid" if extra else ("unknown" if unread else "valid")
        summary = (
            f"{stored:,} stored events over {len(reads):,} tenants: {dup_keys:,} idempotency keys stored "
            f"more than once, {same_content:,} events stored again under another id ({extra:,} extra "
            f"copies); {len(retried):,} keys retried by the client "
            f"({sum(retried):,} attempts)"
        )
        if unread:
            summary += f"; {len(unread):,} written tenants without a usable final_events read"
        by_kind = {
            "duplicate-idempotency-key": extra - same_content,  # extra copies, as violations counts them
            "duplicate-content": same_content,
        }
        details: dict[str, Any] = {
            "violations_by_kind": {k: n for k, n in by_kind.items() if n},
            "stored": stored,
            "tenants_read": len(reads),
            "duplicate_keys": dup_keys,
            "extra_copies": extra,
            "duplicate_keys_retried": sum(1 for f in findings if f[2].get("retried")),
            "duplicate_content": same_content,
            "events_with_content": len(self.content),
            "retried_keys": len(retried),
            "retry_attempts": sum(retried),
            "insert_ops": self.inserts,
            "tenants_unread": len(unread),
            "tenants_unread_sample": unread[:MAX_EXAMPLES],
            "malformed_ops": self.malformed + self.final.malformed,
        }
        return Verdict(NAME, status, extra, summary, [f[2] for f in findings[:MAX_EXAMPLES]], details)

    def _duplicate_keys(self) -> list[_Finding]:
        """A finding per idempotency key a tenant's final read lists more than once, with the insert
        attempts behind it."""
        findings: list[_Finding] = []
        for tenant, read in self.final.reads.items():
            for event_id, copies in Counter(read.event_ids).items():
                if copies < 2:
                    continue
                n, first = self.attempts.get((tenant, event_id), [0, []])
                first = sorted(first)
                example: dict[str, Any] = {
                    "kind": "duplicate-idempotency-key",
                    "tenant": tenant,
                    "event_id": event_id,
                    "copies": copies,
                    "insert_attempts": n,
                    "retried": n > 1,
                    "insert_ops": [i for _, i, _ in first],
                    "insert_outcomes": [o for _, _, o in first],
                    "first_insert_ms": run_ms(first[0][0]) if first else None,
                    "final_read_op": read.op_id,
                    "final_read_ms": run_ms(read.complete_ns),
                }
                at = first[0][:2] if first else (read.invoke_ns, read.op_id)
                findings.append((at[0], at[1], example))
        return findings

    def _same_content(self, findings: list[_Finding]) -> int:
        """Stored ids of one tenant whose inserts carried the same content: the extra copies."""
        extra = 0
        for tenant, read in self.final.reads.items():
            by_content: dict[str, list[str]] = {}
            for event_id in dict.fromkeys(read.event_ids):
                fp = self.content.get((tenant, event_id))
                if fp is not None:
                    by_content.setdefault(fp, []).append(event_id)
            for ids in by_content.values():
                if len(ids) < 2:
                    continue
                extra += len(ids) - 1
                attempts = sorted(a for i in ids for a in self.attempts.get((tenant, i), [0, []])[1])
                first = attempts[0] if attempts else (read.invoke_ns, read.op_id, None)
                findings.append(
                    (
                        first[0],
                        first[1],
                        {
                            "kind": "duplicate-content",
                            "tenant": tenant,
                            "event_ids": ids[:_OPS_PER_EXAMPLE],
                            "copies": len(ids),
                            "insert_ops": [i for _, i, _ in attempts[:_OPS_PER_EXAMPLE]],
                            "insert_outcomes": [o for _, _, o in attempts[:_OPS_PER_EXAMPLE]],
                            "final_read_op": read.op_id,
                            "final_read_ms": run_ms(read.complete_ns),
                        },
                    )
                )
        return extra


def check_no_duplicates(ops: Iterable[Op]) -> Verdict:
    return fold(NoDuplicates(), ops)
