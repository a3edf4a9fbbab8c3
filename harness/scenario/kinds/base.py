"""What a workload kind is: how it is built from a variant, what it runs and reads back, what it
says of itself, which ops stand for its events, and which planes its checkers need.

Jepsen's test bundle (``{:client :generator :checker}``) is the model: the runner knows only this
protocol and the lifecycle around it (bring-up, variants, faults, teardown, judging)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from harness.faults.base import WorkloadControl
from harness.metrics.hdr import LatencyHistograms
from harness.scenario.context import VariantContext
from harness.scenario.spec import VariantSpec
from harness.workload.engine.openloop import DriverStats, Progress


class Workload(Protocol):
    """One variant's running workload. ``close`` releases everything it opened, whatever happened;
    the runner always calls it."""

    def live_latency(self, origin_ns: int) -> LatencyHistograms | None:
        """Latencies kept while running, for the progress line (None: this kind keeps none)."""
        ...

    def control(self) -> WorkloadControl | None:
        """What the nemesis may steer (a hot-tenant surge), or None."""
        ...

    def run(self, progress: Progress) -> DriverStats: ...

    def stop_background(self) -> None:
        """Stops what runs beside the load (a cache refresher) the moment the load ends."""
        ...

    def final_reads(self) -> int:
        """After healing: reads back what the checkers judge; returns how many could not be read."""
        ...

    def summary(self, start_s: float) -> dict[str, Any]:
        """The kind's own figures for metrics.json (``workload``); empty when it has none."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class WorkloadKind:
    """A registered kind of workload (``workload.kind`` in a scenario file)."""

    name: str
    build: Callable[[VariantContext], Workload]
    #: the ops that stand for one offered event in throughput (a retry is not a new one)
    counted_ops: frozenset[str]
    #: the ops an event's latency runs over, schedule to last completion
    latency_ops: frozenset[str]
    #: per checker, the plane (and server features) its evidence needs for this variant
    checker_planes: Callable[[VariantSpec], Mapping[str, str]]


def run_beside(
    run: Callable[[], DriverStats], loops: Sequence[Callable[[threading.Event], None]]
) -> DriverStats:
    """Runs the load with ``loops`` on threads of their own beside it, each given the event that
    stops it once the load ends (whatever happened), then joined (bounded)."""
    stop = threading.Event()
    side = [threading.Thread(target=loop, args=(stop,), daemon=True) for loop in loops]
    for t in side:
        t.start()
    try:
        return run()
    finally:
        stop.set()
        for t in side:
            t.join(timeout=30)
