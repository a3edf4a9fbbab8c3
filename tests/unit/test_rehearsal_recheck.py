"""``harness check`` on a rehearsal directory, from its files alone (no server): the checkpoints
judged again against the saved alert events (a saved "met" that the events contradict is not
believed), and a torn or foreign results file named in one clear error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.errors import HarnessError
from harness.rehearsal.recheck import is_rehearsal, recheck


def _saved(fired_at_s: float) -> dict[str, Any]:
    # a rehearsal whose operator never came up has no invariants: only its checkpoints are judged
    return {
        "verdict": "pass",
        "verdict_reason": "every checkpoint met and no invariant violated",
        "error": None,
        "end_s": 30.0,
        "actions": [],
        "alerts": {
            "events": [
                {
                    "rule": "RedisReplicationLag",
                    "instance": "r1→r2",
                    "kind": "firing",
                    "t_s": fired_at_s,
                    "value": 9,
                }
            ]
        },
        "incidents": [],
        "checkpoints": [
            {"by_s": 24.0, "expect_alert": "RedisReplicationLag", "fired_at_s": 16.0, "met": True}
        ],
        "invariants": [],
        "planes": {
            "redis": {"status": "ran"},
            "mongodb": {"status": "not_run", "reason": "no MongoDB plane"},
        },
        "options": {"rate": 300.0, "seed": 1, "for_scale": 0.05, "max_duration_s": 30.0, "script": "x.yaml"},
        "topology": "redis-replicated",
    }


def test_a_saved_met_checkpoint_the_events_contradict_fails_when_judged_again(tmp_path: Path) -> None:
    (tmp_path / "rehearsal.json").write_text(json.dumps(_saved(fired_at_s=26.5)))
    assert is_rehearsal(tmp_path)
    res = recheck(tmp_path)
    assert res["checkpoints"] == [
        {"by_s": 24.0, "expect_alert": "RedisReplicationLag", "fired_at_s": 26.5, "met": False}
    ]
    assert (res["verdict"], res["verdict_reason"]) == (
        "fail",
        "RedisReplicationLag expected by 24 s, fired only at 26.5 s",
    )
    saved = json.loads((tmp_path / "rehearsal.json").read_text())
    assert saved["verdict"] == "fail" and saved["rechecked_at"]
    assert "judged again" in (tmp_path / "index.html").read_text()


def test_events_in_time_pass_again(tmp_path: Path) -> None:
    (tmp_path / "rehearsal.json").write_text(json.dumps(_saved(fired_at_s=16.0)))
    assert recheck(tmp_path)["verdict"] == "pass"


def test_a_torn_or_foreign_results_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "rehearsal.json").write_text("{torn")
    with pytest.raises(HarnessError, match=r"rehearsal\.json: unreadable"):
        recheck(tmp_path)
    (tmp_path / "rehearsal.json").write_text(json.dumps({"verdict": "pass"}))
    with pytest.raises(HarnessError, match=r"not a rehearsal's results \(no options, topology, planes\)"):
        recheck(tmp_path)
    assert not is_rehearsal(tmp_path / "elsewhere")


def test_started_rehearsal_without_its_history_is_an_error(tmp_path: Path) -> None:
    saved = _saved(16.0) | {"invariants": [{"name": "sessions", "status": "valid"}]}
    (tmp_path / "rehearsal.json").write_text(json.dumps(saved))
    with pytest.raises(HarnessError, match=r"history\.jsonl: missing"):
        recheck(tmp_path)
