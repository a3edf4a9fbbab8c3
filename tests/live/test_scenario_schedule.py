"""A scenario with a fault schedule, end to end: the nemesis runs beside the workload, records its
ops in the history, heals at the end, the topology is checked healthy again, and the run carries
per-fault records and recovery figures. The fault here is a probe that touches nothing (the real
fault kinds have their own live tests in test_faults.py), so the run's numbers stay the workload's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from harness.faults.base import FAULTS, Capability, Fault, FaultContext
from harness.faults.schedule import ScheduleSpec
from harness.history.loader import load_history
from harness.scenario.runner import run_scenario_record
from harness.scenario.spec import load_scenario
from tests.conftest import needs_servers
from tests.live.backend import run_options

pytestmark = [pytest.mark.live, needs_servers]


class _Touch(Fault):
    """Records which node the selector named and that it answered; changes nothing."""

    kind: ClassVar[str] = "test-touch"
    needs: ClassVar[frozenset[Capability]] = frozenset({Capability.REDIS_ADMIN})

    def __init__(self, target: str = "r1") -> None:
        self.target = target

    def apply(self, ctx: FaultContext) -> dict[str, Any]:
        return {"nodes": [self.target], "ping": bool(ctx.dep.node(self.target).admin().ping())}

    def heal(self, ctx: FaultContext) -> dict[str, Any]:
        return {"nodes": [self.target]}


@pytest.fixture
def touch_fault() -> Iterator[None]:
    FAULTS[_Touch.kind] = _Touch
    yield
    del FAULTS[_Touch.kind]


def test_schedule_runs_beside_the_workload_and_is_reported(touch_fault: None, tmp_path: Path) -> None:
    schedule = ScheduleSpec.model_validate(
        {
            "steps": [
                {"at_s": 0.5, "duration_s": 1.0, "fault": "test-touch", "target": "r2"},
                {"at_s": 2.0, "fault": "test-touch", "target": "r3"},  # healed when the workload ends
            ],
            "heal_timeout_s": 20,
        }
    )
    spec = load_scenario("hot-partition").model_copy(update={"schedule": schedule})
    run_dir, results = run_scenario_record(
        spec, run_options(reports_dir=tmp_path, duration_s=3, rate=1000, log=lambda _m: None)
    )
    assert results.error is None
    faults = results.faults
    assert [(f.variant, f.target, f.status) for f in faults] == [
        (v, t, "healed") for v in ("before", "after") for t in ("r2", "r3")
    ]
    assert all(f.applied is not None and f.applied["ping"] is True for f in faults)
    assert all(f.start_delay_ms is not None for f in faults)
    metrics = json.loads((run_dir / "metrics.json").read_text())["variants"]
    for variant in ("before", "after"):
        assert metrics[variant]["healthy_again"]["healthy"] is True
        figures = metrics[variant]["recovery"]
        assert [f["status"] for f in figures] == ["healed", "healed"]
        assert figures[0]["during_counts"]["ok"] > 0  # the workload went on while the fault was in place
    nemesis = [o for o in load_history(run_dir / "history.jsonl") if o.process == "nemesis"]
    assert sorted({o.f for o in nemesis}) == ["fault-end", "fault-start"]
    assert all(o.outcome == "ok" for o in nemesis)
    assert "test-touch" in (run_dir / "index.html").read_text()


def test_partitioned_master_loses_acknowledged_writes(tmp_path: Path) -> None:
    """redis-partition at a small scale: the isolated master acknowledges writes its promoted replica
    never gets, the checker counts them, and the run heals and reports the fault."""
    spec = load_scenario("redis-partition")
    assert spec.schedule is not None
    schedule = spec.schedule.model_copy(
        update={"steps": [spec.schedule.steps[0].model_copy(update={"at_s": 3.0, "duration_s": 7.0})]}
    )
    spec = spec.model_copy(update={"schedule": schedule, "variants": spec.variants[:1], "targets": []})
    run_dir, results = run_scenario_record(
        spec, run_options(reports_dir=tmp_path, duration_s=14, rate=1500, log=lambda _m: None)
    )
    assert results.error is None
    (fault,) = results.faults
    assert fault.fault == "isolate" and fault.status == "healed"
    (inv,) = results.invariants
    assert inv.status == "invalid" and inv.details["lost"] >= 1  # the case is reproduced
    assert inv.expected == "invalid" and results.verdict == "pass"
    metrics = json.loads((run_dir / "metrics.json").read_text())["variants"]["before"]
    assert metrics["healthy_again"]["healthy"] is True


def test_restart_without_persistence_loses_the_sessions_and_with_aof_keeps_them(tmp_path: Path) -> None:
    """redis-persistence-loss at a small scale: both variants, the kill and restart mid-run."""
    spec = load_scenario("redis-persistence-loss")
    assert spec.schedule is not None
    step = spec.schedule.steps[0].model_copy(update={"at_s": 3.0, "duration_s": 3.0})
    schedule = spec.schedule.model_copy(update={"steps": [step]})
    spec = spec.model_copy(update={"schedule": schedule, "targets": []})
    _run_dir, results = run_scenario_record(
        spec, run_options(reports_dir=tmp_path, duration_s=8, rate=400, log=lambda _m: None)
    )
    assert results.error is None
    assert [f.status for f in results.faults] == ["healed", "healed"]
    by_variant = {i.variant: i for i in results.invariants}
    assert by_variant["before"].status == "invalid" and by_variant["before"].details["lost"] >= 1
    assert by_variant["after"].status == "valid" and by_variant["after"].details["lost"] == 0
    assert results.verdict == "pass"


def test_hot_tenant_surge_steers_the_running_workload(tmp_path: Path) -> None:
    """The workload offers the nemesis its control surface: a surge is applied, not skipped."""
    schedule = ScheduleSpec.model_validate(
        {
            "steps": [
                {
                    "at_s": 0.5,
                    "duration_s": 1.5,
                    "fault": "hot-tenant",
                    "params": {"tenant": "t00900", "share": 0.4},
                }
            ]
        }
    )
    spec = load_scenario("hot-partition").model_copy(
        update={"schedule": schedule, "variants": load_scenario("hot-partition").variants[:1], "targets": []}
    )
    run_dir, results = run_scenario_record(
        spec, run_options(reports_dir=tmp_path, duration_s=3, rate=1000, log=lambda _m: None)
    )
    (fault,) = results.faults
    assert fault.status == "healed", fault
    ops = [o for o in load_history(run_dir / "history.jsonl") if o.f == "rate_limit"]
    start, end = (o.complete_ns for o in load_history(run_dir / "history.jsonl") if o.process == "nemesis")
    assert start is not None and end is not None
    inside = [o for o in ops if start <= o.invoke_ns < end]
    share = sum(o.get("tenant") == "t00900" for o in inside) / len(inside)
    assert share > 0.3, share  # about 40% of the events while the surge lasted
    later = [o for o in ops if o.invoke_ns > end + 200_000_000]
    assert later and sum(o.get("tenant") == "t00900" for o in later) / len(later) < 0.05  # and ends
