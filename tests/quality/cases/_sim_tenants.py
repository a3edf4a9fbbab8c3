"""The simulated platform's tenant-tagged reads (:mod:`harness.bench.sim.tenants`) driven by hypothesis
steps: a correct multi-tenant store, every read returning only its own tenant's items."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from harness.bench.sim.tenants import TenantReads
from tests.quality.cases._sim import MS, History

TENANTS = ["t0", "t1", "t2", "t3"]
OUTCOMES = ["ok", "ok", "ok", "fail", "info", None]
READS = ["query_events", "timeline_read", "audit_read"]

# tenant, write?, outcome, read path, items asked, latency ms
Step = tuple[int, bool, str | None, int, int, int]
steps_st = st.lists(
    st.tuples(
        st.integers(0, len(TENANTS) - 1),
        st.booleans(),
        st.sampled_from(OUTCOMES),
        st.integers(0, len(READS) - 1),
        st.integers(0, 6),
        st.integers(1, 5),
    ),
    max_size=50,
)
#: Every history has one read that returns items, so there is something to judge.
PRELUDE: list[Step] = [(0, True, "ok", 0, 0, 1), (0, False, "ok", 0, 3, 1)]


def simulate(steps: list[Step]) -> list[dict[str, Any]]:
    h = History()
    store = TenantReads(h)
    t = 0
    for n, (ti, is_write, outcome, path, asked, latency) in enumerate(PRELUDE + steps):
        tenant = TENANTS[ti]
        t += MS
        if is_write:
            store.ingest(f"w{n % 3}", t, t + latency * MS, tenant, f"{tenant}:e{n}", outcome)
        else:
            store.read(f"r{n % 3}", READS[path], t, t + latency * MS, tenant, asked, outcome)
    return h.file_order()
