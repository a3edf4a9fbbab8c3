"""A correct multi-tenant store: every read returns only its own tenant's items."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

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
    stored: dict[str, list[str]] = {t: [] for t in TENANTS}
    t = 0
    for n, (ti, is_write, outcome, path, asked, latency) in enumerate(PRELUDE + steps):
        tenant = TENANTS[ti]
        t += MS
        if is_write:
            event_id = f"{tenant}:e{n}"
            if outcome in ("ok", "info", None):  # unknown writes may have landed: store them
                stored[tenant].append(event_id)
            fields = {"tenant": tenant, "event_id": event_id}
            h.op(f"w{n % 3}", "ingest", t, outcome, t + latency * MS, fields)
            continue
        items = stored[tenant][-asked:] if asked else []
        result = {"tenants": [tenant] * len(items), "ids": items} if outcome == "ok" else None
        h.op(f"r{n % 3}", READS[path], t, outcome, t + latency * MS, {"tenant": tenant}, result)
    return h.file_order()
