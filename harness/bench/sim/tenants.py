"""Tenant-tagged reads: dashboard queries and timeline reads return a tenant's latest events, newest
first, every item tagged with the tenant stored in it (a correct store returns only the asker's).
:class:`QueryTraffic` is the benchmark's driver, over the events the ingestion path stored."""

from __future__ import annotations

from harness.bench.sim.core import MS, Sink, draw_outcome
from harness.bench.sim.platform import RATES, Sim


class TenantReads:
    """Reads of ``stored`` (tenant -> event ids, oldest first), shared with whatever writes them."""

    def __init__(self, sink: Sink, stored: dict[str, list[str]] | None = None) -> None:
        self.sink = sink
        self.stored: dict[str, list[str]] = {} if stored is None else stored

    def ingest(
        self, process: str, t: int, done: int, tenant: str, event_id: str, outcome: str | None
    ) -> None:
        """A plain event write; one of unknown outcome may have landed, so it is stored."""
        if outcome != "fail":
            self.stored.setdefault(tenant, []).append(event_id)
        self.sink.call(process, "ingest", t, outcome, done, {"tenant": tenant, "event_id": event_id})

    def read(
        self, process: str, f: str, t: int, done: int, tenant: str, count: int, outcome: str | None
    ) -> None:
        """Read ``f`` of the tenant's ``count`` latest events."""
        items = self.stored.get(tenant, [])[-count:][::-1] if count else []
        result = {"tenants": [tenant] * len(items), "ids": items}
        self.sink.call(process, f, t, outcome, done, {"tenant": tenant}, result)


class QueryTraffic:
    """Dashboard queries (MongoDB ``find``, 70%) and timeline reads (Redis) of 1-20 latest events."""

    def __init__(self, sim: Sim, stored: dict[str, list[str]]) -> None:
        self.sim = sim
        self.rng = sim.rng("queries")
        self.model = TenantReads(sim.w, stored)
        sim.clock.poisson(RATES["query"], self.rng, self.query)

    def query(self, t: int) -> None:
        rng, tenant = self.rng, self.sim.tenant()
        f = "query_events" if rng.random() < 0.7 else "timeline_read"
        count = rng.randrange(1, 21)
        out = draw_outcome(rng, 0.995, 0.003)
        lat = rng.randrange(MS, 15 * MS)
        self.model.read(f"api-{rng.randrange(8)}", f, t, t + lat, tenant, count, out)
