"""The checker benchmark's platform: its rates, its periods scaled to the run, and the context every
part's seeded traffic shares (the writer, the clock, the tenant population).

Retention periods and TTLs are scaled to the run's length (a minute of simulated time), as a chaos
scenario scales them; :data:`CHECKER_PARAMS` passes the same numbers to the checkers.
"""

from __future__ import annotations

import random
from typing import Any

from harness.bench.sim.core import Clock, Writer
from harness.clock import seeded_random
from harness.workload.model.tenants import TenantMix, TenantPicker

RATE = 5000  # ingestion events per second of simulated time
LIMIT, WHALE_LIMIT, WINDOW_MS = 40, 1500, 1000  # the busiest tenants hit their limits

#: Ops per simulated second besides ingestion (about 14,000 ingestion ops/s at RATE): a third of the
#: traffic, spread as a dashboard-heavy tenant population would spread it.
RATES = {
    "query": 1100.0,
    "audit": 400.0,
    "doc_insert": 450.0,
    "doc_read": 450.0,
    "ttl_write": 450.0,
    "key_read": 300.0,
    "login": 120.0,  # each session makes about ten ops
    "pfadd": 500.0,
    "pfcount": 200.0,
    "register_burst": 4.5,  # each about 90 ops
}
PROFILE_CLIENTS = 420  # device sessions live at once, about 4.7 ops/s each

# Retention scaled to the run (the topologies run the TTL monitor every 5 s for the same reason).
RETENTION_MS = {"standard": 15_000.0, "audit": 40_000.0, "aggregates": 25_000.0}
TTL_MONITOR_MS = 5_000
TTL_PASS_LATE_MS = 2_000  # a monitor pass under load starts up to this late
TTL_LAG_MS = 10_000.0  # what the checker allows: a period plus a late pass, with room
KEY_TTL_MS = 5_000
SESSION_TTL_MS = 10_000.0
MAX_REGISTER_OPS = 150  # below the linearizability checker's max_ops (200)
PAGE = 1000  # keys per final existence read
AUDIT_PAGE = 200  # records per final audit page

#: Checker parameters matching the scaled periods above (by checker name).
CHECKER_PARAMS: dict[str, dict[str, Any]] = {
    "retention": {"retention_ms": RETENTION_MS, "ttl_lag_ms": TTL_LAG_MS},
    "sessions": {"ttl_ms": SESSION_TTL_MS},
    "audit-trail-integrity": {"retention_ms": RETENTION_MS["audit"]},
}


class Sim:
    """Shared by the traffic families: the writer, the clock and the tenant population."""

    def __init__(self, w: Writer, clock: Clock, seed: int) -> None:
        self.w = w
        self.clock = clock
        self.seed = seed
        self.picker = TenantPicker(TenantMix(10_000, 0.8, "whale", 0.4), seeded_random(seed, "bench-users"))

    def rng(self, family: str) -> random.Random:
        return seeded_random(self.seed, f"bench-{family}")

    def tenant(self) -> str:
        return self.picker.draw(1)[0]

    @staticmethod
    def users(tenant: str) -> int:
        """How many users a tenant has (the whale has most)."""
        return 20_000 if tenant == "whale" else 300

    def coin(self, rng: random.Random, outcome: str) -> bool:
        """Whether an ``info`` op took effect (a fair coin, drawn for ``info`` only)."""
        return outcome == "info" and rng.random() < 0.5
