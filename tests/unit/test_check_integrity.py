"""``harness check`` on a damaged history: exit 2 naming the damage, or a verdict that names it,
never a silent pass. The run directories are written as the runner writes them: the history by
:class:`HistoryRecorder`, its summary in ``results.json`` (``history``)."""

from __future__ import annotations

import html
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.clock import RunClock
from harness.history.digest import file_digest
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType


def _record(path: Path) -> dict[str, Any] | None:
    """Per variant: three acknowledged INCRs on one key, then the final read that sees all three."""
    with HistoryRecorder(path, RunClock()) as rec:
        t = 0
        for variant in ("before", "after"):
            for n in range(1, 4):
                t += 1000
                i = rec.invoke("ingest", "incr", time_ns=t, key=f"c:{variant}", variant=variant)
                rec.complete(i, OpType.OK, "ingest", "incr", time_ns=t + 500, value=n)
            i = rec.invoke("final", "final_read", time_ns=t + 900, key=f"c:{variant}", variant=variant)
            rec.complete(i, OpType.OK, "final", "final_read", time_ns=t + 950, value=3)
    return rec.summary()


def make_run(
    root: Path, damage: Callable[[list[bytes]], list[bytes]] | None = None, *, when: str = "after"
) -> Path:
    """A run directory; ``damage`` edits the history's lines ``when`` the digest is taken: ``after``
    (the file was damaged since the run), ``before`` (the run wrote it so), ``never`` (a run from
    before the digest was recorded)."""
    run_dir = root / "demo" / "20261206T000000Z"
    run_dir.mkdir(parents=True)
    history = run_dir / "history.jsonl"
    digest = _record(history)
    if damage is not None:
        history.write_bytes(b"".join(damage(history.read_bytes().splitlines(keepends=True))))
        if when == "before":
            d = file_digest(history)
            digest = {**(digest or {}), "records": d.lines, "size": d.size, "sha256": d.sha256}
    results: dict[str, Any] = {
        "scenario": "demo",
        "run_id": run_dir.name,
        "verdict": "pass",
        "planes": {"redis": {"status": "ran", "reason": None}},
        "variants": [{"name": "before"}, {"name": "after"}],
        "checking": {"checkers": ["acknowledged-increments-survive"], "checker_params": {}, "targets": []},
    }
    if when != "never":
        results["history"] = digest
    (run_dir / "results.json").write_text(json.dumps(results))
    return run_dir


def check(
    run_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["harness", "check", str(run_dir)])
    with pytest.raises(SystemExit) as done:
        main()
    out = capsys.readouterr()
    return int(done.value.code or 0), " ".join((out.out + out.err).split())  # rich wraps lines


def _drop_completion(lines: list[bytes]) -> list[bytes]:
    """The ok of the second INCR of 'after' (its final read then shows a lost write as unknown)."""
    return [ln for ln in lines if b'"id":6,"type":"ok"' not in ln]


def _unknown_type(lines: list[bytes]) -> list[bytes]:
    return [ln.replace(b'"type":"ok"', b'"type":"OK"') if b'"id":6,' in ln else ln for ln in lines]


def _duplicate_id(lines: list[bytes]) -> list[bytes]:
    return [ln.replace(b'"id":7,', b'"id":5,') for ln in lines]


def _torn_tail(lines: list[bytes]) -> list[bytes]:
    return [*lines[:-1], lines[-1][:20]]


def test_a_clean_run_passes_and_its_digest_is_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = make_run(tmp_path)
    code, out = check(run_dir, capsys, monkeypatch)
    assert code == 0, out
    saved = json.loads((run_dir / "results.json").read_text())
    assert saved["history"]["ops"] == 8 and saved["history"]["records"] == 16
    assert len(saved["history"]["sha256"]) == 64 and "check_notes" not in saved


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (_drop_completion, "lines 15 (the run wrote 16)"),
        (_unknown_type, "sha256"),
        (_duplicate_id, "sha256"),
        (_torn_tail, "bytes"),
    ],
)
def test_a_history_changed_since_the_run_is_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    damage: Callable[[list[bytes]], list[bytes]],
    named: str,
) -> None:
    run_dir = make_run(tmp_path, damage)
    code, out = check(run_dir, capsys, monkeypatch)
    assert code == 2, out
    assert "history.jsonl: not the history the run wrote" in out and named in out
    assert "not judged" in out


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (_unknown_type, "history.jsonl: line 12: unknown record type 'OK'"),
        (_duplicate_id, "history.jsonl: line 13: op id 5 is invoked a second time"),
    ],
)
def test_a_history_written_malformed_is_refused_with_its_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    damage: Callable[[list[bytes]], list[bytes]],
    named: str,
) -> None:
    for when in ("before", "never"):
        run_dir = make_run(tmp_path / when, damage, when=when)
        code, out = check(run_dir, capsys, monkeypatch)
        assert code == 2, out
        assert named in out


def test_a_torn_tail_of_an_unverified_run_is_named_in_the_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = make_run(tmp_path, _torn_tail, when="never")
    code, out = check(run_dir, capsys, monkeypatch)
    torn = "history ends in a torn line (line 16, 20 bytes): the last op's record was cut"
    saved = json.loads((run_dir / "results.json").read_text())
    assert torn in saved["verdict_reason"] and torn in saved["check_notes"]
    assert any("integrity could not be verified" in n for n in saved["check_notes"])
    assert torn in out and torn in html.unescape((run_dir / "index.html").read_text())
    # the final read of 'after' lost its completion: that variant is unknown, never a pass
    assert code == 1 and saved["verdict"] == "fail"


def test_an_old_run_without_digest_is_checked_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = make_run(tmp_path, when="never")
    code, out = check(run_dir, capsys, monkeypatch)
    assert code == 0, out
    assert "integrity could not be verified" in out


def test_a_dropped_completion_without_digest_would_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why the digest is needed: the same dropped line, in a run that recorded none, is judged as an
    unknown outcome (the loader cannot tell) and passes, with only the note saying it was not verified."""
    run_dir = make_run(tmp_path, _drop_completion, when="never")
    code, out = check(run_dir, capsys, monkeypatch)
    assert code == 0 and "integrity could not be verified" in out
