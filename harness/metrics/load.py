"""Per-master load from the servers' own ``INFO commandstats`` counters."""

from __future__ import annotations

from typing import Any

# The observer's own traffic and admin commands are not load the workload put on a node.
ADMIN_COMMANDS = frozenset(
    {
        "info",
        "cluster",
        "ping",
        "config",
        "client",
        "command",
        "hello",
        "readonly",
        "readwrite",
        "select",
        "auth",
        "slowlog",
        "latency",
        "memory",
        "debug",
        "script",
        "flushall",
        "flushdb",
        "dbsize",
        "role",
        "wait",
        "replconf",
        "psync",
        "sync",
        "monitor",
    }
)


def data_calls(commandstats: dict[str, Any]) -> int:
    """Calls of data commands in an ``INFO commandstats`` reply (``cmdstat_<name>`` → ``calls``).

    Commands run inside a Lua script are counted by the server as well as the EVALSHA itself, so
    a limiter check weighs what it really costs the node."""
    total = 0
    for name, stats in commandstats.items():
        cmd = name.removeprefix("cmdstat_").split("|")[0]
        if cmd not in ADMIN_COMMANDS:
            total += int(stats["calls"])
    return total


def per_master_load(
    start: dict[str, int],
    end: dict[str, int],
    masters: list[str],
    seconds: float,
    cpu_start: dict[str, float] | None = None,
    cpu_end: dict[str, float] | None = None,
) -> list[dict[str, Any]]:
    """Ops each master served between two snapshots of data calls, with its share of the total,
    and the CPU it used meanwhile in cores (when CPU snapshots are given)."""
    ops = {m: max(0, end.get(m, 0) - start.get(m, 0)) for m in masters}
    total = sum(ops.values())
    rows = []
    for m in masters:
        row: dict[str, Any] = {
            "node": m,
            "ops": ops[m],
            "ops_per_s": ops[m] / seconds if seconds > 0 else 0.0,
            "share": ops[m] / total if total else 0.0,
        }
        if cpu_start is not None and cpu_end is not None and m in cpu_start and m in cpu_end:
            row["cpu_cores"] = (cpu_end[m] - cpu_start[m]) / seconds if seconds > 0 else 0.0
        rows.append(row)
    return rows


def imbalance_ratio(shares: list[float]) -> float | None:
    """Busiest master's share divided by the mean share (1.0 is perfectly even)."""
    if not shares or sum(shares) == 0:
        return None
    return max(shares) / (sum(shares) / len(shares))
