"""``harness capacity``'s input checks and a plane this machine cannot measure (no server needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.bench.capacity import mongo_plane
from harness.cli import cli


def test_bad_options_are_refused_naming_the_option(tmp_path: Path) -> None:
    runner = CliRunner()
    for args, option in (
        (["--step-seconds", "0"], "--step-seconds"),
        (["--max-rate", "-5"], "--max-rate"),
        (["--cpu-limit", "-1"], "--cpu-limit"),
        (["--workers", "0"], "--workers"),
        (["--coarse-steps", "1"], "--coarse-steps"),
    ):
        res = runner.invoke(cli, ["capacity", *args, "--reports-dir", str(tmp_path)])
        assert res.exit_code == 2 and option in res.output, (args, res.output)
    assert not (tmp_path / "capacity").exists()  # refused before anything started


@pytest.mark.parametrize("plane", ["mongo", "platform"])
def test_neither_mongod_nor_ferretdb_exits_3_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plane: str
) -> None:
    monkeypatch.setattr(mongo_plane, "find_binary", lambda name: None)
    res = CliRunner().invoke(cli, ["capacity", "--plane", plane, "--reports-dir", str(tmp_path)])
    assert res.exit_code == 3, res.output
    assert "no mongod and no FerretDB" in res.output
    latest = tmp_path / "capacity" / "latest"
    saved = json.loads((latest / "results.json").read_text())
    assert saved["status"] == "not_run" and "no mongod and no FerretDB" in saved["reason"]
    assert "NOT RUN" in (latest / "index.html").read_text()
