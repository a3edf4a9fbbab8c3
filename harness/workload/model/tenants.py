"""Seeded tenant traffic: a Zipf-skewed share over regular tenants plus one configurable whale."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass


def tenant_name(i: int) -> str:
    """The ``i``-th regular tenant (from 1): ``t00001``... MongoDB presplits collections on these
    names (harness.topology.mongo_presplit), so this is the one place that spells them."""
    return f"t{i:05d}"


@dataclass(frozen=True)
class TenantMix:
    tenants: int
    zipf_s: float
    whale: str | None
    whale_share: float

    def names(self) -> list[str]:
        regular = [tenant_name(i) for i in range(1, self.tenants + 1)]
        return [self.whale, *regular] if self.whale else regular

    def cum_weights(self) -> list[float]:
        """Cumulative weights in ``names()`` order: the whale takes ``whale_share`` of events, the
        rest follows Zipf(s) by tenant rank."""
        zipf = [1.0 / (rank**self.zipf_s) for rank in range(1, self.tenants + 1)]
        total = sum(zipf)
        rest = 1.0 - (self.whale_share if self.whale else 0.0)
        weights = [w / total * rest for w in zipf]
        if self.whale:
            weights = [self.whale_share, *weights]
        return list(itertools.accumulate(weights))


class TenantPicker:
    """Draws tenants in bulk from one seeded stream (``random.choices`` with cumulative weights)."""

    def __init__(self, mix: TenantMix, rng: random.Random) -> None:
        self.names = mix.names()
        self.cum = mix.cum_weights()
        self.rng = rng
        # tenant -> share of all events while its surge lasts (the hot-tenant fault)
        self.surges: dict[str, float] = {}

    def draw(self, n: int) -> list[str]:
        base = self.rng.choices(self.names, cum_weights=self.cum, k=n)
        surges = list(self.surges.items())  # a copy: the nemesis thread may change them meanwhile
        if not surges:
            return base
        out = []
        for t in base:
            r = self.rng.random()
            for tenant, share in surges:
                if r < share:
                    t = tenant
                    break
                r -= share
            out.append(t)
        return out

    def surge(self, tenant: str, share: float) -> dict[str, float]:
        self.surges[tenant] = share
        return {"surging_share": sum(self.surges.values())}

    def end_surge(self, tenant: str) -> dict[str, float]:
        self.surges.pop(tenant, None)
        return {"surging_share": sum(self.surges.values())}
