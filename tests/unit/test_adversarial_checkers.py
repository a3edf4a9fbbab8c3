"""Adversarial histories (issue 13): each is written to a file, read back through the real loader
(:func:`harness.history.loader.stream_ops`) and fed to the real checker. Every one fooled a checker
into ``valid`` before its fix: a verdict on nothing, a counter going backwards, a failed write
satisfying an admission, one plane's uncertainty hiding the other's loss, an unreadable stored
audit record, values never written, phantoms, file order taken for time order, and a duplicate
under a regenerated id."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from harness.audit_chain import GENESIS, audit_hash
from harness.checkers import CHECKERS
from harness.checkers.acknowledged_writes import check_acknowledged_writes
from harness.checkers.audit_trail import check_audit_trail
from harness.checkers.counters import check_acknowledged_increments
from harness.checkers.counters_reconcile import check_counters_reconcile
from harness.checkers.linearizable import check_linearizable
from harness.checkers.monotonic_reads import check_monotonic_reads
from harness.checkers.no_duplicates import check_no_duplicates
from harness.checkers.rate_limit import check_rate_limit
from harness.checkers.read_your_writes import check_read_your_writes
from harness.checkers.retention import check_retention
from harness.checkers.sessions import check_sessions
from harness.checkers.verdict import Verdict
from harness.history.loader import stream_ops

# every verdict below keeps the kind contract: kinds declared by its checker, counted completely
pytestmark = pytest.mark.usefixtures("every_verdict_kinds_checked")

MS = 1_000_000


class H:
    """A history under construction: ``op`` adds an invoke and (unless ``outcome`` is None) its
    completion, at run times in ms; ``write`` saves it in time order, then applies ``delays``
    (completion lines recorded late: file order is not time order)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.next_id = 1

    def op(
        self,
        f: str,
        at_ms: float,
        outcome: str | None = "ok",
        dur_ms: float = 1.0,
        done: dict[str, Any] | None = None,
        process: str = "p",
        **inv: Any,
    ) -> int:
        op_id, self.next_id = self.next_id, self.next_id + 1
        base = {"id": op_id, "process": process, "f": f}
        self.records.append({**base, "type": "invoke", "time_ns": int(at_ms * MS), **inv})
        if outcome is not None:
            self.records.append(
                {**base, "type": outcome, "time_ns": int((at_ms + dur_ms) * MS), **(done or {})}
            )
        return op_id

    def write(self, path: Path, delays: Sequence[tuple[int, int]] = ()) -> Path:
        """Writes the records in time order, then for each ``(a, b)`` in ``delays`` moves op
        ``a``'s completion line to just after op ``b``'s (a reply recorded late)."""
        lines = sorted(self.records, key=lambda r: (r["time_ns"], r["type"] != "invoke", r["id"]))
        for a, b in delays:
            moved = next(r for r in lines if r["id"] == a and r["type"] != "invoke")
            lines.remove(moved)
            ib = next(i for i, r in enumerate(lines) if r["id"] == b and r["type"] != "invoke")
            lines.insert(ib + 1, moved)
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in lines))
        return path

    def check(
        self, fn: Any, tmp_path: Path, delays: Sequence[tuple[int, int]] = (), **params: Any
    ) -> Verdict:
        v: Verdict = fn(stream_ops(self.write(tmp_path / "history.jsonl", delays)), **params)
        return v


def kinds(v: Verdict) -> set[str]:
    return {ex["kind"] for ex in v.examples}


# --- 1. a verdict on nothing -----------------------------------------------------------------------


def test_shared_rule_a_valid_verdict_with_malformed_ops_is_unknown() -> None:
    v = Verdict("x", "valid", 0, "all fine", details={"malformed_ops": 2})
    assert v.status == "unknown" and "2 malformed ops" in v.summary
    v = Verdict("x", "valid", 0, "all fine", details={"unjudged_ops": 1})
    assert v.status == "unknown"
    assert Verdict("x", "invalid", 1, "bad", details={"malformed_ops": 2}).status == "invalid"


def test_counters_every_incr_without_key_is_unknown(tmp_path: Path) -> None:
    h = H()
    for i in range(5):
        h.op("incr", i, "ok", done={"value": i + 1}, tenant="t")  # no key: nothing can be grouped
    h.op("final_read", 100, "ok", done={"value": None}, key="counter:t", process="final")
    v = h.check(check_acknowledged_increments, tmp_path)
    assert v.status == "unknown" and v.details["malformed_ops"] == 5


def test_acknowledged_writes_every_insert_without_event_id_is_unknown(tmp_path: Path) -> None:
    h = H()
    for i in range(3):
        h.op("insert", i, "ok", tenant="t")  # no event_id
    h.op("final_events", 100, "ok", done={"value": {"event_ids": []}}, tenant="t", process="final")
    v = h.check(check_acknowledged_writes, tmp_path)
    assert v.status == "unknown" and v.details["malformed_ops"] == 3


def test_counters_reconcile_every_incr_without_tenant_is_unknown(tmp_path: Path) -> None:
    h = H()
    for i in range(3):
        h.op("incr", i, "ok", done={"value": i + 1}, key="c:t:0")  # no tenant: no group
    h.op("final_read", 100, "ok", done={"value": 1}, key="c:t:0", process="final")
    v = h.check(check_counters_reconcile, tmp_path)
    assert v.status == "unknown" and v.details["malformed_ops"] == 3


def test_no_duplicates_inserts_without_key_count_as_malformed(tmp_path: Path) -> None:
    h = H()
    h.op("insert", 0, "ok", tenant="t", event_id="e1")
    h.op("insert", 1, "ok", tenant="t")  # no event_id
    h.op("final_events", 100, "ok", done={"value": {"event_ids": ["e1"]}}, tenant="t", process="final")
    v = h.check(check_no_duplicates, tmp_path)
    assert v.status == "unknown" and v.details["malformed_ops"] == 1


@pytest.mark.parametrize("name", sorted(CHECKERS))
def test_every_checker_reports_malformed_ops(name: str) -> None:
    """The shared rule reads ``details["malformed_ops"]``: every checker reports it."""
    v = CHECKERS[name]().finish()
    assert "malformed_ops" in v.details and v.status != "valid"


# --- 2. counters going backwards -------------------------------------------------------------------


def test_incr_reply_below_one_completed_before_is_a_violation(tmp_path: Path) -> None:
    """A failover rolls the counter back from 5 to 2; later INCRs of unknown outcome make the
    counts and the final read look fine, and no reply value repeats."""
    h = H()
    for i in range(4):
        h.op("incr", i, "info", done={"error": "timeout"}, key="c", tenant="t")
    a = h.op("incr", 10, "ok", done={"value": 5}, key="c", tenant="t")
    b = h.op("incr", 20, "ok", done={"value": 3}, key="c", tenant="t")  # invoked after a returned 5
    for i in range(2):
        h.op("incr", 30 + i, "info", done={"error": "timeout"}, key="c", tenant="t")
    h.op("final_read", 100, "ok", done={"value": 5}, key="c", process="final")
    v = h.check(check_acknowledged_increments, tmp_path)
    assert v.status == "invalid"
    [ex] = [ex for ex in v.examples if ex["kind"] == "incr-went-backwards"]
    assert ex["op"] == b and ex["earlier_op"] == a and ex["value"] == 3 and ex["earlier_value"] == 5


def test_incr_overlapping_replies_in_any_order_are_fine(tmp_path: Path) -> None:
    h = H()
    h.op("incr", 0, "ok", dur_ms=10, done={"value": 2}, key="c", tenant="t")
    h.op("incr", 1, "ok", dur_ms=2, done={"value": 1}, key="c", tenant="t")  # concurrent: either order
    h.op("final_read", 100, "ok", done={"value": 2}, key="c", process="final")
    assert h.check(check_acknowledged_increments, tmp_path).status == "valid"


def test_incr_backwards_seen_whatever_the_file_order(tmp_path: Path) -> None:
    h = H()
    a = h.op("incr", 0, "ok", done={"value": 2}, key="c", tenant="t")
    h.op("incr", 1, "info", done={"error": "timeout"}, key="c", tenant="t")
    b = h.op("incr", 5, "ok", done={"value": 1}, key="c", tenant="t")
    h.op("final_read", 100, "ok", done={"value": 2}, key="c", process="final")
    v = h.check(check_acknowledged_increments, tmp_path, delays=[(a, b)])
    assert "incr-went-backwards" in kinds(v)


# --- 3. a failed write never satisfies an admission ------------------------------------------------


def _admit(h: H, at: float, event_id: str) -> int:
    value = {"now_ms": at, "limit": 10, "window_ms": 1000, "req": event_id}
    return h.op(
        "rate_limit",
        at,
        "ok",
        done={"value": {"allowed": True, "remaining": 9}},
        key="rl:t",
        tenant="t",
        event_id=event_id,
        value=value,
    )


def test_failed_write_does_not_satisfy_an_admission(tmp_path: Path) -> None:
    h = H()
    _admit(h, 0, "e1")
    h.op("incr", 2, "ok", done={"value": 1}, key="c", tenant="t", event_id="e1")
    rl = _admit(h, 10, "e2")
    h.op("incr", 12, "fail", done={"error": "ConnectionError"}, key="c", tenant="t", event_id="e2")
    v = h.check(check_rate_limit, tmp_path)
    assert v.status == "invalid" and v.details["admitted_request_lost"] == 1
    [ex] = v.examples
    assert ex["kind"] == "admitted-request-lost" and ex["op"] == rl and ex["link"] == "e2"


def test_failed_then_retried_write_satisfies_an_admission(tmp_path: Path) -> None:
    h = H()
    _admit(h, 0, "e1")
    h.op("incr", 2, "fail", done={"error": "ConnectionError"}, key="c", tenant="t", event_id="e1")
    h.op("insert", 3, "info", done={"error": "timeout"}, tenant="t", event_id="e1")
    assert h.check(check_rate_limit, tmp_path).status == "valid"


# --- 4. one plane's uncertainty never masks the other's loss ---------------------------------------


def test_redis_uncertainty_does_not_mask_a_lost_document(tmp_path: Path) -> None:
    """Counter: one INCR ok, one info (not applied), C = 1. MongoDB: two acknowledged inserts, one
    document stored. C - M = 0 lies inside the cross-plane gap [-1, 0], yet a document is lost."""
    h = H()
    for i, (incr, ins) in enumerate((("ok", "ok"), ("info", "ok"))):
        h.op("insert", 10 * i, ins, tenant="t", event_id=f"e{i}", window=0)
        h.op("incr", 10 * i + 2, incr, done={"value": 1}, key="c:t:0", tenant="t", event_id=f"e{i}", window=0)
    h.op("final_read", 100, "ok", done={"value": 1}, key="c:t:0", process="final")
    h.op(
        "final_events",
        101,
        "ok",
        done={"value": {"event_ids": ["e0"], "windows": [0]}},
        tenant="t",
        process="final",
    )
    v = h.check(check_counters_reconcile, tmp_path)
    assert v.status == "invalid"
    [ex] = [ex for ex in v.examples if ex["kind"] == "stored-count-mismatch"]
    assert ex["stored"] == 1 and ex["expected"] == [2, 2]


def test_mongodb_uncertainty_stays_allowed(tmp_path: Path) -> None:
    h = H()
    h.op("insert", 0, "ok", tenant="t", event_id="e0", window=0)
    h.op("incr", 1, "ok", done={"value": 1}, key="c:t:0", tenant="t", event_id="e0", window=0)
    h.op("insert", 10, "info", tenant="t", event_id="e1", window=0)
    h.op("incr", 11, "info", key="c:t:0", tenant="t", event_id="e1", window=0)
    h.op("final_read", 100, "ok", done={"value": 1}, key="c:t:0", process="final")
    h.op("final_events", 101, "ok", done={"value": {"event_ids": ["e0", "e1"]}}, tenant="t", process="final")
    assert h.check(check_counters_reconcile, tmp_path).status == "valid"


# --- 5. an unreadable stored audit record is a forgery ---------------------------------------------


def _audit_record(audit_id: str, prev: str, at_ms: int) -> dict[str, Any]:
    rec: dict[str, Any] = {"audit_id": audit_id, "tenant_id": "t", "logged_at_ms": at_ms, "prev_hash": prev}
    rec["hash"] = audit_hash(rec, prev)
    return rec


@pytest.mark.parametrize("drop", ["hash", "prev_hash", "audit_id"])
def test_stored_audit_record_without_hash_is_forged(tmp_path: Path, drop: str) -> None:
    r1 = _audit_record("a1", GENESIS, 1_000)
    forged = _audit_record("a2", r1["hash"], 2_000)
    del forged[drop]
    h = H()
    h.op("audit_insert", 0, "ok", tenant="t", value=r1)
    h.op("final_audit", 100, "ok", done={"value": [r1, forged]}, tenant="t", now_ms=5_000, process="final")
    v = h.check(check_audit_trail, tmp_path)
    assert v.status == "invalid" and "audit-record-forged" in kinds(v)


# --- 6. values never written -----------------------------------------------------------------------


def test_read_your_writes_flags_a_version_never_written(tmp_path: Path) -> None:
    h = H()
    h.op("write", 0, "ok", done={"value": 1}, key="k", session="s", tenant="t")
    r = h.op("read", 5, "ok", done={"value": 7}, key="k", session="s", tenant="t")
    v = h.check(check_read_your_writes, tmp_path)
    assert v.status == "invalid"
    [ex] = v.examples
    assert ex["kind"] == "value-never-written" and ex["read_op"] == r and ex["max_possible_version"] == 1


def test_read_your_writes_allows_unknown_writes_that_may_have_landed(tmp_path: Path) -> None:
    h = H()
    h.op("write", 0, "ok", done={"value": 1}, key="k", session="s", tenant="t")
    h.op("write", 2, "info", key="k", session="other", tenant="t")
    h.op("write", 3, None, key="k", session="other", tenant="t")  # never completed
    h.op("read", 5, "ok", done={"value": 3}, key="k", session="s", tenant="t")
    assert h.check(check_read_your_writes, tmp_path).status == "valid"


def test_read_your_writes_counts_a_write_invoked_before_the_read_completed(tmp_path: Path) -> None:
    h = H()
    h.op("write", 0, "ok", done={"value": 1}, key="k", session="s", tenant="t")
    h.op("read", 5, "ok", dur_ms=5, done={"value": 2}, key="k", session="s", tenant="t")
    h.op("write", 7, "ok", done={"value": 2}, key="k", session="o", tenant="t")  # concurrent with it
    assert h.check(check_read_your_writes, tmp_path).status == "valid"


def test_monotonic_reads_flags_a_version_never_written(tmp_path: Path) -> None:
    h = H()
    h.op("write", 0, "ok", done={"value": 1}, key="k", session="w", tenant="t")
    h.op("read", 5, "ok", done={"value": 1}, key="k", session="s", tenant="t")
    h.op("read", 10, "ok", done={"value": 4}, key="k", session="s", tenant="t")
    v = h.check(check_monotonic_reads, tmp_path)
    assert v.status == "invalid" and kinds(v) == {"value-never-written"}


@pytest.mark.parametrize(
    ("written", "read"),
    [(True, 1), (1, True), (False, 0), ([1, 2], "json:[1,2]"), ({"a": 1}, 'json:{"a":1}'), (1, 1.0)],
)
def test_linearizable_freezes_values_canonically(tmp_path: Path, written: Any, read: Any) -> None:
    h = H()
    h.op("reg_write", 0, "ok", key="r", value=written)
    h.op("reg_read", 5, "ok", done={"value": read}, key="r")
    v = h.check(check_linearizable, tmp_path)
    assert v.status == "invalid" and kinds(v) == {"nonlinearizable"}


def test_linearizable_equal_values_in_another_key_order_match(tmp_path: Path) -> None:
    h = H()
    h.op("reg_write", 0, "ok", key="r", value={"a": 1, "b": [True, None]})
    h.op("reg_read", 5, "ok", done={"value": {"b": [True, None], "a": 1}}, key="r")
    assert h.check(check_linearizable, tmp_path).status == "valid"


# --- 7. phantoms are violations --------------------------------------------------------------------


def test_session_found_that_no_op_created_is_a_phantom(tmp_path: Path) -> None:
    h = H()
    h.op("session_create", 0, "ok", key="s1", tenant="t", now_ms=1_000)
    h.op("session_touch", 10, "ok", done={"value": {"u": 1}}, key="s1", tenant="t", now_ms=1_010)
    h.op(
        "final_sessions",
        20,
        "ok",
        done={"value": ["s1", "s2"]},
        keys=["s1", "s2"],
        now_ms=1_020,
        process="final",
    )
    v = h.check(check_sessions, tmp_path)
    assert v.status == "invalid"
    [ex] = v.examples
    assert ex["kind"] == "phantom-session" and ex["key"] == "s2"


def test_document_found_that_no_op_inserted_is_a_phantom(tmp_path: Path) -> None:
    h = H()
    h.op("doc_insert", 0, "ok", key="d1", tenant="t", retention_class="standard", created_ms=1_000)
    h.op(
        "final_docs", 20, "ok", done={"value": ["d1", "d2"]}, keys=["d1", "d2"], now_ms=1_020, process="final"
    )
    v = h.check(check_retention, tmp_path)
    assert v.status == "invalid"
    [ex] = v.examples
    assert ex["kind"] == "phantom-document" and ex["key"] == "d2"


def test_redis_key_found_that_no_op_wrote_is_a_phantom(tmp_path: Path) -> None:
    h = H()
    h.op("ttl_write", 0, "ok", key="k1", ttl_ms=60_000, now_ms=1_000)
    h.op(
        "final_keys", 20, "ok", done={"value": ["k1", "k2"]}, keys=["k1", "k2"], now_ms=1_020, process="final"
    )
    v = h.check(check_retention, tmp_path)
    assert v.status == "invalid"
    [ex] = v.examples
    assert ex["kind"] == "phantom-key" and ex["key"] == "k2"


# --- 8. file order is not time order ---------------------------------------------------------------


def test_read_your_writes_judges_by_time_not_file_order(tmp_path: Path) -> None:
    """The write's completion line (acknowledged at 2 ms) is written after the read's (at 7 ms)."""
    h = H()
    w = h.op("write", 0, "ok", dur_ms=2, done={"value": 1}, key="k", session="s", tenant="t")
    r = h.op("read", 5, "ok", dur_ms=2, done={"value": None}, key="k", session="s", tenant="t")
    v = h.check(check_read_your_writes, tmp_path, delays=[(w, r)])
    assert v.status == "invalid" and kinds(v) == {"stale-read"}


def test_monotonic_reads_judges_by_time_not_file_order(tmp_path: Path) -> None:
    h = H()
    h.op("write", 0, "ok", done={"value": 1}, key="k", session="w", tenant="t")
    h.op("write", 1, "ok", done={"value": 2}, key="k", session="w", tenant="t")
    a = h.op("read", 3, "ok", done={"value": 2}, key="k", session="s", tenant="t")
    b = h.op("read", 6, "ok", done={"value": 1}, key="k", session="s", tenant="t")
    v = h.check(check_monotonic_reads, tmp_path, delays=[(a, b)])
    assert v.status == "invalid" and kinds(v) == {"regressing-read"}


def test_sessions_lost_judged_by_time_not_file_order(tmp_path: Path) -> None:
    h = H()
    c = h.op("session_create", 0, "ok", key="s1", tenant="t", now_ms=1_000)
    t = h.op("session_touch", 10, "ok", done={"value": None}, key="s1", tenant="t", now_ms=1_010)
    v = h.check(check_sessions, tmp_path, delays=[(c, t)])
    assert v.status == "invalid" and kinds(v) == {"session-lost"}


def test_sessions_outlived_judged_by_time_not_file_order(tmp_path: Path) -> None:
    """A create invoked after the observation completed cannot explain it, whatever the file says."""
    h = H()
    h.op("session_create", 0, "ok", key="s1", tenant="t", now_ms=1_000, ttl_ms=100)
    obs = h.op("session_read", 500, "ok", done={"value": {"u": 1}}, key="s1", tenant="t", now_ms=5_000)
    late = h.op("session_create", 600, "ok", key="s1", tenant="t", now_ms=6_000, ttl_ms=100)
    v = h.check(check_sessions, tmp_path, delays=[(obs, late)])
    assert v.status == "invalid" and kinds(v) == {"session-outlived-ttl"}


def test_retention_removed_too_early_judged_by_time_not_file_order(tmp_path: Path) -> None:
    h = H()
    ins = h.op("doc_insert", 0, "ok", key="d1", tenant="t", retention_class="standard", created_ms=1_000)
    rd = h.op("doc_read", 10, "ok", done={"value": []}, keys=["d1"], now_ms=1_010)
    v = h.check(check_retention, tmp_path, delays=[(ins, rd)])
    assert v.status == "invalid" and kinds(v) == {"removed-too-early"}


def test_retention_ttl_write_invoked_after_the_read_does_not_explain_it(tmp_path: Path) -> None:
    h = H()
    h.op("ttl_write", 0, "ok", key="k1", ttl_ms=100, now_ms=1_000)
    rd = h.op("key_read", 500, "ok", done={"value": ["k1"]}, keys=["k1"], now_ms=5_000)
    late = h.op("ttl_write", 600, "ok", key="k1", ttl_ms=100, now_ms=6_000)
    v = h.check(check_retention, tmp_path, delays=[(rd, late)])
    assert v.status == "invalid" and kinds(v) == {"ttl-expired-too-late"}


# --- 9. a duplicate under a regenerated id ---------------------------------------------------------


def test_same_payload_stored_under_two_ids_is_a_duplicate(tmp_path: Path) -> None:
    payload = {"user": "u1", "type": "login", "at": 1_000}
    h = H()
    h.op("insert", 0, "info", tenant="t", event_id="e1", payload=payload)
    h.op("insert", 10, "ok", tenant="t", event_id="e1-retry", payload=dict(reversed(payload.items())))
    h.op("insert", 20, "ok", tenant="t", event_id="e2", payload={**payload, "at": 2_000})
    stored = {"event_ids": ["e1", "e1-retry", "e2"]}
    h.op("final_events", 100, "ok", done={"value": stored}, tenant="t", process="final")
    v = h.check(check_no_duplicates, tmp_path)
    assert v.status == "invalid" and v.violations == 1
    [ex] = v.examples
    assert ex["kind"] == "duplicate-content" and sorted(ex["event_ids"]) == ["e1", "e1-retry"]


def test_same_payload_in_another_tenant_is_not_a_duplicate(tmp_path: Path) -> None:
    h = H()
    for tenant in ("a", "b"):
        h.op("insert", 0, "ok", tenant=tenant, event_id="e1", fingerprint="f1")
        h.op("final_events", 100, "ok", done={"value": {"event_ids": ["e1"]}}, tenant=tenant, process="final")
    assert h.check(check_no_duplicates, tmp_path).status == "valid"


def test_incr_frontier_can_be_turned_off_for_simulated_histories(tmp_path: Path) -> None:
    h = H()
    h.op("incr", 0, "ok", done={"value": 2}, key="c", tenant="t")
    h.op("incr", 5, "ok", done={"value": 1}, key="c", tenant="t")
    h.op("final_read", 100, "ok", done={"value": 2}, key="c", process="final")
    assert h.check(check_acknowledged_increments, tmp_path).status == "invalid"
    assert h.check(check_acknowledged_increments, tmp_path, real_time=False).status == "valid"
