"""Everything one variant's workload is built from, in one value instead of long parameter lists."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.clients.redis_router import Address, SlotRouter
from harness.clock import RunClock, seeded_random
from harness.history.recorder import HistoryRecorder
from harness.scenario.spec import ScenarioSpec, VariantSpec
from harness.topology.deployment import Deployment
from harness.workload.engine.profile import RateProfile

Progress = Callable[[str, float, str], None]


@dataclass
class RunOptions:
    reports_dir: Path = Path("reports")
    seed: int | None = None
    hosts: str = "auto"
    backend: str = "local"  # local | docker
    duration_s: float | None = None
    rate: float | None = None
    keep_data: bool = False
    progress: Progress | None = None
    log: Callable[[str], None] = print
    scenario_file: str | None = None  # the name or path it was loaded from (for replays)


@dataclass(frozen=True)
class VariantContext:
    """One variant of one run: the deployment, the scenario and the variant, where ops are
    recorded and timed, the seed, and how long and how hard to offer load.

    ``seeds`` are fixed when the variant starts (the masters of that moment on a non-cluster
    topology), so every router of the variant starts from the same nodes even if a fault moves
    the roles later."""

    dep: Deployment
    spec: ScenarioSpec
    variant: VariantSpec
    recorder: HistoryRecorder
    clock: RunClock
    seed: int
    duration_s: float
    profile: RateProfile
    log: Callable[[str], None] = print
    seeds: list[Address] = field(default_factory=list)

    @classmethod
    def start(
        cls,
        dep: Deployment,
        spec: ScenarioSpec,
        variant: VariantSpec,
        recorder: HistoryRecorder,
        clock: RunClock,
        *,
        seed: int,
        duration_s: float,
        profile: RateProfile,
        log: Callable[[str], None] = print,
    ) -> VariantContext:
        seeds = dep.router_seeds()
        return cls(dep, spec, variant, recorder, clock, seed, duration_s, profile, log, seeds)

    @property
    def name(self) -> str:
        return self.variant.name

    @property
    def cluster(self) -> bool:
        return self.dep.redis_cluster()

    def random(self, stream: str) -> random.Random:
        """The variant's own seeded stream ``<stream>:<variant>``: the same seed replays it."""
        return seeded_random(self.seed, f"{stream}:{self.variant.name}")

    def router(self) -> SlotRouter:
        """A new data-path router from the variant's seeds (the caller closes it)."""
        return SlotRouter(self.seeds, cluster=self.cluster, now_ns=self.clock.now_ns)
