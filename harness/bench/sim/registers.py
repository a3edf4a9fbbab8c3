"""Linearizable registers (locks, leaders): read, write and compare-and-set on one key, each op
taking effect at one instant inside its interval. A driver plans the ops' intervals and effect
points, applies them to :class:`Register` in effect order and records them.
:class:`RegisterTraffic` is the benchmark's driver: short-lived registers, each used by a few
concurrent processes, under the linearizability checker's ``max_ops``."""

from __future__ import annotations

from typing import Any

from harness.bench.sim.core import MS, draw_outcome, takes_effect
from harness.bench.sim.platform import MAX_REGISTER_OPS, RATES, Sim


class Register:
    """One key's value (None until written)."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.state: Any = None

    def apply(
        self, kind: str, outcome: str | None, applied: bool, value: Any = None, expected: Any = None
    ) -> tuple[str, str | None, dict[str, Any], dict[str, Any] | None]:
        """Op ``kind`` (``read`` | ``write`` | ``cas``) at its effect point: (f, outcome, invoke
        fields, ok result). A CAS whose expected value is not there fails, certainly without effect."""
        effect = takes_effect(outcome, applied)
        if kind == "read":
            return "reg_read", outcome, {"key": self.key}, {"value": self.state}
        if kind == "write":
            if effect:
                self.state = value
            return "reg_write", outcome, {"key": self.key, "value": value}, None
        swapped = self.state == expected
        if outcome == "ok" and not swapped:
            outcome = "fail"
        elif effect and swapped:
            self.state = value
        return "reg_cas", outcome, {"key": self.key, "value": [expected, value]}, None


class RegisterTraffic:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.rng = sim.rng("registers")
        self.n = 0
        sim.clock.poisson(RATES["register_burst"], self.rng, self.burst)

    def _plan(self, t: int, processes: int) -> list[tuple[int, int, int, int, int]]:
        """(effect, n, process, call, return) of each op, each process one op at a time."""
        rng = self.rng
        free_at = [t] * processes
        planned = []
        for n in range(rng.randrange(20, MAX_REGISTER_OPS + 1)):
            p = rng.randrange(processes)
            call = free_at[p] + rng.randrange(0, 5 * MS)
            ret = call + rng.randrange(MS // 5, 5 * MS)
            free_at[p] = ret + 1000
            planned.append((rng.randrange(call, ret + 1), n, p, call, ret))
        return sorted(planned)

    def burst(self, t: int) -> None:
        rng = self.rng
        self.n += 1
        reg = Register(f"lock:{self.sim.tenant()}:job-{self.n}")
        processes = rng.randrange(2, 6)
        known: list[Any] = [None] * processes  # the value each process last saw or wrote
        for _effect, n, p, call, ret in self._plan(t, processes):
            r = rng.random()
            out = draw_outcome(rng, 0.97, 0.02)
            applied = self.sim.coin(rng, out)
            value = f"{p}:{self.n}:{n}"
            kind = "read" if r < 0.5 else "write" if r < 0.8 else "cas"
            f, got, fields, result = reg.apply(kind, out, applied, value, known[p])
            if got == "ok":
                known[p] = result["value"] if result is not None else value
            elif kind == "write":
                known[p] = value
            self.sim.w.call(f"lock-{p}", f, call, got, ret, fields, result)
