"""Bring-up times of the MongoDB topologies for ``make bench`` (targets: mongo-rs healthy in
≤ 30 s, mongo-sharded in ≤ 90 s on 2 cores). Without mongod/mongos on this machine the figures are
reported as not measured, with the reason, never estimated."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from harness.doctor import find_binary
from harness.topology.local import default_timeout_s, deploy, run_id_now
from harness.topology.spec import load_topology

TARGETS_S = {"mongo-rs": 30.0, "mongo-sharded": 90.0}


def measure(work: Path, repeat: int) -> dict[str, Any]:
    missing = [b for b in ("mongod", "mongos") if find_binary(b) is None]
    if missing:
        reason = f"no {' or '.join(missing)} on this machine (PATH or $MONGODB_BIN_DIR)"
        return {
            name: {"status": "not measured", "reason": reason, "target_up_s": t}
            for name, t in TARGETS_S.items()
        }
    out: dict[str, Any] = {}
    for name, target in TARGETS_S.items():
        topology = load_topology(name)
        ups, downs = [], []
        hosts = "?"
        for i in range(repeat):
            run_id = run_id_now("bench-")
            with deploy(
                topology, work / run_id, run_id, timeout_s=max(default_timeout_s(topology), 2 * target)
            ) as dep:
                ups.append(round(dep.up_seconds, 2))
                hosts = dep.network.kind
                t0 = time.monotonic()
            downs.append(round(time.monotonic() - t0, 2))
            print(f"{name} up/down {i + 1}/{repeat}: {ups[-1]} s / {downs[-1]} s", flush=True)
        out[name] = {
            "status": "measured",
            "hosts": hosts,
            "versions": dep.versions,
            "up_s": ups,
            "down_s": downs,
            "target_up_s": target,
            "pass": max(ups) <= target,
        }
    return out
