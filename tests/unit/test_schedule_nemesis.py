"""Schedules (planning, guardrails, replay), the nemesis (recording, healing always), and the
per-fault recovery figures, with fake faults: no servers needed."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from harness.clock import RunClock, seeded_random
from harness.faults.base import FAULTS, Capability, Fault, FaultContext
from harness.faults.nemesis import Nemesis, build_fault
from harness.faults.schedule import ScheduleSpec, plan, replay_spec
from harness.history.loader import load_history, pair_ops
from harness.history.recorder import HistoryRecorder
from harness.metrics.recovery import recovery

MIX = {
    "random": {
        "start_s": 2,
        "end_s": 60,
        "quiet_s": 3,
        "faults": [
            {"fault": "kill", "target": "random-master", "duration_s": [2, 5], "weight": 2},
            {"fault": "latency", "target": "random-master", "params": {"ms": 100}, "duration_s": [1, 4]},
        ],
    }
}


# -- planning -------------------------------------------------------------------------------------


@settings(max_examples=50, derandomize=True, deadline=None)
@given(seed=st.integers(0, 2**31))
def test_random_mix_is_seeded_never_overlaps_and_keeps_quiet_time(seed: int) -> None:
    spec = ScheduleSpec.model_validate(MIX)
    a = plan(spec, seeded_random(seed, "schedule"), workload_s=50)
    b = plan(spec, seeded_random(seed, "schedule"), workload_s=50)
    assert a == b  # the same seed gives the same schedule
    assert a, "a 48 s window always has room for a fault"
    for prev, nxt in itertools.pairwise(a):
        assert prev.end_s is not None
        assert nxt.at_s >= prev.end_s + 3 - 1e-6
    assert all(p.at_s >= 2 and p.end_s is not None and p.end_s <= 50 for p in a)


def test_different_seeds_give_different_schedules() -> None:
    spec = ScheduleSpec.model_validate(MIX)
    plans = {tuple((p.at_s, p.fault) for p in plan(spec, seeded_random(s, "schedule"), 50)) for s in range(5)}
    assert len(plans) > 1


def test_replay_spec_reproduces_the_plan_without_the_seed() -> None:
    spec = ScheduleSpec.model_validate({**MIX, "steps": [{"at_s": 0.5, "fault": "pause", "target": "r4"}]})
    planned = plan(spec, seeded_random(7, "schedule"), workload_s=50)
    again = plan(ScheduleSpec.model_validate(replay_spec(planned)), seeded_random(99, "x"), workload_s=50)
    assert [(p.at_s, p.duration_s, p.fault, p.target, p.params) for p in again] == [
        (p.at_s, p.duration_s, p.fault, p.target, p.params) for p in planned
    ]


@pytest.mark.parametrize(
    ("schedule", "problem"),
    [
        (
            {"steps": [{"at_s": 1, "duration_s": 10, "fault": "kill"}, {"at_s": 5, "fault": "pause"}]},
            "steps overlap",
        ),
        ({"steps": [{"at_s": 1, "fault": "split", "params": {"minority_share": 0.6}}]}, "not a minority"),
        ({}, "needs steps"),
        ({"random": {"end_s": 5, "faults": [{"fault": "kill", "duration_s": [3, 1]}]}}, "min <= max"),
    ],
)
def test_guardrails_refuse_the_schedule(schedule: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        ScheduleSpec.model_validate(schedule)


def test_guardrails_can_be_lifted_explicitly() -> None:
    ScheduleSpec.model_validate(
        {
            "allow_overlap": True,
            "allow_majority_down": True,
            "steps": [
                {"at_s": 1, "duration_s": 10, "fault": "kill"},
                {"at_s": 5, "fault": "split", "params": {"minority_share": 0.6}},
            ],
        }
    )


# -- the nemesis ----------------------------------------------------------------------------------


class _Probe(Fault):
    kind: ClassVar[str] = "test-probe"
    needs: ClassVar[frozenset[Capability]] = frozenset({Capability.KILL})
    calls: ClassVar[list[str]] = []

    def __init__(self, target: str | None = None, explode: str = "") -> None:
        self.target = target
        self.explode = explode

    def apply(self, ctx: FaultContext) -> dict[str, Any]:
        _Probe.calls.append(f"apply {self.target}")
        if self.explode == "apply":
            raise RuntimeError("could not reach the node")
        return {"nodes": [self.target]}

    def heal(self, ctx: FaultContext) -> dict[str, Any]:
        _Probe.calls.append(f"heal {self.target}")
        if self.explode == "heal":
            raise RuntimeError("still down")
        return {"nodes": [self.target]}


class _NeedsPartition(_Probe):
    kind: ClassVar[str] = "test-partition"
    needs: ClassVar[frozenset[Capability]] = frozenset({Capability.PARTITION})


@pytest.fixture
def fake_faults() -> Iterator[None]:
    _Probe.calls = []
    FAULTS[_Probe.kind] = _Probe
    FAULTS[_NeedsPartition.kind] = _NeedsPartition
    yield
    del FAULTS[_Probe.kind], FAULTS[_NeedsPartition.kind]


def run_nemesis(
    tmp_path: Path, schedule: dict[str, Any], until: threading.Event | None = None
) -> tuple[Any, Any]:
    clock = RunClock()
    rec = HistoryRecorder(tmp_path / "history.jsonl", clock)
    planned = plan(ScheduleSpec.model_validate(schedule), seeded_random(1, "schedule"), workload_s=60)
    nemesis = Nemesis(
        planned,
        rec,
        clock,
        make_ctx=lambda: FaultContext(dep=None, rng=seeded_random(1, "faults")),  # type: ignore[arg-type]
        capabilities=frozenset({Capability.KILL}),
        variant="v",
    )
    nemesis.start()
    # Wait for the timed fault to have been healed (polling the nemesis's own records).
    done = threading.Event()
    for _ in range(400):
        if nemesis.records[0].status in ("healed", "failed") and (until is None or until.is_set()):
            done.set()
            break
        threading.Event().wait(0.01)
    records = nemesis.stop()
    rec.close()
    assert done.is_set(), [r.status for r in records]
    return records, load_history(tmp_path / "history.jsonl")


def test_nemesis_applies_heals_records_and_heals_the_rest_at_stop(fake_faults: None, tmp_path: Path) -> None:
    records, ops = run_nemesis(
        tmp_path,
        {
            "allow_overlap": True,
            "steps": [
                {"at_s": 0.05, "duration_s": 0.1, "fault": "test-probe", "target": "r1"},
                {"at_s": 0.06, "fault": "test-probe", "target": "r2"},  # until the workload ends
                {"at_s": 0.07, "fault": "test-partition", "target": "r3"},  # backend cannot
                {"at_s": 3600, "fault": "test-probe", "target": "r4"},  # after the workload
            ],
        },
    )
    assert [r.status for r in records] == ["healed", "healed", "not_run", "not_run"]
    assert records[0].start_delay_ms is not None and records[0].start_delay_ms >= 0
    assert records[0].heal_delay_ms is not None and records[0].heal_delay_ms >= 0
    assert records[1].heal_delay_ms is None  # healed at stop, not on a schedule
    assert "cannot partition" in (records[2].reason or "")
    assert "ended before" in (records[3].reason or "")
    assert _Probe.calls == ["apply r1", "apply r2", "heal r1", "heal r2"]
    nem = [(o.f, o.outcome, o.get("target")) for o in ops if o.process == "nemesis"]
    assert ("fault-start", "ok", "r1") in nem and ("fault-end", "ok", "r1") in nem
    assert ("fault-end", "ok", "r2") in nem
    assert ("fault-skipped", "ok", "r3") in nem and ("fault-skipped", "ok", "r4") in nem
    start = next(o for o in ops if o.f == "fault-start" and o.get("target") == "r1")
    assert start.completion is not None and start.completion["value"] == {"nodes": ["r1"]}
    assert start.get("sched_ns") is not None and start.get("variant") == "v"


def test_a_fault_that_fails_to_apply_is_recorded_and_still_healed(fake_faults: None, tmp_path: Path) -> None:
    records, ops = run_nemesis(
        tmp_path,
        {
            "steps": [
                {
                    "at_s": 0.01,
                    "duration_s": 0.05,
                    "fault": "test-probe",
                    "target": "r1",
                    "params": {"explode": "apply"},
                }
            ]
        },
    )
    assert records[0].status == "failed" and "could not reach" in (records[0].reason or "")
    assert _Probe.calls == ["apply r1", "heal r1"]  # a half-applied fault is healed too
    start = next(o for o in ops if o.f == "fault-start")
    assert start.outcome == "fail" and "could not reach" in start.completion["error"]  # type: ignore[index]


def test_a_heal_that_raises_is_info_not_ok(fake_faults: None, tmp_path: Path) -> None:
    records, ops = run_nemesis(
        tmp_path,
        {
            "steps": [
                {
                    "at_s": 0.01,
                    "duration_s": 0.05,
                    "fault": "test-probe",
                    "target": "r1",
                    "params": {"explode": "heal"},
                }
            ]
        },
    )
    assert records[0].status == "failed" and "still down" in (records[0].reason or "")
    end = next(o for o in ops if o.f == "fault-end")
    assert end.outcome == "info"


def test_unknown_fault_kind_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown fault 'teleport'"):
        build_fault("teleport", None, {})


# -- recovery figures -----------------------------------------------------------------------------

S = 1_000_000_000


def _op(
    records: list[dict[str, Any]], op_id: int, f: str, t: float, done: float, outcome: str, **fields: Any
) -> None:
    records.append(
        {
            "id": op_id,
            "type": "invoke",
            "process": fields.pop("process", "w"),
            "f": f,
            "time_ns": int(t * S),
            **fields,
        }
    )
    value = fields.pop("value", None)
    records.append(
        {"id": op_id, "type": outcome, "process": "w", "f": f, "time_ns": int(done * S), "value": value}
    )


def test_recovery_figures_from_a_history() -> None:
    recs: list[dict[str, Any]] = []
    n = 1
    # Writes every 0.1 s from 0 to 30 s, 10 ms each; failing between 10.0 and 12.5 s.
    for i in range(300):
        t = i / 10
        outcome = "fail" if 10.0 <= t < 12.5 else "ok"
        _op(recs, n, "incr", t, t + 0.01, outcome, variant="before", key="k")
        n += 1
    recs.append(
        {
            "id": n,
            "type": "invoke",
            "process": "nemesis",
            "f": "fault-start",
            "time_ns": 10 * S,
            "fault": "kill",
            "index": 0,
            "variant": "before",
            "sched_ns": 10 * S - 5_000_000,
            "target": "r1",
        }
    )
    recs.append(
        {
            "id": n,
            "type": "ok",
            "process": "nemesis",
            "f": "fault-start",
            "time_ns": 10 * S,
            "value": {"nodes": ["r1"]},
        }
    )
    n += 1
    recs.append(
        {
            "id": n,
            "type": "invoke",
            "process": "nemesis",
            "f": "fault-end",
            "time_ns": 15 * S,
            "fault": "kill",
            "index": 0,
            "variant": "before",
            "sched_ns": 15 * S,
        }
    )
    recs.append(
        {"id": n, "type": "ok", "process": "nemesis", "f": "fault-end", "time_ns": 15 * S + 200_000_000}
    )
    (fig,) = recovery(pair_ops(recs))
    assert fig["fault"] == "kill" and fig["status"] == "healed"
    assert fig["apply_delay_ms"] == 5.0 and fig["heal_delay_ms"] == 200.0
    assert fig["errors_until_ms"] == pytest.approx(2400.0)  # last failing write invoked at 12.4 s
    assert fig["first_ok_after_start_ms"] == pytest.approx(2500.0)
    assert fig["during_counts"] == {"ok": 27, "fail": 25, "info": 0}
    assert fig["before"]["ok_per_s"] == pytest.approx(10.0, rel=0.05)
    assert fig["after"]["ok_per_s"] == pytest.approx(10.0, rel=0.05)
    assert fig["during"]["ok_per_s"] < fig["before"]["ok_per_s"]


def test_a_fault_never_applied_is_reported_as_such() -> None:
    recs = [
        {
            "id": 1,
            "type": "invoke",
            "process": "nemesis",
            "f": "fault-start",
            "time_ns": S,
            "fault": "kill",
            "index": 0,
        },
        {"id": 1, "type": "fail", "process": "nemesis", "f": "fault-start", "time_ns": S, "error": "boom"},
    ]
    (fig,) = recovery(pair_ops(recs))
    assert fig["status"] == "not applied"
