"""Removing cgroups never breaks a teardown."""

from __future__ import annotations

from pathlib import Path

from harness.topology.cgroups import remove_group


def test_remove_group_removes_empty_and_tolerates_gone_or_busy(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "cgroup.procs").write_text("123\n")  # rmdir fails as it would on a cgroup in use
    assert remove_group(str(empty)) is True and not empty.exists()
    assert remove_group(str(empty)) is False
    assert remove_group(str(busy)) is False and busy.exists()
