"""Assertions that a run left nothing behind."""

from __future__ import annotations

from harness.topology import forward
from harness.topology.lifecycle import RunResources, list_links, list_netns, pid_alive


def assert_nothing_left(res: RunResources) -> None:
    alive = [p.name for p in res.processes if pid_alive(p.pid, p.start_time)]
    assert not alive, f"processes still running: {alive}"
    assert not set(res.netns) & set(list_netns()), "network namespaces left behind"
    assert not set(res.links) & set(list_links()), "links left behind"
    rules = [rule for run_id, rule in forward.our_rules() if run_id == res.run_id]
    assert not rules, f"iptables {forward.CHAIN} rules left behind: {rules}"
    if res.docker:  # the docker backend's: nothing labelled with the run id, whatever it recorded
        from harness.topology.docker_cli import labelled

        left = [
            f"{i.kind} {i.name}"
            for kind in ("container", "network", "volume")
            for i in labelled(kind, res.run_id)
        ]
        assert not left, f"docker objects left behind: {left}"


def assert_nothing_left_after_faults(res: RunResources) -> None:
    """``assert_nothing_left``, plus what faults could leave: a server started again after the run's
    records were written (found by its run label), or a process left stopped by a pause."""
    from harness.topology.lifecycle import is_stopped, labelled_pids

    assert_nothing_left(res)
    labelled = labelled_pids(res.run_id)
    assert not labelled, f"processes labelled {res.run_id} still running: {labelled}"
    stopped = [p.pid for p in res.processes if is_stopped(p.pid)]
    assert not stopped, f"stopped processes left: {stopped}"
