"""A run's /24: free of every address on this machine, and not simply the first free one, so a
client left over from a dead run does not find the next run's server at its old address."""

from __future__ import annotations

import ipaddress
import subprocess
from typing import Any

import pytest

from harness.errors import HarnessError
from harness.topology import network
from harness.topology.network import pick_subnet

BASE = ipaddress.IPv4Network("10.213.0.0/22")  # four /24s keep the cases readable


def _machine(monkeypatch: pytest.MonkeyPatch, *addresses: str) -> None:
    lines = "".join(f"9: br{i}    inet {a} brd 0.0.0.0 scope global br{i}\n" for i, a in enumerate(addresses))

    def fake_run(cmd: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        assert cmd[:3] == ["ip", "-4", "-o"]
        return subprocess.CompletedProcess(cmd, 0, "1: lo    inet 127.0.0.1/8 scope host lo\n" + lines, "")

    monkeypatch.setattr(network.subprocess, "run", fake_run)


def test_runs_with_different_tags_start_on_different_subnets(monkeypatch: pytest.MonkeyPatch) -> None:
    _machine(monkeypatch)
    picks = {pick_subnet(BASE, tag) for tag in ("a1b2c3", "d4e5f6", "0f0f0f", "123456", "abcdef")}
    assert len(picks) > 1  # not always the first free one
    assert pick_subnet(BASE, "a1b2c3") == pick_subnet(BASE, "a1b2c3")  # a tag always starts alike


def test_a_taken_subnet_is_skipped_and_the_search_wraps_around(monkeypatch: pytest.MonkeyPatch) -> None:
    subnets = list(BASE.subnets(new_prefix=24))
    _machine(monkeypatch)
    first = pick_subnet(BASE, "a1b2c3")
    start = subnets.index(first)
    taken = [subnets[(start + i) % 4] for i in range(3)]  # its start and the two after it
    _machine(monkeypatch, *(f"{s.network_address + 1}/24" for s in taken))
    assert pick_subnet(BASE, "a1b2c3") == subnets[(start + 3) % 4]


def test_no_free_subnet_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    _machine(monkeypatch, "10.213.0.1/22")
    with pytest.raises(HarnessError, match=r"no free /24 left in 10\.213\.0\.0/22.*harness clean"):
        pick_subnet(BASE, "a1b2c3")
