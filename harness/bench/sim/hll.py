"""Unique users: ``PFADD`` of the users active per tenant and hour, ``PFCOUNT`` estimates of the
exact distinct count (a correct HyperLogLog errs by a few standard errors at most).
:class:`UniqueUserTraffic` is the benchmark's driver: a seeded error of at most one standard error
(0.81%), well inside the checked 3σ."""

from __future__ import annotations

from harness.bench.sim.core import MS, Sink, draw_outcome, takes_effect, wall
from harness.bench.sim.platform import RATES, Sim
from harness.checkers.unique_users import STANDARD_ERROR


class UniqueUsers:
    """The exact set of users added to each key."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.sets: dict[str, set[str]] = {}

    def exact(self, key: str) -> int:
        return len(self.sets.get(key, ()))

    def pfadd(
        self, process: str, t: int, done: int, key: str, users: list[str], outcome: str | None, applied: bool
    ) -> None:
        if takes_effect(outcome, applied):
            self.sets.setdefault(key, set()).update(users)
        fields = {"key": key, "tenant": key.split(":")[1], "value": users}
        self.sink.call(process, "pfadd", t, outcome, done, fields, {"value": 1})

    def pfcount(self, process: str, t: int, done: int, key: str, estimate: int, outcome: str | None) -> None:
        """A count that returned ``estimate`` (of :meth:`exact`, by the driver's error)."""
        fields = {"key": key, "tenant": key.split(":")[1]}
        self.sink.call(process, "pfcount", t, outcome, done, fields, {"value": estimate})


class UniqueUserTraffic:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.rng = sim.rng("hll")
        self.model = UniqueUsers(sim.w)
        sim.clock.poisson(RATES["pfadd"], self.rng, self.pfadd)
        sim.clock.poisson(RATES["pfcount"], self.rng, self.pfcount)

    @staticmethod
    def _key(tenant: str, t: int) -> str:
        return f"unique:{tenant}:users:{int(wall(t)) // 3_600_000}"

    def pfadd(self, t: int) -> None:
        rng = self.rng
        tenant = self.sim.tenant()
        users = [f"u{rng.randrange(self.sim.users(tenant))}" for _ in range(rng.randrange(1, 16))]
        out = draw_outcome(rng, 0.99, 0.005)
        applied = self.sim.coin(rng, out)
        lat = rng.randrange(MS // 5, 2 * MS)
        self.model.pfadd(f"ingest-{rng.randrange(4)}", t, t + lat, self._key(tenant, t), users, out, applied)

    def pfcount(self, t: int) -> None:
        rng = self.rng
        key = self._key(self.sim.tenant(), t)
        estimate = max(0, round(self.model.exact(key) * (1 + rng.uniform(-1, 1) * STANDARD_ERROR)))
        out = draw_outcome(rng, 0.995, 0.003)
        lat = rng.randrange(MS // 5, 2 * MS)
        self.model.pfcount(f"api-{rng.randrange(8)}", t, t + lat, key, estimate, out)
