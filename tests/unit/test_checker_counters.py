"""acknowledged-increments-survive: a detection matrix over simulated counter stores, plus edge cases.

Histories are built as history.jsonl records and paired with the real loader (``pair_ops``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checkers.counters import check_acknowledged_increments
from harness.checkers.verdict import MAX_EXAMPLES
from harness.history.loader import load_history, pair_ops

SETTINGS = settings(
    max_examples=100,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
MS = 1_000_000
OUTCOMES = ["ok", "ok", "ok", "fail", "info", None]  # None: the run ended before the completion
KEYS = [f"ctr:t{i % 2}:{i}" for i in range(4)]


@dataclass
class CounterSim:
    """A correct counter store plus the history a workload would record against it."""

    store: dict[str, int] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    next_id: int = 1
    t_ns: int = 0

    def incr(self, key: str, outcome: str | None, applied: bool = False, latency_ms: int = 1) -> int:
        """``applied`` decides whether an info/None (or, as an anomaly, a fail) INCR took effect."""
        op_id, self.next_id = self.next_id, self.next_id + 1
        self.t_ns += MS
        process = f"w{op_id % 3}"
        self.records.append(
            {
                "id": op_id,
                "type": "invoke",
                "process": process,
                "f": "incr",
                "time_ns": self.t_ns,
                "key": key,
                "tenant": key.split(":")[1] if ":" in key else "t0",
                "variant": "single",
            }
        )
        if outcome == "ok" or applied:
            self.store[key] = self.store.get(key, 0) + 1
        if outcome is not None:
            done: dict[str, Any] = {
                "id": op_id,
                "type": outcome,
                "process": process,
                "f": "incr",
                "time_ns": self.t_ns + latency_ms * MS + 1,  # overlaps later invokes
            }
            if outcome == "ok":
                done["value"] = self.store[key]
            else:
                done["error"] = "ConnectionError" if outcome == "fail" else "TimeoutError"
            self.records.append(done)
        return op_id

    def final_reads(self, keys: list[str], override: dict[str, int | None] | None = None) -> None:
        t = max((r["time_ns"] for r in self.records), default=0) + 1000 * MS
        for key in keys:
            op_id, self.next_id = self.next_id, self.next_id + 1
            value = self.store.get(key, 0)
            if override and key in override:
                final: int | None = override[key]
            else:
                final = value or None  # an absent key reads as null
            base = {"id": op_id, "process": "final", "f": "final_read", "key": key}
            self.records.append({**base, "type": "invoke", "time_ns": t, "variant": "single"})
            self.records.append({**base, "type": "ok", "time_ns": t + MS, "value": final})
            t += 2 * MS

    def ops(self) -> list[Any]:
        return pair_ops(sorted(self.records, key=lambda r: r["time_ns"]))


Step = tuple[int, str | None, bool, int]
steps_st = st.lists(
    st.tuples(st.integers(0, len(KEYS) - 1), st.sampled_from(OUTCOMES), st.booleans(), st.integers(0, 4)),
    max_size=60,
)


def run_steps(sim: CounterSim, steps: list[Step], force_apply: str | None = None) -> None:
    for key_idx, outcome, applied, latency in steps:
        key = KEYS[key_idx]
        unknown = outcome in ("info", None)
        sim.incr(key, outcome, applied=unknown and (applied or key == force_apply), latency_ms=latency)


# --- detection matrix ---------------------------------------------------------------------------


@SETTINGS
@given(steps=steps_st)
def test_clean_histories_are_valid(steps: list[Step]) -> None:
    sim = CounterSim()
    run_steps(sim, steps)
    sim.final_reads(KEYS)
    v = check_acknowledged_increments(sim.ops())
    if steps:
        assert v.status == "valid", v
        assert v.violations == 0 and v.examples == []
        assert v.details["acked"] == sum(1 for s in steps if s[1] == "ok")
        assert v.details["unknown"] == sum(1 for s in steps if s[1] in ("info", None))
        assert v.details["failed"] == sum(1 for s in steps if s[1] == "fail")
    else:
        assert v.status == "unknown"


@SETTINGS
@given(steps=steps_st, target=st.integers(0, len(KEYS) - 1))
def test_dropped_acknowledged_increment_is_detected(steps: list[Step], target: int) -> None:
    key = KEYS[target]
    sim = CounterSim()
    run_steps(sim, steps)
    last = sim.incr(key, "ok")  # so the target's last applied increment is an acknowledged one
    sim.final_reads(KEYS, override={key: sim.store[key] - 1})  # ... and the store lost it
    v = check_acknowledged_increments(sim.ops())
    assert v.status == "invalid", v
    assert v.violations == 1
    assert v.details["lost"] == 1 and v.details["phantom"] == 0
    [ex] = v.examples
    assert ex["key"] == key and "lost" in ex["kind"]
    assert ex["observed"] == sim.store[key] - 1 and ex["expected_min"] == sim.store[key]
    assert ex["max_ok_op"] == last


@SETTINGS
@given(
    steps=steps_st,
    target=st.integers(0, len(KEYS) - 1),
    position=st.integers(0, 60),
)
def test_applied_failed_increment_is_detected(steps: list[Step], target: int, position: int) -> None:
    key = KEYS[target]
    sim = CounterSim()
    # every unknown INCR on the target is applied, so one more increment cannot be explained
    position = min(position, len(steps))
    run_steps(sim, steps[:position], force_apply=key)
    injected = sim.incr(key, "fail", applied=True)
    run_steps(sim, steps[position:], force_apply=key)
    sim.final_reads(KEYS)
    v = check_acknowledged_increments(sim.ops())
    assert v.status == "invalid", v
    assert v.violations == 1
    assert v.details["phantom"] == 1 and v.details["lost"] == 0
    # one example per kind of evidence (the final read, and maybe a returned value too)
    assert {ex["key"] for ex in v.examples} == {key}
    assert {ex["kind"] for ex in v.examples} <= {"phantom", "phantom-incr-value"}
    assert all(injected in ex["failed_ops"] for ex in v.examples)


# --- value-based checks -------------------------------------------------------------------------


def test_final_below_returned_value_is_lost_even_when_counts_fit() -> None:
    sim = CounterSim()
    sim.incr("k", "ok")  # -> 1
    sim.incr("k", "info", applied=True)  # -> 2
    last = sim.incr("k", "ok")  # -> 3
    sim.final_reads(["k"], override={"k": 2})  # acked=2 <= 2 <= 3 = acked+unknown
    v = check_acknowledged_increments(sim.ops())
    assert v.status == "invalid"
    assert v.details["lost"] == 1
    [ex] = v.examples
    assert ex["kind"] == "lost-below-incr-value"
    assert ex["max_ok_value"] == 3 and ex["max_ok_op"] == last and ex["observed"] == 2


def test_duplicate_incr_values_mean_the_counter_went_back() -> None:
    sim = CounterSim()
    sim.incr("k", "ok")  # 1
    a = sim.incr("k", "ok")  # 2
    sim.store["k"] -= 1  # failover loses the acknowledged 2
    b = sim.incr("k", "ok")  # 2 again
    sim.incr("k", "info", applied=True)  # 3: counts now look fine (acked 3 <= 3 <= 4)
    sim.final_reads(["k"])
    v = check_acknowledged_increments(sim.ops())
    assert v.status == "invalid"
    assert v.details["lost"] == 1 and v.details["duplicate_incr_values"] == 1
    [ex] = v.examples
    assert "duplicate-incr-value" in ex["kind"]
    assert ex["duplicate_values"] == {"2": [a, b]}


def test_returned_value_above_possible_count_is_phantom_without_final_read() -> None:
    sim = CounterSim()
    sim.incr("k", "ok")  # 1
    failed = sim.incr("k", "fail", applied=True)  # 2, although it "failed"
    sim.incr("k", "ok")  # 3 > acked (2) + unknown (0)
    v = check_acknowledged_increments(sim.ops())  # no final read at all
    assert v.status == "invalid"
    assert v.details["phantom"] == 1
    [ex] = v.examples
    assert ex["kind"] == "phantom-incr-value" and ex["failed_ops"] == [failed]


# --- edge cases ---------------------------------------------------------------------------------


def test_empty_history_is_unknown() -> None:
    v = check_acknowledged_increments([])
    assert v.status == "unknown" and v.summary == "no incr ops in history"


def test_history_without_incr_ops_is_unknown() -> None:
    sim = CounterSim()
    sim.final_reads(["k"])
    assert check_acknowledged_increments(sim.ops()).status == "unknown"


def test_missing_final_read_is_unknown() -> None:
    sim = CounterSim()
    sim.incr("a", "ok")
    sim.incr("b", "ok")
    sim.final_reads(["a"])
    v = check_acknowledged_increments(sim.ops())
    assert v.status == "unknown"
    assert v.details["keys_without_final_read"] == 1
    assert v.details["keys_without_final_read_sample"] == ["b"]
    assert "1 keys without a usable final read" in v.summary


def test_missing_final_read_does_not_hide_a_violation_elsewhere() -> None:
    sim = CounterSim()
    sim.incr("a", "ok")
    sim.incr("b", "ok")
    sim.final_reads(["a"], override={"a": None})
    v = check_acknowledged_increments(sim.ops())
    assert v.status == "invalid" and v.details["lost"] == 1


@pytest.mark.parametrize("outcome", ["info", "fail", None])
def test_final_read_without_ok_value_cannot_judge(outcome: str | None) -> None:
    records: list[dict[str, Any]] = [
        {"id": 1, "type": "invoke", "process": "w", "f": "incr", "time_ns": 1, "key": "k"},
        {"id": 1, "type": "ok", "process": "w", "f": "incr", "time_ns": 2, "value": 1},
        {"id": 2, "type": "invoke", "process": "r", "f": "final_read", "time_ns": 3, "key": "k"},
    ]
    if outcome is not None:
        records.append({"id": 2, "type": outcome, "process": "r", "f": "final_read", "time_ns": 4})
    v = check_acknowledged_increments(pair_ops(records))
    assert v.status == "unknown"


def test_torn_history_counts_unfinished_incr_as_unknown() -> None:
    for applied in (False, True):
        sim = CounterSim()
        sim.incr("k", "ok")
        sim.incr("k", None, applied=applied)  # invoke only: the run ended first
        sim.final_reads(["k"])
        v = check_acknowledged_increments(sim.ops())
        assert v.status == "valid", v
        assert v.details["unknown"] == 1 and v.details["acked"] == 1


def test_torn_file_goes_through_the_real_loader(tmp_path: Path) -> None:
    sim = CounterSim()
    for outcome in ("ok", "ok", "info", "fail"):
        sim.incr("k", outcome, applied=False)
    sim.final_reads(["k"])
    path = tmp_path / "history.jsonl"
    body = b"".join(orjson.dumps(r) + b"\n" for r in sorted(sim.records, key=lambda r: r["time_ns"]))
    path.write_bytes(body + b'{"id": 99, "type": "inv')  # crash mid-write
    v = check_acknowledged_increments(load_history(path))
    assert v.status == "valid"
    assert (v.details["acked"], v.details["unknown"], v.details["failed"]) == (2, 1, 1)


def test_null_final_read_means_zero() -> None:
    sim = CounterSim()
    sim.incr("k", "fail")
    sim.incr("k", "info", applied=False)
    sim.final_reads(["k"])  # store is 0 -> value null
    assert sim.records[-1]["value"] is None
    assert check_acknowledged_increments(sim.ops()).status == "valid"


def test_examples_are_capped_and_counts_kept() -> None:
    sim = CounterSim()
    keys = [f"k{i}" for i in range(30)]
    for key in keys:
        sim.incr(key, "ok")
    sim.final_reads(keys, override=dict.fromkeys(keys))
    v = check_acknowledged_increments(sim.ops())
    assert v.status == "invalid" and v.violations == 30
    assert len(v.examples) == MAX_EXAMPLES
    assert [ex["key"] for ex in v.examples] == keys[:MAX_EXAMPLES]  # first by time
    assert v.details["keys_with_violations"] == 30


def test_summary_and_serialisable() -> None:
    sim = CounterSim()
    for outcome in ("ok", "ok", "ok", "info"):
        sim.incr("a", outcome, applied=True)
    sim.incr("b", "ok")
    sim.final_reads(["a", "b"])
    v = check_acknowledged_increments(sim.ops())
    assert v.name == "acknowledged-increments-survive"
    assert v.summary == "4 acknowledged INCRs over 2 keys: 0 lost, 0 phantom; 1 with unknown outcome"
    d = orjson.loads(orjson.dumps(v.to_dict()))
    assert d["status"] == "valid" and d["details"]["keys"] == 2
