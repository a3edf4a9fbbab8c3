"""Per-node CPU capacity: each node in its own capped cgroup, throttled when it needs more (a cgroup
of ours on the local backend, the container's own on the docker backend)."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis import Redis

from harness.topology.cgroups import V1_ROOT, V2_ROOT, cpu_limits_supported
from harness.topology.local import run_id_now
from harness.topology.redis import no_retry
from harness.topology.spec import load_topology
from tests.conftest import needs_servers
from tests.live import backend
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


def cpu_group(pid: int) -> Path:
    """The cgroup whose CPU quota ``pid`` runs under, read from the kernel, not from our records."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "" and (V2_ROOT / "cgroup.controllers").exists():
            return V2_ROOT / path.lstrip("/")
        if "cpu" in controllers.split(","):
            return V1_ROOT / path.lstrip("/")
    raise AssertionError(f"pid {pid} is in no CPU cgroup")


def throttled(group: Path) -> int:
    stat = dict(line.split() for line in (group / "cpu.stat").read_text().splitlines())
    return int(stat.get("nr_throttled", 0))


def test_nodes_run_capped_and_get_throttled(tmp_path: Path) -> None:
    run_id = run_id_now("test-")
    with deploy(load_topology("redis-replicated"), tmp_path / run_id, run_id, cpu_limit=0.1) as dep:
        how = "docker update --cpu-quota" if backend.chosen == "docker" else "cgroup CPU quota"
        assert dep.capacity == {"cpu_limit": 0.1, "applied": True, "reason": None, "how": how}
        assert all(n.process is not None for n in dep.redis)
        groups = [cpu_group(n.process.pid) for n in dep.redis if n.process is not None]
        assert len(set(groups)) == 2  # a group each, not one shared
        if backend.chosen == "local":
            assert groups == [Path(g) for g in dep.res.cgroups]
        for group in groups:  # 0.1 core in 20 ms periods: a 2 ms quota
            if (group / "cpu.max").exists():
                assert (group / "cpu.max").read_text().split() == ["2000", "20000"]
            else:
                quota = (group / "cpu.cfs_quota_us").read_text().strip()
                assert (quota, (group / "cpu.cfs_period_us").read_text().strip()) == ("2000", "20000")
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
