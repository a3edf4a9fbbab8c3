"""``harness check <run-dir>``: re-judges a saved run from its files and rewrites its results/report."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from harness.checkers import CHECKERS, Verdict
from harness.cli import cli
from harness.history.loader import Op
from harness.scenario.judge import recheck_record

TARGET = {"name": "before hot", "metric": "before.imbalance_ratio", "op": ">=", "threshold": 1.6}


def _history(lose_in: str | None) -> list[dict[str, Any]]:
    """Per variant: three acknowledged INCRs on one key, then the final read (one lost if asked)."""
    recs: list[dict[str, Any]] = []
    op_id = 0
    t = 0
    for variant in ("before", "after"):
        for n in range(1, 4):
            op_id += 1
            t += 1000
            base = {"id": op_id, "process": "ingest", "f": "incr"}
            recs.append({**base, "type": "invoke", "time_ns": t, "key": f"c:{variant}", "variant": variant})
            recs.append({**base, "type": "ok", "time_ns": t + 500, "value": n})
        op_id += 1
        base = {"id": op_id, "process": "final", "f": "final_read"}
        final = 2 if variant == lose_in else 3
        recs.append({**base, "type": "invoke", "time_ns": t + 900, "key": f"c:{variant}", "variant": variant})
        recs.append({**base, "type": "ok", "time_ns": t + 950, "value": final})
    return recs


def make_run_dir(root: Path, *, lose_in: str | None = None, checkers: list[str] | None = None) -> Path:
    run_dir = root / "demo" / "20261123T000000Z"
    run_dir.mkdir(parents=True)
    results = {
        "scenario": "demo",
        "run_id": run_dir.name,
        "seed": 1,
        "verdict": "pass",  # stale on purpose: check must recompute it
        "verdict_reason": "",
        "error": None,
        "planes": {"redis": {"status": "ran", "reason": None}},
        "variants": [{"name": "before"}, {"name": "after"}],
        "invariants": [],
        "targets": [],
        "faults": [],
        "checking": {
            "checkers": checkers or ["acknowledged-increments-survive"],
            "checker_params": {},
            "targets": [TARGET],
        },
    }
    (run_dir / "results.json").write_text(json.dumps(results))
    metrics = {"variants": {"before": {"imbalance_ratio": 1.8}, "after": {"imbalance_ratio": 1.0}}}
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    (run_dir / "history.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in _history(lose_in)))
    return run_dir


def test_check_rejudges_and_rewrites_results_junit_and_html(tmp_path: Path) -> None:
    run_dir = make_run_dir(tmp_path, lose_in="after")
    result = CliRunner().invoke(cli, ["check", str(run_dir)])
    assert result.exit_code == 1, result.output
    saved = json.loads((run_dir / "results.json").read_text())
    assert saved["verdict"] == "fail" and "after/acknowledged-increments-survive" in saved["verdict_reason"]
    by_variant = {i["variant"]: i for i in saved["invariants"]}
    assert by_variant["before"]["status"] == "valid"
    after = by_variant["after"]
    assert after["status"] == "invalid" and after["violations"] == 1
    assert after["examples"][0]["kind"] == "lost" and after["examples"][0]["key"] == "c:after"
    assert [t["status"] for t in saved["targets"]] == ["pass"]
    assert "rechecked_at" in saved
    junit = ET.parse(run_dir / "junit.xml").getroot()
    assert int(junit.get("failures") or junit[0].get("failures") or 0) >= 1
    assert "c:after" in (run_dir / "index.html").read_text()


def test_check_of_a_clean_run_passes(tmp_path: Path) -> None:
    run_dir = make_run_dir(tmp_path)
    result = CliRunner().invoke(cli, ["check", str(run_dir)])
    assert result.exit_code == 0, result.output
    saved = json.loads((run_dir / "results.json").read_text())
    assert saved["verdict"] == "pass" and len(saved["invariants"]) == 2


class _Crashing:
    name = "crashing"
    fs: frozenset[str] | None = None

    def observe(self, op: Op) -> None:
        raise RuntimeError("checker bug")

    def finish(self) -> Verdict:  # pragma: no cover - never reached
        raise AssertionError


def test_a_crashing_checker_is_unknown_with_its_traceback_never_a_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(CHECKERS, "crashing", _Crashing)
    run_dir = make_run_dir(tmp_path, checkers=["crashing", "acknowledged-increments-survive"])
    results = recheck_record(run_dir)
    crashed = [i for i in results.invariants if i.name == "crashing"]
    assert [i.status for i in crashed] == ["unknown", "unknown"]
    assert "RuntimeError: checker bug" in crashed[0].details["traceback"]
    others = [i for i in results.invariants if i.name != "crashing"]
    assert [i.status for i in others] == ["valid", "valid"]  # the others still ran
    assert results.verdict == "fail"
    saved = json.loads((run_dir / "results.json").read_text())
    assert "traceback" in saved["invariants"][0]["details"]


def _harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_missing_history_is_one_clear_error(tmp_path: Path) -> None:
    run_dir = make_run_dir(tmp_path)
    (run_dir / "history.jsonl").unlink()
    proc = _harness("check", str(run_dir))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {run_dir / 'history.jsonl'}: not found; a run directory needs its history to be re-checked"
    ]


def test_not_a_run_directory_and_damaged_history_are_named(tmp_path: Path) -> None:
    proc = _harness("check", str(tmp_path))
    assert proc.returncode == 2 and "results.json: not found" in proc.stderr
    run_dir = make_run_dir(tmp_path)
    with open(run_dir / "history.jsonl", "ab") as fh:
        fh.write(b"{oops\n")
    proc = _harness("check", str(run_dir))
    assert proc.returncode == 2
    assert "history.jsonl: line 17 is not JSON" in proc.stderr and "Traceback" not in proc.stderr
