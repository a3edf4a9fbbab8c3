"""The rehearsal's pure parts: live figures, time to detect/recover, the rehearsal file, the
control directory, the dashboard and the timeline report (no servers)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from rich.console import Console

from harness.errors import SpecError
from harness.metrics.incident import Action, incidents
from harness.metrics.live import LiveFigures, p99
from harness.rehearsal import control
from harness.rehearsal.dashboard import View, render
from harness.rehearsal.script import load_script
from harness.report.rehearsal import render_rehearsal

S = 1_000_000_000


def test_live_figures_count_outcomes_and_time_ops_per_second() -> None:
    live = LiveFigures()
    live.invoked(range(1, 11), 10 * S)
    live.completed("ingest", "ingest_rl", [(i, "ok", 10 * S + i * 1_000_000) for i in range(1, 9)])
    live.completed("ingest", "ingest_rl", [(9, "fail", 10 * S + S // 2), (10, "info", 11 * S)])
    # Second 10 is complete at t=11.x; second 11 is still filling and not counted.
    assert live.rate("ingest", "ingest_rl", 11.5, 1) == 8.0
    assert live.by_op(11.5, 5)[("ingest", "ingest_rl")] == {"ok": 8, "fail": 1, "info": 0}
    assert live.latency_p99(("ingest",), 11.5, 1) == pytest.approx(0.5)


def test_a_rate_window_reaching_before_the_first_op_is_not_a_drop() -> None:
    live = LiveFigures()
    live.invoked([1, 2], 20 * S)
    live.completed("ingest", "ingest_rl", [(1, "ok", 20 * S), (2, "ok", 20 * S + 1)])
    # A 60 s window at t=21: only second 20 existed; the rate is 2/s, not 2/60.
    assert live.rate("ingest", "ingest_rl", 21.2, 60) == 2.0
    assert LiveFigures().rate("ingest", "ingest_rl", 5.0, 60) is None


def test_p99_is_nearest_rank() -> None:
    assert p99([]) is None
    assert p99([float(i) for i in range(1, 101)]) == 99.0
    assert p99([3.0]) == 3.0


def firing(rule: str, t: float, kind: str = "firing") -> dict[str, object]:
    return {"rule": rule, "instance": "r1→r2", "kind": kind, "t_s": t, "value": 1.0}


def test_time_to_detect_and_recover_per_fault() -> None:
    actions = [Action(5.0, "fault", "partition", "r2"), Action(25.0, "heal")]
    events = [firing("RedisReplicationLag", 16.0), firing("RedisReplicationLag", 26.5, "resolved")]
    [i] = incidents(actions, events, end_s=40.0)
    assert (i.detected_by, i.ttd_s, i.ttr_s, i.unresolved) == ("RedisReplicationLag", 11.0, 1.5, [])


def test_an_alert_still_firing_at_the_end_has_no_recovery_time() -> None:
    actions = [Action(5.0, "fault", "partition", "r2"), Action(25.0, "heal")]
    [i] = incidents(actions, [firing("RedisReplicationLag", 16.0)], end_s=30.0)
    assert i.ttr_s is None and i.unresolved == ["RedisReplicationLag r1→r2"]


def test_an_alert_after_the_heal_is_not_the_faults_detection() -> None:
    actions = [Action(5.0, "fault", "latency", "r1"), Action(10.0, "heal")]
    [i] = incidents(actions, [firing("QueryLatencyP99High", 12.0)], end_s=30.0)
    assert i.detected_by is None and i.ttd_s is None and i.ttr_s is None


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


GOOD = """
topology: redis-replicated
end_s: 30
steps:
  - {at_s: 5, fault: partition, target: r2}
  - {at_s: 20, heal: true}
checkpoints:
  - {by_s: 20, expect_alert: RedisReplicationLag}
"""


def test_the_shipped_rehearsal_file_loads() -> None:
    script = load_script(
        Path(__file__).parents[2] / "rehearsals" / "replica-partition.yaml", "redis-replicated"
    )
    assert (
        script.steps[0].fault == "partition" and script.checkpoints[0].expect_alert == "RedisReplicationLag"
    )


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        (("fault: partition", "fault: partitoin"), "steps.0", "unknown fault 'partitoin'"),
        (
            ("expect_alert: RedisReplicationLag", "expect_alert: RedisLag"),
            "checkpoints.0",
            "unknown alert 'RedisLag'",
        ),
        (
            ("expect_alert: RedisReplicationLag", "expect_alert: EventProcessingBacklog"),
            "checkpoints.0",
            "never evaluated",
        ),
        (("at_s: 20, heal", "at_s: 31, heal"), "-", "is not before end_s"),
        (("by_s: 20", "by_s: 45"), "-", "after end_s"),
        (("{at_s: 20, heal: true}", "{at_s: 20}"), "steps.1", "either"),
        (("end_s: 30", "end_s: 30\nrate: -1"), "rate", "greater than 0"),
    ],
)
def test_a_bad_rehearsal_file_names_the_field(
    tmp_path: Path, change: tuple[str, str], field: str, problem: str
) -> None:
    with pytest.raises(SpecError) as err:
        load_script(write(tmp_path, GOOD.replace(*change)), "redis-replicated")
    assert err.value.field == field and problem in err.value.problem


def test_a_rehearsal_file_for_another_topology_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="written for redis-replicated, not redis-cluster"):
        load_script(write(tmp_path, GOOD), "redis-cluster")


def test_control_requests_are_answered_in_order(tmp_path: Path) -> None:
    replies: list[dict[str, object]] = []

    def client(n: int) -> None:
        replies.append(control.send(tmp_path, {"action": "fault", "n": n}, timeout_s=10))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    served = 0
    while served < 3:  # the rehearsal's loop: answer what is waiting
        for rid, req in control.pending(tmp_path):
            control.answer(tmp_path, rid, {"ok": True, "n": req["n"]})
            served += 1
    for t in threads:
        t.join()
    assert sorted(r["n"] for r in replies) == [0, 1, 2]  # type: ignore[type-var]
    assert list(tmp_path.iterdir()) == []  # requests and replies are consumed


def test_control_without_an_answer_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="did not answer within 0s"):
        control.send(tmp_path, {"action": "heal"}, timeout_s=0.2)
    assert list(tmp_path.iterdir()) == []


def view(**kw: object) -> View:
    base = dict(
        topology="redis-replicated",
        run_id="rehearse-x",
        t_s=12.0,
        end_s=60.0,
        offered=300.0,
        ingest_rate=298.0,
        query_p99_s=0.0021,
        errors={("ingest", "ingest_rl"): {"ok": 1490, "fail": 3, "info": 0}},
        lag={"r1→r2": 7.0},
        firing=[("RedisReplicationLag", "r1→r2", 11.0)],
        pending=[],
        rules=7,
        for_scale=0.05,
        active=["partition r2"],
        actions=[
            {
                "t_s": 5.0,
                "source": "terminal",
                "action": "fault",
                "fault": "partition",
                "target": "r2",
                "ok": True,
                "detail": {},
            }
        ],
    )
    base.update(kw)
    return View(**base)  # type: ignore[arg-type]


def test_the_dashboard_shows_figures_faults_and_alerts() -> None:
    console = Console(width=110, record=True)
    console.print(render(view()))
    text = console.export_text()
    for shown in (
        "ingested 298/s",
        "query p99 2.1 ms",
        "r1→r2 7 s",
        "FIRING  RedisReplicationLag",
        "for: x 0.05",
        "faults active: partition r2",
        "terminal partition r2 applied",
        "ingest/ingest_rl",
    ):
        assert shown in text, shown


def test_the_timeline_report_renders_from_its_file_alone(tmp_path: Path) -> None:
    result = {
        "verdict": "pass",
        "verdict_reason": "ok",
        "topology": "redis-replicated",
        "run_id": "rehearse-x",
        "end_s": 30.0,
        "end_reason": "ended by the operator (q)",
        "options": {"rate": 300, "for_scale": 0.05},
        "actions": [
            view().actions[0] | {"done_s": 5.0},
            {
                "t_s": 20.0,
                "done_s": 20.1,
                "source": "terminal",
                "action": "heal",
                "fault": "",
                "target": "",
                "ok": True,
                "detail": ["partition r2"],
            },
        ],
        "alerts": {
            "for_scale": 0.05,
            "events": [firing("RedisReplicationLag", 16.0), firing("RedisReplicationLag", 21.0, "resolved")],
            "series": [{"t_s": 1.0, "ingest_rate": {"": 300.0}, "redis_replica_lag_s": {"r1→r2": 1.0}}],
            "rules": [],
            "not_evaluated": [{"name": "EventProcessingBacklog", "expr": "kafka", "reason": "no Kafka"}],
        },
        "incidents": [
            {
                "fault": "partition",
                "target": "r2",
                "applied_s": 5.0,
                "healed_s": 20.1,
                "detected_by": "RedisReplicationLag",
                "ttd_s": 11.0,
                "ttr_s": 0.9,
                "unresolved": [],
            }
        ],
        "invariants": [{"name": "sessions", "status": "valid", "summary": "0 lost"}],
        "checkpoints": [],
    }
    (tmp_path / "rehearsal.json").write_text(json.dumps(result))
    page = render_rehearsal(tmp_path).read_text()
    for shown in ("partition r2", "RedisReplicationLag", "11.0 s", "0.9 s", "no Kafka", "sessions", "<svg"):
        assert shown in page, shown
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")  # self-contained


def test_a_checkpoint_missed_fails_the_rehearsal() -> None:
    from harness.rehearsal.finish import checkpoint_results, verdict
    from harness.rehearsal.script import Checkpoint

    events = [firing("RedisReplicationLag", 16.0)]
    cps = [
        Checkpoint(by_s=20, expect_alert="RedisReplicationLag"),
        Checkpoint(by_s=10, expect_alert="RedisReplicationLag"),
    ]
    met, late = checkpoint_results(cps, events)
    assert met["met"] and not late["met"] and late["fired_at_s"] == 16.0
    assert verdict(None, [], [met]) == ("pass", "every checkpoint met and no invariant violated")
    assert verdict(None, [], [met, late]) == (
        "fail",
        "RedisReplicationLag expected by 10 s, fired only at 16.0 s",
    )
    [never] = checkpoint_results([Checkpoint(by_s=20, expect_alert="RedisMemoryHigh")], events)
    assert verdict(None, [], [never])[1] == "RedisMemoryHigh expected by 20 s, fired never"
    assert verdict(None, [{"name": "sessions", "status": "invalid"}], [met])[0] == "fail"
    assert verdict("boom", [], [])[0] == "error"


def test_steady_state_is_the_pre_fault_rate_held_for_three_samples() -> None:
    from harness.metrics.incident import steady_after

    rate: list[tuple[float, float | None]] = [(float(t), 300.0) for t in range(0, 10)]
    rate += [
        (10.0, 0.0),
        (11.0, 0.0),
        (12.0, 280.0),
        (13.0, 100.0),
        (14.0, 290.0),
        (15.0, None),
        (16.0, 295.0),
    ]
    rate += [(17.0, 300.0), (18.0, 300.0), (19.0, 300.0)]
    # Healed at 11.5: 12 alone, then 14 broken by a missing sample at 15: steady from 16 on.
    assert steady_after(rate, fault_s=10.0, heal_s=11.5) == pytest.approx(4.5)
    assert steady_after(rate[:18], fault_s=10.0, heal_s=11.5) is None  # not held 3 samples by the end
    assert steady_after(rate, fault_s=0.0, heal_s=11.5) is None  # nothing before the fault to compare
