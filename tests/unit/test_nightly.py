"""The nightly end to end with a stand-in for ``harness scenario``: a small script that writes a run
directory the way the runner does (or crashes, or hangs), so the sequence, the summary, the JUnit
file, the history and the regression flag are checked without a server."""

from __future__ import annotations

import json
import sys
import textwrap
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from harness.nightly import NightlyOptions, figures_of, read_history, resolve, run_nightly
from harness.nightly import runner as nightly_runner
from harness.nightly.baselines import MIN_RUNS
from harness.nightly.figures import unit_of
from harness.nightly.suites import load_suites
from harness.records import RunResults
from harness.report.nightly import sparkline, summary_markdown
from harness.report.svg_trend import trend_chart
from harness.scenario.spec import available_scenarios

FAKE = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path

    name, reports, plan = sys.argv[1], Path(sys.argv[2]), json.loads(Path(sys.argv[3]).read_text())
    what = plan.get(name, {"verdict": "pass"})
    if what.get("crash"):
        print("bringing up …")
        raise SystemExit("error: redis-server exited at once: port in use")
    if what.get("hang"):
        time.sleep(60)
    earlier = len(list((reports / name).glob("*"))) if (reports / name).exists() else 0
    run = reports / name / f"20261207T0200{earlier:02d}-abc"
    run.mkdir(parents=True)
    value = what.get("value", 100.0)
    results = {
        "scenario": name, "title": f"{name} title", "run_id": run.name, "verdict": what["verdict"],
        "verdict_reason": what.get("reason", "all targets met"), "duration_s": 30.0,
        "targets": [
            {"name": "p99 stays low", "metric": "after.latency_ms.others.p99", "value": value,
             "op": "<=", "threshold": 500.0, "status": "pass"},
            {"name": "nothing lost", "metric": "after.invariants.acknowledged_increments_survive.lost",
             "value": 0, "op": "==", "threshold": 0, "status": "pass"},
            {"name": "needs mongod", "metric": "before.workload.sharded.busiest_share", "value": None,
             "op": ">=", "threshold": 0.62, "status": "not_run", "reason": "no mongod"},
        ],
        "invariants": [{"variant": "after", "name": "no-duplicates", "status": "valid", "summary": "ok"}],
        "planes": {"redis": {"status": "ran"}},
    }
    (run / "results.json").write_text(json.dumps(results))
    (run / "index.html").write_text("<html>run</html>")
    sys.exit({"pass": 0, "fail": 1, "error": 2, "not_run": 3}[what["verdict"]])
    """
)


class Clock:
    """Each nightly a day after the last, so the nightly directories are named by date."""

    def __init__(self) -> None:
        self.t = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.t

    def next_day(self) -> None:
        self.t += timedelta(days=1)


def _nightly(tmp_path: Path, names: list[str], plan: dict[str, Any], clock: Clock, **kw: Any) -> Any:
    script = tmp_path / "fake_scenario.py"
    script.write_text(FAKE)
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan))
    lines: list[str] = []

    def command(name: str, opts: NightlyOptions) -> list[str]:
        return [sys.executable, str(script), name, str(opts.reports_dir), str(plan_file)]

    opts = NightlyOptions(
        scenarios=names,
        suite="test",
        reports_dir=tmp_path / "reports",
        command=command,
        log=lines.append,
        now=clock,
        **kw,
    )
    nightly_dir, record = run_nightly(opts)
    return nightly_dir, record, lines


def test_a_nightly_runs_each_scenario_and_survives_a_crash(tmp_path: Path) -> None:
    plan = {"stale-reads": {"verdict": "pass"}, "hot-partition": {"crash": True}}
    plan["hot-partition-mongo"] = {"verdict": "not_run", "reason": "no mongod"}
    nightly_dir, record, lines = _nightly(
        tmp_path, ["stale-reads", "hot-partition", "hot-partition-mongo"], plan, Clock()
    )
    assert nightly_dir.name == "2026-12-01"
    assert [s.verdict for s in record.scenarios] == ["pass", "error", "not_run"]
    crashed = record.scenarios[1]
    assert "exited 1 without a run directory" in str(crashed.reason)
    assert "port in use" in str(crashed.reason)  # the reason is the scenario's own last words
    assert record.verdict == "error" and record.exit_code == 1
    # one progress line per scenario with its verdict and seconds (plus a 'running…' line)
    done = [line for line in lines if line.startswith("[") and "running" not in line]
    assert len(done) == 3 and "stale-reads" in done[0] and " pass " in done[0] and " s" in done[0]
    for leaf in ("index.html", "summary.md", "junit.xml", "nightly.json", "logs/hot-partition.log"):
        assert (nightly_dir / leaf).is_file(), leaf
    assert (nightly_dir.parent / "latest").resolve() == nightly_dir.resolve()
    html = (nightly_dir / "index.html").read_text()
    assert "../../stale-reads/" in html and "index.html" in html  # the link to the run's own report
    assert "not run" in html and "learning: 0 of 3 past runs" in html
    md = (nightly_dir / "summary.md").read_text()
    assert "| ⏭️ | hot-partition-mongo | not run |" in md  # never shown as a pass
    assert "💥 | hot-partition | error: exited 1" in md


def test_the_junit_file_has_a_testsuite_per_scenario(tmp_path: Path) -> None:
    plan = {"stale-reads": {"verdict": "pass"}, "hot-partition": {"crash": True}}
    nightly_dir, _, _ = _nightly(tmp_path, ["stale-reads", "hot-partition"], plan, Clock())
    root = ET.parse(nightly_dir / "junit.xml").getroot()
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["stale-reads", "hot-partition"]
    ok = suites[0]
    assert {c.get("classname") for c in ok.findall("testcase")} >= {"targets", "trends", "invariants.after"}
    assert ok.get("failures") == "0" and ok.get("errors") == "0"
    crashed = suites[1]
    assert crashed.get("errors") == "1" and crashed.find("testcase/error") is not None
    assert root.get("tests") == str(sum(int(s.get("tests", "0")) for s in suites))


def test_two_nightlies_make_a_trend_and_the_history_grows(tmp_path: Path) -> None:
    clock = Clock()
    plan = {"stale-reads": {"verdict": "pass", "value": 100.0}}
    _nightly(tmp_path, ["stale-reads"], plan, clock)
    clock.next_day()
    plan["stale-reads"]["value"] = 110.0
    nightly_dir, record, _ = _nightly(tmp_path, ["stale-reads"], plan, clock)
    fig = next(f for f in record.scenarios[0].figures if f.name == "p99 stays low")
    assert [p.value for p in fig.history] == [100.0] and fig.value == 110.0
    assert fig.trend == "learning" and fig.trend_note == f"learning: 1 of {MIN_RUNS} past runs"
    html = (nightly_dir / "index.html").read_text()
    assert "<polyline" in html  # a trend line through the two nightlies
    history = read_history(tmp_path / "reports" / "baselines" / "history.csv")
    assert set(history["nightly"]) == {"2026-12-01", "2026-12-02"}
    assert len(history) == 2 * len(record.scenarios[0].figures)


def test_a_figure_pushed_outside_its_band_is_flagged(tmp_path: Path) -> None:
    clock = Clock()
    plan = {"stale-reads": {"verdict": "pass", "value": 100.0}}
    for value in (100.0, 104.0, 97.0):
        plan["stale-reads"]["value"] = value
        _, record, _ = _nightly(tmp_path, ["stale-reads"], plan, clock)
        assert record.verdict == "pass" and record.exit_code == 0
        clock.next_day()
    plan["stale-reads"]["value"] = 180.0  # p99 is lower-is-better: 80% worse, the target still met
    nightly_dir, record, _ = _nightly(tmp_path, ["stale-reads"], plan, clock)
    (sc, fig), *rest = record.regressions()
    assert not rest and sc.name == "stale-reads" and fig.name == "p99 stays low"
    assert fig.status == "pass" and fig.trend == "regression" and "above" in str(fig.trend_note)
    assert record.verdict == "fail" and record.exit_code == 1  # a regression fails the nightly
    html = (nightly_dir / "index.html").read_text()
    assert "1 regression outside the noise band" in html and 'class="flagged"' in html
    assert "#c62828" in html  # this nightly's point drawn red
    md = (nightly_dir / "summary.md").read_text()
    assert "### Regressions" in md and "p99 stays low" in md
    junit = ET.parse(nightly_dir / "junit.xml").getroot()
    assert [
        c.get("name") for c in junit.iter("testcase") if c.find("failure[@type='regression']") is not None
    ] == ["p99 stays low"]
    # The same figure improving by as much is not a regression.
    clock.next_day()
    plan["stale-reads"]["value"] = 20.0
    _, record, _ = _nightly(tmp_path, ["stale-reads"], plan, clock)
    fig = next(f for f in record.scenarios[0].figures if f.name == "p99 stays low")
    assert fig.trend == "improved" and not record.regressions()


def test_only_not_run_and_pass_exit_zero(tmp_path: Path) -> None:
    plan = {"stale-reads": {"verdict": "pass"}, "hot-partition-mongo": {"verdict": "not_run"}}
    _, record, _ = _nightly(tmp_path, ["stale-reads", "hot-partition-mongo"], plan, Clock())
    assert record.exit_code == 0 and record.verdict == "pass"
    assert record.counts()["not_run"] == 1 and record.counts()["pass"] == 1


def test_a_hung_scenario_is_stopped_and_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nightly_runner, "STOP_GRACE_S", 2.0)
    plan = {"stale-reads": {"hang": True}, "hot-partition": {"verdict": "pass"}}
    _, record, _ = _nightly(tmp_path, ["stale-reads", "hot-partition"], plan, Clock(), timeout_s=1.0)
    assert record.scenarios[0].verdict == "error"
    assert str(record.scenarios[0].reason).startswith("timed out after 1 s")
    assert record.scenarios[1].verdict == "pass"  # the nightly went on


def test_ctrl_c_stops_the_nightly_with_a_summary(tmp_path: Path) -> None:
    script = tmp_path / "fake_scenario.py"
    script.write_text(FAKE)
    plan_file = tmp_path / "plan.json"
    plan_file.write_text("{}")

    def command(name: str, opts: NightlyOptions) -> list[str]:
        if name == "hot-partition":
            raise KeyboardInterrupt
        return [sys.executable, str(script), name, str(opts.reports_dir), str(plan_file)]

    opts = NightlyOptions(
        scenarios=["stale-reads", "hot-partition", "redis-failover"],
        reports_dir=tmp_path / "reports",
        command=command,
        log=lambda _: None,
        now=Clock(),
    )
    nightly_dir, record = run_nightly(opts)
    assert record.exit_code == 130 and record.verdict == "interrupted" and record.state == "interrupted"
    assert [s.verdict for s in record.scenarios] == ["pass", "error", "pending"]
    assert "not started" in (nightly_dir / "index.html").read_text()
    assert not (tmp_path / "reports" / "baselines" / "history.csv").exists()  # an interrupted night
    assert "not appended" in str(record.history_note)


def test_a_scenario_that_cannot_load_is_an_error_not_a_stop(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: [unclosed\n")
    plan = {"stale-reads": {"verdict": "pass"}}
    _, record, _ = _nightly(tmp_path, [str(bad), "stale-reads"], plan, Clock())
    assert record.scenarios[0].verdict == "error" and "cannot load" in str(record.scenarios[0].reason)
    assert record.scenarios[1].verdict == "pass"


def test_a_second_nightly_on_one_day_gets_its_own_directory(tmp_path: Path) -> None:
    clock = Clock()
    first, _, _ = _nightly(tmp_path, ["stale-reads"], {}, clock)
    second, _, _ = _nightly(tmp_path, ["stale-reads"], {}, clock)
    assert (first.name, second.name) == ("2026-12-01", "2026-12-01-2")


# ------------------------------------------------------------------------------------------ figures
def test_figures_come_from_the_targets_with_a_direction() -> None:
    results = RunResults.model_validate(
        {
            "verdict": "pass",
            "duration_s": 61.5,
            "targets": [
                {
                    "name": "imbalance",
                    "metric": "before.imbalance_ratio",
                    "value": 1.8,
                    "op": ">=",
                    "threshold": 1.6,
                },
                {
                    "name": "p99",
                    "metric": "after.latency_ms.whale.p99",
                    "value": 3.0,
                    "op": "<",
                    "threshold": 5,
                },
                {"name": "lost", "metric": "after.invariants.x.lost", "value": 0, "op": "==", "threshold": 0},
                {
                    "name": "lost",
                    "metric": "before.invariants.x.lost",
                    "value": 9,
                    "op": "!=",
                    "threshold": 0,
                },
                {"name": "mongo", "metric": "a.b", "value": 0.7, "op": ">=", "status": "not_run"},
            ],
        }
    )
    figs = figures_of(results)
    assert [(f.name, f.direction, f.unit) for f in figs] == [
        ("imbalance", "higher", "×"),
        ("p99", "lower", "ms"),
        ("lost", "toward", ""),
        ("lost (2)", None, ""),
        ("mongo", "higher", ""),
        ("run time", "lower", "s"),
    ]
    assert figs[4].value is None  # a target not judged here is not a measurement to trend
    assert figs[-1].value == 61.5
    errored = figures_of(RunResults(verdict="error", duration_s=3.0))
    assert [f.value for f in errored] == [None]


@pytest.mark.parametrize(
    ("metric", "unit"),
    [
        ("after.latency_by_op.write.p50", "ms"),
        ("before.faults_summary.kill.errors_until_ms", "ms"),
        ("after.workload.storage.slope_docs_per_s_second_half", "/s"),
        ("before.throughput_ratio", "×"),
        ("after.workload.sharded.busiest_share", "fraction"),
        ("after.invariants.sessions.violations", ""),
        (None, ""),
    ],
)
def test_units_from_the_metric_path(metric: str | None, unit: str) -> None:
    assert unit_of(metric) == unit


# ------------------------------------------------------------------------------------------ suites
def test_the_shipped_suites() -> None:
    suites = load_suites()
    assert {"all", "smoke"} <= set(suites)
    assert resolve("all", None) == available_scenarios()
    smoke = resolve("smoke", None)
    assert 2 <= len(smoke) <= 3 and set(smoke) <= set(available_scenarios())
    assert "suites" not in available_scenarios()  # the suites file is not a scenario
    assert resolve("smoke", ["stale-reads", "hot-partition"]) == ["stale-reads", "hot-partition"]


def test_unknown_names_are_refused_up_front() -> None:
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="unknown suite 'nope'; known: all, smoke"):
        resolve("nope", None)
    with pytest.raises(HarnessError, match="unknown scenario nope"):
        resolve(None, ["stale-reads", "nope"])


# ------------------------------------------------------------------------------------------ rendering
def test_the_trend_chart_draws_the_band_and_flags_the_last_point() -> None:
    svg = trend_chart(
        ["n1", "n2", "n3", "n4"], [100, 104, None, 180], band=(75, 100, 125), state="regression"
    )
    assert svg.startswith("<svg") and "<rect" in svg and "stroke-dasharray" in svg
    assert svg.count("<circle") == 3 and 'fill="#c62828"' in svg  # a gap for the missing value
    assert "noise band 75–125" in svg
    assert "not measured" in trend_chart(["n1"], [None])
    assert "&lt;b&gt;" in trend_chart(["<b>"], [1.0])  # labels are escaped


def test_sparkline_and_markdown_escape() -> None:
    assert sparkline([1.0, 2.0, None, 3.0]) == "▁▅ █"
    assert sparkline([5.0, 5.0]) == "▄▄"
    from harness.records import NightlyRecord, NightlyScenario

    md = summary_markdown(
        NightlyRecord(
            nightly="n", suite="s", verdict="pass", scenarios=[NightlyScenario(name="a|b", verdict="pass")]
        )
    )
    assert "a\\|b" in md and "| ✅ |" in md


def test_a_damaged_history_is_left_alone_and_the_nightly_runs(tmp_path: Path) -> None:
    history = tmp_path / "reports" / "baselines" / "history.csv"
    history.parent.mkdir(parents=True)
    history.write_bytes(b"\xff\xfe\x00garbage\x00\n\x00")
    _, record, _ = _nightly(tmp_path, ["stale-reads"], {}, Clock())
    assert record.scenarios[0].verdict == "pass" and record.exit_code == 0
    assert "unreadable" in str(record.history_note) and "not appended" in str(record.history_note)
    assert history.read_bytes() == b"\xff\xfe\x00garbage\x00\n\x00"
