"""``harness capacity``'s input checks and the planes it does not measure yet (no server needed)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

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


def test_a_plane_not_built_yet_exits_3_with_a_report(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["capacity", "--plane", "platform", "--reports-dir", str(tmp_path)])
    assert res.exit_code == 3, res.output
    latest = tmp_path / "capacity" / "latest"
    saved = json.loads((latest / "results.json").read_text())
    assert saved["status"] == "not_run" and saved["reason"].startswith("not built yet")
    assert "NOT RUN" in (latest / "index.html").read_text()
