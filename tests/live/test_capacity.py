"""Per-node CPU capacity: each node in its own capped cgroup, throttled when it needs more."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis import Redis

from harness.topology.cgroups import cpu_limits_supported
from harness.topology.local import run_id_now
from harness.topology.redis import no_retry
from harness.topology.spec import load_topology
from tests.conftest import needs_servers
from tests.live.backend import deploy
from tests.live.busy import busy_command
from tests.live.leftovers import assert_nothing_left

_ok, _reason = cpu_limits_supported()
pytestmark = [
    pytest.mark.live,
    needs_servers,
    pytest.mark.skipif(not _ok, reason=f"needs cgroup CPU limits: {_reason}"),
]
# 300 ms of wall time spinning: every one of the ~15 quota periods (20 ms) it spans exhausts a
# 0.1-core quota, on any CPU, yet far below the 5 s after which Redis answers BUSY to other clients.
BUSY_MS = 300


def throttled(group: Path) -> int:
    stat = dict(line.split() for line in (group / "cpu.stat").read_text().splitlines())
    return int(stat.get("nr_throttled", 0))


def test_nodes_run_capped_and_get_throttled(tmp_path: Path) -> None:
    run_id = run_id_now("test-")
    with deploy(load_topology("redis-replicated"), tmp_path / run_id, run_id, cpu_limit=0.1) as dep:
        assert dep.capacity == {"cpu_limit": 0.1, "applied": True, "reason": None}
        groups = [Path(g) for g in dep.res.cgroups]
        assert len(groups) == 2
        for node, group in zip(dep.redis, groups, strict=True):
            assert node.process is not None
            assert str(node.process.pid) in (group / "cgroup.procs").read_text().split()
        primary_group = groups[0]
        before = throttled(primary_group)
        # Direct (observer path) and without redis-py's default retries: a retried EVAL runs the
        # script twice and the second one meets the first as BUSY (seen once in CI).
        r1 = dep.redis[0]
        direct = Redis(host=r1.host.address, port=r1.port, socket_timeout=60, retry=no_retry())
        try:
            assert direct.execute_command(*busy_command(BUSY_MS)) >= BUSY_MS * 1000
        finally:
            direct.close()
        # ~15 periods each cut short by the quota; a cap that is not applied throttles none
        assert throttled(primary_group) >= before + 5
    assert not any(Path(g).exists() for g in dep.res.cgroups)
    assert_nothing_left(dep.res)
