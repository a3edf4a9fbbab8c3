"""Per-node CPU capacity with cgroup CPU quotas (v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``).

A node's capacity is what makes a hot partition hurt: the case study's partitions are throttled at
a fixed throughput, and a Redis master is one thread on a finite share of a machine. Capping each
node at, say, 0.15 of a core gives every node the same finite capacity, so the one serving a whale
saturates first, as in production, while the load generator keeps the rest of the machine.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from harness.errors import UnsupportedError

PREFIX = "harness-"
PERIOD_US = 20_000  # a short period spreads the quota out, so a capped node stalls in small steps
V2_ROOT = Path("/sys/fs/cgroup")
V1_ROOT = Path("/sys/fs/cgroup/cpu")


def _root() -> tuple[Path, int] | None:
    controllers = V2_ROOT / "cgroup.controllers"
    if controllers.exists() and "cpu" in controllers.read_text().split():
        return V2_ROOT, 2
    if (V1_ROOT / "cpu.cfs_quota_us").exists():
        return V1_ROOT, 1
    return None


def cpu_limits_supported() -> tuple[bool, str]:
    found = _root()
    if found is None:
        return False, "no cgroup CPU controller is mounted"
    if not os.access(found[0], os.W_OK):
        return False, f"{found[0]} is not writable (needs root)"
    return True, ""


def group_path(name: str) -> str:
    """The path :func:`limit_cpu` gives the cgroup ``name`` (record it before creating it)."""
    found = _root()
    if found is None:
        raise UnsupportedError(f"CPU limits: {cpu_limits_supported()[1]}")
    return str(found[0] / f"{PREFIX}{name}")


def limit_cpu(name: str, pid: int, cores: float) -> str:
    """Puts ``pid`` in a new cgroup ``harness-<name>`` capped at ``cores``; returns the cgroup path."""
    ok, reason = cpu_limits_supported()
    found = _root()
    if not ok or found is None:
        raise UnsupportedError(f"CPU limits: {reason}")
    root, version = found
    group = root / f"{PREFIX}{name}"
    group.mkdir(exist_ok=True)
    quota = max(1000, int(cores * PERIOD_US))
    if version == 2:
        (group / "cpu.max").write_text(f"{quota} {PERIOD_US}\n")
    else:
        (group / "cpu.cfs_period_us").write_text(f"{PERIOD_US}\n")
        (group / "cpu.cfs_quota_us").write_text(f"{quota}\n")
    (group / "cgroup.procs").write_text(f"{pid}\n")
    return str(group)


def remove_group(path: str) -> bool:
    """Removes an empty cgroup; False when it was already gone or is still in use (a process of
    another run lives in it): teardown must never fail on it, and the next reap tries again."""
    with contextlib.suppress(OSError):
        Path(path).rmdir()
        return True
    return False


def our_groups() -> list[str]:
    found = _root()
    if found is None:
        return []
    return [str(p) for p in found[0].glob(f"{PREFIX}*") if p.is_dir()]


def join_group(path: str, pid: int) -> bool:
    """Moves ``pid`` into an existing cgroup (a restarted server keeps its node's CPU cap); False
    when the group is gone or cannot be written."""
    try:
        (Path(path) / "cgroup.procs").write_text(f"{pid}\n")
    except OSError:
        return False
    return True


def throttled_s(path: str) -> float:
    """Seconds the group's processes were held back by its quota (``cpu.stat``: v2 ``throttled_usec``,
    v1 ``throttled_time`` in ns); 0.0 when it cannot be read. A capped process's run-queue wait
    counts these too: they are its cap, not the machine's other processes."""
    try:
        stat = dict(line.split() for line in (Path(path) / "cpu.stat").read_text().splitlines() if line)
    except (OSError, ValueError):
        return 0.0
    if "throttled_usec" in stat:
        return int(stat["throttled_usec"]) / 1e6
    return int(stat.get("throttled_time", 0)) / 1e9
