"""Assertions that a run left nothing behind."""

from __future__ import annotations

from harness.topology.lifecycle import RunResources, list_links, list_netns, pid_alive


def assert_nothing_left(res: RunResources) -> None:
    alive = [p.name for p in res.processes if pid_alive(p.pid, p.start_time)]
    assert not alive, f"processes still running: {alive}"
    assert not set(res.netns) & set(list_netns()), "network namespaces left behind"
    assert not set(res.links) & set(list_links()), "links left behind"
