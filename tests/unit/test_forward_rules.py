"""The FORWARD accept rule of a run's bridge: its spelling, and finding ours in ``iptables -S``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.topology import forward
from harness.topology.lifecycle import RunResources

LISTING = """\
-P FORWARD DROP
-A FORWARD -i hxbab12cd -o hxbab12cd -m comment --comment harness-run=test-20261207T004037-d9c7f3 -j ACCEPT
-A FORWARD -j DOCKER-USER
-A FORWARD -i br0 -o br0 -m comment --comment "someone else's rule" -j ACCEPT
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
"""


def test_the_rule_accepts_only_its_own_bridge_and_names_its_run() -> None:
    rule = forward.bridge_rule("hxbab12cd", "up-20261207T000000-abcdef")
    assert rule == [
        "-i", "hxbab12cd", "-o", "hxbab12cd",
        "-m", "comment", "--comment", "harness-run=up-20261207T000000-abcdef",
        "-j", "ACCEPT",
    ]  # fmt: skip


def test_parse_finds_only_ours_in_the_spelling_delete_takes() -> None:
    found = forward.parse_rules(LISTING)
    assert found == [
        ("test-20261207T004037-d9c7f3", forward.bridge_rule("hxbab12cd", "test-20261207T004037-d9c7f3"))
    ]
    assert forward.parse_rules("") == []
    assert forward.parse_rules("-A FORWARD -m comment --comment") == []


def test_resources_record_the_rules_and_old_records_still_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))  # save() registers the run there
    res = RunResources(run_id="r1", run_dir=str(tmp_path), owner_pid=None, owner_start=None)
    res.forward_rules.append(forward.bridge_rule("hxbx", "r1"))
    res.path.write_text(json.dumps({k: v for k, v in res.__dict__.items() if k != "forward_rules"}))
    assert RunResources.load(res.path).forward_rules == []  # a record written before this field
    res.save()
    assert RunResources.load(res.path).forward_rules == [forward.bridge_rule("hxbx", "r1")]
