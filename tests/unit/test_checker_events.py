"""acknowledged-writes-survive, no-duplicates and counters-reconcile: worked examples and edge cases.

(The detection matrix in tests/quality/ covers generated clean and mutated histories.)
"""

from __future__ import annotations

from typing import Any

import orjson

from harness.checkers.acknowledged_writes import check_acknowledged_writes
from harness.checkers.counters_reconcile import check_counters_reconcile
from harness.checkers.no_duplicates import check_no_duplicates
from harness.history.loader import stream_pairs


class H:
    """A tiny history builder: ops complete in the order they are added."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.t = 0

    def op(self, f: str, outcome: str | None, value: Any = None, **fields: Any) -> int:
        op_id = len({r["id"] for r in self.records}) + 1
        self.t += 10
        self.records.append(
            {"id": op_id, "type": "invoke", "process": "w", "f": f, "time_ns": self.t, **fields}
        )
        if outcome is not None:
            done: dict[str, Any] = {
                "id": op_id,
                "type": outcome,
                "process": "w",
                "f": f,
                "time_ns": self.t + 5,
            }
            if value is not None:
                done["value"] = value
            self.records.append(done)
        return op_id

    def insert(self, event_id: str, outcome: str | None, wc: Any = "majority", tenant: str = "t") -> int:
        return self.op("insert", outcome, tenant=tenant, event_id=event_id, wc=wc, window=1)

    def stored(self, tenant: str, *event_ids: str) -> int:
        return self.op("final_events", "ok", {"event_ids": list(event_ids)}, tenant=tenant)

    def ops(self) -> Any:
        return stream_pairs(sorted(self.records, key=lambda r: r["time_ns"]))


# --- acknowledged-writes-survive -------------------------------------------------------------------
def test_per_write_concern_totals_and_a_lost_write() -> None:
    h = H()
    h.insert("a", "ok", wc="1")
    lost = h.insert("b", "ok", wc="1")
    h.insert("c", "ok", wc={"w": "majority", "j": True})
    h.insert("d", "info", wc="majority")  # unknown, absent: fine
    h.insert("e", "info", wc="majority")  # unknown, present: fine
    h.insert("f", "fail", wc="1")  # failed, absent: fine
    read = h.stored("t", "a", "c", "e")
    v = check_acknowledged_writes(h.ops())
    assert v.status == "invalid" and v.violations == 1
    assert v.details["by_level"]["w:1"] == {
        "acked": 2,
        "lost": 1,
        "unknown_present": 0,
        "unknown_absent": 0,
        "failed": 1,
        "failed_present": 0,
    }
    assert v.details["by_level"]["w:majority"]["acked"] == 1
    assert v.details["by_level"]["w:majority"]["unknown_present"] == 1
    assert v.details["unknown_absent"] == 1
    assert "w:1 lost 1 of 2 acknowledged, w:majority lost 0 of 1 acknowledged" in v.summary
    [ex] = v.examples
    assert ex["kind"] == "lost-acknowledged-write" and ex["event_id"] == "b" and ex["acked_op"] == lost
    assert ex["final_read_op"] == read and ex["acked_ms"] is not None
    orjson.dumps(v.to_dict())


def test_a_retry_that_succeeded_makes_the_event_acknowledged() -> None:
    h = H()
    h.insert("a", "info")  # timeout ...
    h.insert("a", "ok")  # ... retried, acknowledged
    h.stored("t")
    v = check_acknowledged_writes(h.ops())
    assert v.status == "invalid" and v.examples[0]["attempts"] == {"ok": 1, "fail": 0, "unknown": 1}
    assert v.details["retried_events"] == 1


def test_failed_write_present_and_unexpected_event() -> None:
    h = H()
    h.insert("a", "fail")
    h.insert("a", "fail")
    h.insert("b", "ok")
    h.stored("t", "a", "b", "zzz")
    v = check_acknowledged_writes(h.ops())
    assert v.violations == 2
    assert sorted(ex["kind"] for ex in v.examples) == ["failed-write-present", "unexpected-event"]


def test_unread_tenant_is_unknown_and_no_inserts_is_unknown() -> None:
    h = H()
    h.insert("a", "ok", tenant="t1")
    h.insert("b", "ok", tenant="t2")
    h.stored("t1", "a")
    h.op("final_events", "info", tenant="t2")  # the read timed out
    v = check_acknowledged_writes(h.ops())
    assert v.status == "unknown" and v.details["tenants_unread_sample"] == ["t2"]
    assert check_acknowledged_writes([]).status == "unknown"


def test_latest_final_read_counts() -> None:
    h = H()
    h.insert("a", "ok")
    h.stored("t")  # an early read, before replication caught up
    h.stored("t", "a")
    assert check_acknowledged_writes(h.ops()).status == "valid"


# --- no-duplicates ----------------------------------------------------------------------------------
def test_duplicate_after_a_retry_is_reported_with_its_attempts() -> None:
    h = H()
    first = h.insert("a", "info")
    second = h.insert("a", "ok")
    h.insert("b", "ok")
    h.stored("t", "a", "b", "a")
    v = check_no_duplicates(h.ops())
    assert v.status == "invalid" and v.violations == 1
    [ex] = v.examples
    assert ex["kind"] == "duplicate-idempotency-key" and ex["event_id"] == "a" and ex["copies"] == 2
    assert ex["retried"] is True and ex["insert_ops"] == [first, second]
    assert ex["insert_outcomes"] == ["info", "ok"]


def test_retries_that_left_one_copy_are_valid() -> None:
    h = H()
    h.insert("a", "info")
    h.insert("a", "info")
    h.insert("a", "ok")
    h.stored("t", "a")
    v = check_no_duplicates(h.ops())
    assert v.status == "valid" and v.details["retried_keys"] == 1 and v.details["retry_attempts"] == 3


def test_no_final_read_is_unknown() -> None:
    h = H()
    h.insert("a", "ok")
    v = check_no_duplicates(h.ops())
    assert v.status == "unknown" and v.summary == "no final_events read in history"


# --- counters-reconcile -----------------------------------------------------------------------------
def _counter_run(h: H, key: str, outcomes: list[str | None], final: int | None, window: int = 1) -> None:
    for n, outcome in enumerate(outcomes, 1):
        h.op("incr", outcome, n if outcome == "ok" else None, key=key, tenant="t", window=window)
    h.op("final_read", "ok", final, key=key)


def test_redis_only_run_says_the_mongodb_plane_did_not_run() -> None:
    h = H()
    _counter_run(h, "c:t:1", ["ok", "ok", "info"], 3)
    v = check_counters_reconcile(h.ops())
    assert v.status == "valid" and v.details["planes"] == {"redis": "ran", "mongodb": "not_run"}
    assert "MongoDB plane not run" in v.summary


def test_sharded_keys_are_summed_per_tenant_and_window() -> None:
    h = H()
    _counter_run(h, "c:t#0:1", ["ok", "ok"], 2)
    _counter_run(h, "c:t#1:1", ["ok"], None)  # lost its one increment
    v = check_counters_reconcile(h.ops())
    assert v.status == "invalid"
    [ex] = v.examples
    assert ex["kind"] == "counter-mismatch" and ex["counter"] == 2 and ex["expected"] == [3, 3]
    assert ex["keys"] == 2 and len(ex["final_read_ops"]) == 2


def test_planes_agree_within_the_info_interval() -> None:
    h = H()
    _counter_run(h, "c:t:1", ["ok", "ok", "info"], 3)  # C = 3 in [2, 3]
    h.insert("a", "ok")
    h.insert("b", "ok")
    h.insert("c", "info")
    h.stored("t", "a", "b")  # M = 2; gap 1 in [2 - 3, 3 - 2] = [-1, 1]
    v = check_counters_reconcile(h.ops())
    assert v.status == "valid", v.summary
    assert v.details["groups_compared_with_mongodb"] == 1


def test_planes_disagree_names_the_interval() -> None:
    h = H()
    _counter_run(h, "c:t:1", ["ok", "ok", "ok"], 3)
    h.insert("a", "ok")
    h.insert("b", "ok")
    h.insert("c", "ok")
    h.stored("t", "a")  # MongoDB lost two acknowledged events
    v = check_counters_reconcile(h.ops())
    assert v.status == "invalid"
    [ex] = [ex for ex in v.examples if ex["kind"] == "planes-disagree"]
    assert ex["gap"] == 2 and ex["allowed_gap"] == [0, 0]
    # MongoDB on its own: 1 stored of 3 acknowledged
    [own] = [ex for ex in v.examples if ex["kind"] == "stored-count-mismatch"]
    assert own["stored"] == 1 and own["expected"] == [3, 3]
    assert (ex["counter"], ex["stored"], ex["window"]) == (3, 1, 1)


def test_missing_counter_read_is_unknown() -> None:
    h = H()
    h.op("incr", "ok", 1, key="c", tenant="t")
    v = check_counters_reconcile(h.ops())
    assert v.status == "unknown" and v.details["groups_unjudged"] == 1
