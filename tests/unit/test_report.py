"""Report renderer: index.html, junit.xml and the runs index, from saved files only."""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from harness.records import RunResults
from harness.report import render_index, render_run, svg, write_junit
from harness.report.render import fmt_duration, fmt_num

SCENARIO = "hot-partition"
RUN_ID = "20261123T122800-3f9a1c"


# ------------------------------------------------------------------------------------ fixture builder
def sample_results(*, failing: bool = False, **overrides: Any) -> dict[str, Any]:
    """A results.json like the runner writes. ``failing`` makes one target fail and one invariant invalid."""
    results: dict[str, Any] = {
        "scenario": SCENARIO,
        "title": "Hot partition: one whale tenant on one Redis Cluster slot",
        "description": "Case study 1: one tenant's keys all hash to one slot, so one master takes the load.",
        "run_id": RUN_ID,
        "seed": 42,
        "started_at": "2026-11-23T12:28:00Z",
        "finished_at": "2026-11-23T12:30:10Z",
        "duration_s": 130.2,
        "verdict": "fail" if failing else "pass",
        "verdict_reason": "1 target missed, 1 invariant violated" if failing else "all targets met",
        "error": None,
        "substrate": {
            "backend": "local",
            "hosts": "netns",
            "partitions_supported": True,
            "versions": {"redis-server": "7.0.15", "toxiproxy-server": "v2.12.0", "python": "3.11.7"},
            "topology": "redis-cluster",
            "nodes": [
                {
                    "name": f"r{i}",
                    "role": "master",
                    "address": f"10.77.3.1{i}:6379",
                    "proxy": f"10.77.3.1:2000{i}",
                }
                for i in (1, 2, 3)
            ],
        },
        "planes": {
            "redis": {"status": "ran", "reason": None},
            "mongodb": {"status": "not_run", "reason": "this scenario has no MongoDB workload yet"},
        },
        "variants": [
            {
                "name": "before",
                "description": "one key per tenant",
                "offered_rate": 4000,
                "duration_s": 30,
                "events_offered": 120000,
                "events_sent": 119990,
                "achieved_rate": 3999.7,
            },
            {
                "name": "after",
                "description": "whale keys sharded over 16 slots",
                "offered_rate": 4000,
                "duration_s": 30,
                "events_offered": 120000,
                "events_sent": 120000,
                "achieved_rate": 4000.0,
            },
        ],
        "invariants": [
            {
                "name": "acknowledged-increments-survive",
                "variant": "before",
                "status": "valid",
                "violations": 0,
                "summary": "120000 acknowledged INCRs all present",
                "examples": [],
            },
            {
                "name": "acknowledged-increments-survive",
                "variant": "after",
                "status": "invalid" if failing else "valid",
                "violations": 7 if failing else 0,
                "summary": "7 counters lower than acknowledged",
                "examples": [
                    {"key": f"counter:{{t{i}}}:20261123:1228", "expected": 10, "observed": 9, "info_ops": 0}
                    for i in range(8)
                ],
            },
            {
                "name": "rate-limit-never-exceeded",
                "variant": "after",
                "status": "unknown",
                "violations": None,
                "summary": "too many info ops to decide",
                "examples": [],
            },
        ],
        "targets": [
            {
                "name": "before.imbalance_ratio",
                "description": "the case study reproduces",
                "value": 1.78,
                "op": ">=",
                "threshold": 1.6,
                "status": "pass",
            },
            {
                "name": "after.imbalance_ratio",
                "description": "sharding fixes it",
                "value": 1.31 if failing else 1.05,
                "op": "<=",
                "threshold": 1.2,
                "status": "fail" if failing else "pass",
            },
            {
                "name": "after.p99_ms",
                "description": "whale p99 stays low",
                "value": None,
                "op": "<=",
                "threshold": 5,
                "status": "unknown",
            },
        ],
        "faults": [],
    }
    results.update(overrides)
    return results


def _variant_metrics(shares: list[float], ratio: float) -> dict[str, Any]:
    n = 30
    t = list(range(n))
    per_master = {f"r{i + 1}": [round(4000 * s) + (k % 3) for k in t] for i, s in enumerate(shares)}
    return {
        "per_master": [
            {"node": f"r{i + 1}", "ops": round(240000 * s), "ops_per_s": 8000 * s, "share": s}
            for i, s in enumerate(shares)
        ],
        "imbalance_ratio": ratio,
        "latency_ms": {
            "whale": {"count": 48000, "p50": 0.8, "p99": 4.1, "p999": 9.3, "max": 12.0},
            "others": {"count": 72000, "p50": 0.7, "p99": 3.0, "p999": 7.0, "max": 10.0},
        },
        "outcomes": {"ok": 239000, "fail": 0, "info": 0, "rate_limited": 812, "unsent": 0},
        "timeseries": {
            "t_s": t,
            "offered_ops_per_s": [4000] * n,
            "achieved_ops_per_s": [3990 + (k * 7) % 15 for k in t],
            "per_master_ops_per_s": per_master,
        },
    }


def sample_metrics() -> dict[str, Any]:
    return {
        "variants": {
            "before": _variant_metrics([0.6, 0.2, 0.2], 1.8),
            "after": _variant_metrics([0.35, 0.33, 0.32], 1.05),
        }
    }


def make_run(
    root: Path,
    *,
    scenario: str = SCENARIO,
    run_id: str = RUN_ID,
    results: dict[str, Any] | None = None,
    metrics: dict[str, Any] | bool | None = True,
) -> Path:
    """Write ``root/<scenario>/<run_id>/{results,metrics}.json``; ``metrics=False`` leaves it out."""
    run_dir = root / scenario / run_id
    run_dir.mkdir(parents=True)
    res = sample_results() if results is None else results
    (run_dir / "results.json").write_text(json.dumps(res), encoding="utf-8")
    if metrics is not False:
        met = sample_metrics() if metrics is True or metrics is None else metrics
        (run_dir / "metrics.json").write_text(json.dumps(met), encoding="utf-8")
    return run_dir


def _junit(run_dir: Path) -> ET.Element:
    return ET.parse(run_dir / "junit.xml").getroot()


def _cases(root: ET.Element) -> list[ET.Element]:
    return list(root.iter("testcase"))


# --------------------------------------------------------------------------------------------- tests
def test_render_run_writes_self_contained_html(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, results=sample_results(failing=True))
    out = render_run(run_dir)
    assert out == run_dir / "index.html"
    html = out.read_text(encoding="utf-8")
    assert 'class="badge fail"' in html and "FAIL" in html
    assert "1 target missed, 1 invariant violated" in html
    for t in sample_results()["targets"]:
        assert t["name"] in html
    for inv in sample_results()["invariants"]:
        assert inv["name"] in html
    assert "<svg" in html
    assert html.count("<svg") >= 6  # per-master bars, 2×(throughput + per-master lines), p99 bars
    assert "even share" in html
    assert "120,000" in html  # thousands separators
    assert "no faults in this scenario" in html
    assert "harness scenario hot-partition --seed 42" in html
    assert "this scenario has no MongoDB workload yet" in html
    # Self-contained: no scripts, no external stylesheets, images or fonts.
    assert "<script" not in html
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"<link\b", html)
    assert not re.search(r"\bsrc\s*=", html)


def test_invariant_examples_are_capped_at_five(tmp_path: Path) -> None:
    html = render_run(make_run(tmp_path, results=sample_results(failing=True))).read_text(encoding="utf-8")
    assert "first 5 of 8 examples" in html
    assert "counter:{t4}" in html and "counter:{t5}" not in html


def test_junit_counts_for_failing_run(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, results=sample_results(failing=True))
    render_run(run_dir)
    root = _junit(run_dir)
    suites = list(root.iter("testsuite"))
    assert len(suites) == 1 and suites[0].get("name") == SCENARIO
    cases = _cases(root)
    assert len(cases) == 3 + 3 + 2  # invariants + targets + planes
    assert suites[0].get("tests") == "8"
    assert suites[0].get("failures") == "2"
    assert suites[0].get("errors") == "0"
    assert suites[0].get("skipped") == "3"  # unknown invariant, unknown target, mongodb not run

    by_name = {(c.get("classname"), c.get("name")): c for c in cases}
    failed_target = by_name[("targets", "after.imbalance_ratio")].find("failure")
    assert failed_target is not None
    assert failed_target.get("message") == "value 1.31, needs <= 1.2"
    failed_inv = by_name[("invariants.after", "acknowledged-increments-survive")].find("failure")
    assert failed_inv is not None
    assert "7 violations" in (failed_inv.get("message") or "")
    assert "counter:{t0}" in (failed_inv.text or "") and "counter:{t5}" not in (failed_inv.text or "")
    assert by_name[("invariants.before", "acknowledged-increments-survive")].find("failure") is None
    skipped_plane = by_name[("planes", "mongodb")].find("skipped")
    assert skipped_plane is not None and "no MongoDB workload" in (skipped_plane.get("message") or "")
    assert by_name[("planes", "redis")].find("skipped") is None
    assert by_name[("targets", "after.p99_ms")].find("skipped") is not None
    assert by_name[("invariants.after", "rate-limit-never-exceeded")].find("skipped") is not None


def test_junit_for_passing_run_has_no_failures(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    write_junit(RunResults.model_validate(sample_results()), path)
    root = ET.parse(path).getroot()
    assert len(_cases(root)) == 8
    assert not list(root.iter("failure")) and not list(root.iter("error"))


def test_error_only_run_still_renders(tmp_path: Path) -> None:
    results = {
        "scenario": SCENARIO,
        "run_id": RUN_ID,
        "seed": 7,
        "started_at": "2026-11-23T12:28:00Z",
        "verdict": "error",
        "verdict_reason": "setup failed",
        "error": "TopologyError: redis-server r2 did not start <within 10 s>",
        "variants": [],
    }
    run_dir = make_run(tmp_path, results=results, metrics=False)
    html = render_run(run_dir).read_text(encoding="utf-8")
    assert 'class="badge error"' in html
    assert "TopologyError: redis-server r2 did not start &lt;within 10 s&gt;" in html
    assert "metrics.json not found" in html
    assert "—" in html
    root = _junit(run_dir)
    cases = _cases(root)
    assert [(c.get("name"), c.find("error") is not None) for c in cases] == [("run", True)]
    err = cases[0].find("error")
    assert err is not None and "TopologyError" in (err.get("message") or "")
    assert next(root.iter("testsuite")).get("errors") == "1"


def test_missing_results_json_renders_an_error_report(tmp_path: Path) -> None:
    run_dir = tmp_path / SCENARIO / RUN_ID
    run_dir.mkdir(parents=True)
    html = render_run(run_dir).read_text(encoding="utf-8")
    assert "results.json not found" in html and 'class="badge error"' in html
    assert [c.get("name") for c in _cases(_junit(run_dir))] == ["run"]


@pytest.mark.parametrize(
    "results, metrics",
    [
        ({}, {}),
        ({"verdict": "weird", "substrate": None, "planes": [], "targets": "x", "invariants": [1, None]}, []),
        (
            {"targets": [{"name": "t"}], "invariants": [{"name": "i", "examples": "nope"}], "faults": [{}]},
            {
                "variants": {
                    "v": {"per_master": [{"node": "r1"}], "latency_ms": {"g": None}, "timeseries": {"t_s": 3}}
                }
            },
        ),
        (
            sample_results(variants=[{"name": "before"}]),
            {
                "variants": {
                    "before": {
                        "per_master": [{"node": "r1", "ops": 10}, {"node": "r2", "ops": 30}],
                        "timeseries": {"t_s": [0, 1, 2], "achieved_ops_per_s": [1, None, float("nan")]},
                        "outcomes": {"ok": 5, "weird": "x"},
                    }
                }
            },
        ),
    ],
)
def test_partial_or_malformed_input_does_not_crash(tmp_path: Path, results: Any, metrics: Any) -> None:
    run_dir = make_run(tmp_path, results=results, metrics=metrics)
    html = render_run(run_dir).read_text(encoding="utf-8")
    assert "—" in html
    ET.parse(run_dir / "junit.xml")


def test_text_from_results_is_escaped(tmp_path: Path) -> None:
    results = sample_results(
        description="uses <b>bold</b> & <script>alert(1)</script>",
        targets=[
            {
                "name": "x<i>",
                "description": "<b>d</b>",
                "value": 1,
                "op": "<",
                "threshold": 2,
                "status": "fail",
            }
        ],
    )
    metrics = sample_metrics()
    metrics["variants"]['<img src="x">'] = metrics["variants"].pop("after")
    run_dir = make_run(tmp_path, results=results, metrics=metrics)
    html = render_run(run_dir).read_text(encoding="utf-8")
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;" in html
    assert "<b>bold" not in html and "<b>d</b>" not in html
    assert "<script" not in html and "x<i>" not in html and "<img" not in html
    assert "x&lt;i&gt;" in html
    assert "&lt;img src=" in html  # the variant name shows up in SVG legends and tables, escaped
    failure = next(_junit(run_dir).iter("failure"))
    assert failure.get("message") == "value 1, needs < 2"


def _index_rows(html: str) -> list[str]:
    return re.findall(r'<a href="([^"]+)">', html)


def test_render_index_lists_runs_newest_first(tmp_path: Path) -> None:
    older = make_run(
        tmp_path,
        run_id="20261122T090000-aaaaaa",
        results=sample_results(run_id="20261122T090000-aaaaaa", started_at="2026-11-22T09:00:00Z"),
    )
    newer = make_run(
        tmp_path,
        scenario="primary-failover",
        run_id="20261123T101500-bbbbbb",
        results=sample_results(
            scenario="primary-failover",
            run_id="20261123T101500-bbbbbb",
            started_at="2026-11-23T10:15:00Z",
            verdict="fail",
            seed=7,
        ),
    )
    (tmp_path / SCENARIO / "latest").symlink_to(older.name)
    (tmp_path / SCENARIO / "20261124T000000-cccccc").mkdir()  # no results.json: not a run
    (tmp_path / "latest").symlink_to("primary-failover")
    render_run(older)

    out = render_index(tmp_path)
    assert out == tmp_path / "index.html"
    html = out.read_text(encoding="utf-8")
    assert _index_rows(html) == [
        "primary-failover/20261123T101500-bbbbbb/index.html",
        "hot-partition/20261122T090000-aaaaaa/index.html",
    ]
    for href in _index_rows(html):
        assert (tmp_path / href).parent.is_dir()
    assert "latest" not in html and "cccccc" not in html
    assert 'class="pill fail"' in html and 'class="pill pass"' in html
    assert "2026-11-23 10:15:00 UTC" in html and "2 min 10 s" in html
    assert newer.name in html
    assert "http://" not in html and "https://" not in html and "<script" not in html


def test_render_index_with_no_runs(tmp_path: Path) -> None:
    html = render_index(tmp_path / "reports").read_text(encoding="utf-8")
    assert "no runs yet" in html


def test_number_formatting() -> None:
    assert fmt_num(120000) == "120,000"
    assert fmt_num(3999.7) == "4,000"
    assert fmt_num(1.78) == "1.78"
    assert fmt_num(4.1) == "4.1"
    assert fmt_num(12.0) == "12"
    assert fmt_num(0.01234) == "0.0123"
    assert fmt_num(None) == "—"
    assert fmt_num(float("nan")) == "—"
    assert fmt_duration(130.2) == "2 min 10 s"
    assert fmt_duration(12.5) == "12.5 s"
    assert fmt_duration(None) == "—"


def test_svg_charts_are_well_formed_and_escaped() -> None:
    bars = svg.bar_chart(
        ["r1", "r<2>"],
        [("before", [0.6, 0.4]), ("a&b", [0.5, None])],
        title="t <x>",
        reference=0.5,
        reference_label="even share",
        y_format=svg.percent_label,
    )
    lines = svg.line_chart(
        [0, 1, 2, 3], [("offered", [1, 1, 1, 1]), ("achieved", [1, None, 2, 3])], dashed=["offered"]
    )
    for doc in (bars, lines, svg.empty_chart("nothing <here>")):
        root = ET.fromstring(doc)
        assert root.tag == "svg"
    assert "r&lt;2&gt;" in bars and "a&amp;b" in bars and "t &lt;x&gt;" in bars
    assert "stroke-dasharray" in bars and "stroke-dasharray" in lines
    assert bars.count("<rect") >= 3 + 2  # 3 bars + 2 legend swatches
    assert "no data" in svg.bar_chart([], [])
    assert "no data" in svg.line_chart([0, 1], [("s", [None, None])])


def test_nice_ticks() -> None:
    assert svg.nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    ticks = svg.nice_ticks(0, 4321)
    assert ticks[0] == 0 and ticks[-1] >= 4321 and len(ticks) <= 7
    assert svg.nice_ticks(5, 5)[0] <= 5 <= svg.nice_ticks(5, 5)[-1]


def test_results_are_not_mutated(tmp_path: Path) -> None:
    results = RunResults.model_validate(sample_results(failing=True))
    before = copy.deepcopy(results)
    write_junit(results, tmp_path / "junit.xml")
    assert results == before


@pytest.mark.parametrize(
    ("capacity", "shown"),
    [
        ({"cpu_limit": 0.14, "applied": True, "reason": None}, "0.14 core / node"),
        (
            {"cpu_limit": 0.14, "applied": True, "reason": None, "how": "docker update --cpu-quota"},
            "0.14 core / node (docker update --cpu-quota)",
        ),
        ({"cpu_limit": 0.14, "applied": False, "reason": "no cgroup CPU controller"}, "NOT limited"),
        (None, "unlimited"),
    ],
)
def test_node_capacity_is_shown_as_it_was_applied(tmp_path: Path, capacity: Any, shown: str) -> None:
    results = sample_results()
    results["substrate"]["capacity"] = capacity
    html = render_run(make_run(tmp_path, results=results)).read_text()
    assert shown in html


def test_chunks_per_shard_of_each_sharded_collection_are_shown(tmp_path: Path) -> None:
    metrics = sample_metrics()
    metrics["variants"]["before"]["workload"] = {
        "mongo": {
            "ingest": {"events": 10, "batches": 1, "final": {"ok": 10}},
            "chunks": {"eventlog.events": {"shard2": 4, "shard1": 4}, "eventlog.audit_logs": {}},
        }
    }
    html = render_run(make_run(tmp_path, metrics=metrics)).read_text()
    assert "chunks of eventlog.events at the start" in html
    assert "shard1 4, shard2 4" in html


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "records"


@pytest.mark.parametrize("run", ["hot-partition", "platform-steady", "redis-failover"])
def test_a_run_saved_by_the_runner_renders_whole(tmp_path: Path, run: str) -> None:
    run_dir = tmp_path / run / "saved"
    run_dir.mkdir(parents=True)
    for name in ("results.json", "metrics.json"):
        (run_dir / name).write_bytes((FIXTURES / run / name).read_bytes())
    html = render_run(run_dir).read_text(encoding="utf-8")
    saved = json.loads((FIXTURES / run / "results.json").read_text())
    assert "left out as malformed" not in html and "not found" not in html
    assert saved["title"] in html and saved["verdict_reason"] in html
    for t in saved["targets"]:
        assert t["name"] in html
    cases = _cases(_junit(run_dir))
    assert len(cases) == len(saved["invariants"]) + len(saved["targets"]) + len(saved["planes"])


def test_parts_that_do_not_fit_the_records_are_named_in_a_note(tmp_path: Path) -> None:
    metrics = sample_metrics()
    metrics["variants"]["before"]["imbalance_ratio"] = "high"
    run_dir = make_run(tmp_path, results=sample_results(seed="forty-two"), metrics=metrics)
    html = render_run(run_dir).read_text(encoding="utf-8")
    assert "results.json: left out as malformed: seed." in html
    assert "metrics.json: left out as malformed: variants.before.imbalance_ratio." in html
    assert "120,000" in html  # the rest is shown as usual


def test_a_mongo_only_run_shows_storage_and_says_which_variant_did_not_run(tmp_path: Path) -> None:
    """No Redis master: no per-master section or charts. A variant whose workload played nothing says
    why in the variants table and gets no throughput chart; the storage figures are shown."""
    series = [(0.0, 0, 100, 100, 100, None), (1.0, 400, 400_100, 360_000, 40_100, 1000.0)]
    storage = {
        "retention": "batched_cleanup", "retention_ms": 4000, "stored": 400, "documents_end": 400,
        "series": series, "bytes_per_event": 1000.0, "capstone_tb_after_18_months": 548.0,
        "capstone_tb_kept_90_days": 90.0, "deletion_lag_ms_max": 0.0,
    }  # fmt: skip
    ts = {"t_s": [0, 1], "offered_ops_per_s": [400, 400], "achieved_ops_per_s": [400, 400]}
    metrics = {
        "variants": {
            "before": {"workload": {"storage": storage}, "timeseries": ts},
            "after": {
                "workload": {"not_run": {"mongo_growth": "ferretdb 1.24.2 lacks TTL indexes"}},
                "timeseries": {"t_s": [0], "offered_ops_per_s": [0], "achieved_ops_per_s": [0]},
            },
        }
    }
    html = render_run(make_run(tmp_path, metrics=metrics)).read_text()
    assert "Load per master" not in html and "ops/s per master" not in html
    assert "not run: ferretdb 1.24.2 lacks TTL indexes" in html
    assert "before: offered vs achieved" in html and "after: offered vs achieved" not in html
    assert "before: the events collection&#x27;s storage" in html
    assert "548 TB after 18 months kept" in html and "90 TB with the standard class" in html
