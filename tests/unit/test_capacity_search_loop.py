"""The search's order of steps against a scripted server (no I/O): where it refines, what it
repeats, and where the knee lands."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from harness.bench.capacity.search import SearchPlan, gap_rates, judge, search

PLAN = SearchPlan(max_rate=40_000, step_seconds=4, slo_p99_ms=100, cpu_cap_cores=0.5, warmup_s=0)


@dataclass(frozen=True)
class Load:
    rate: float = 0.0
    seconds: float = 0.0
    step: int = 0


class Scripted:
    """Passes every rate up to ``ceiling``; ``flaky`` passes its first run and fails every repeat."""

    def __init__(self, ceiling: float, flaky: float | None = None) -> None:
        self.ceiling, self.flaky, self.runs = ceiling, flaky, Counter[float]()

    def warm(self, load: Load) -> None:
        raise AssertionError("warm-up is off in this plan")

    def measure(self, load: Load) -> dict[str, Any]:
        self.runs[load.rate] += 1
        ok = load.rate <= self.ceiling or (load.rate == self.flaky and self.runs[load.rate] == 1)
        cpu = min(0.49, load.rate / 48_000)
        return {"step": load.step, "offered": load.rate, "achieved": load.rate,
                "p99_ms": 20.0 if ok else 300.0, "server_cpu_cores": cpu, "load_starved": 0.0,
                "load_busy": 0.2}  # fmt: skip


def test_a_knee_that_fails_on_repeat_is_refined_again_below() -> None:
    # the run that fell to 20,000: 24,000 passed once, the fine steps went above it, then it
    # failed twice on repeat; 20,800-23,200 must be run before the knee is trusted
    server = Scripted(ceiling=23_200, flaky=24_000)
    steps, knee = search(server, Load(), PLAN, lambda _m: None)  # type: ignore[arg-type]
    assert (knee.status, knee.knee_rate, knee.confirmed) == ("found", 23_200, True)
    order = [s["offered"] for s in steps]
    assert order.index(20_800) > order.index(27_200)  # refined after the fall, not before
    assert server.runs[24_000] == 3 and server.runs[23_200] == 3 and server.runs[22_400] == 1


def test_a_steady_server_is_refined_once() -> None:
    server = Scripted(ceiling=22_400)
    steps, knee = search(server, Load(), PLAN, lambda _m: None)  # type: ignore[arg-type]
    assert (knee.knee_rate, knee.confirmed) == (22_400, True)
    # coarse until two failures in a row (24k, 28k), then the fine steps between 20k and 24k
    coarse = [4000.0 * i for i in range(1, 8)]
    assert [s["offered"] for s in steps][:11] == [*coarse, 20_800, 21_600, 22_400, 23_200]
    assert server.runs[22_400] == 3 and server.runs[23_200] == 3  # the failure above repeated too


def test_gap_rates_at_the_fine_spacing_and_never_more_than_refine_steps() -> None:
    server = Scripted(ceiling=20_000)
    steps = [server.measure(Load(r, 4, i)) for i, r in enumerate([16_000, 20_000, 24_000, 28_000])]
    assert gap_rates(judge(steps, PLAN), PLAN) == [20_800, 21_600, 22_400, 23_200]
    steps += [server.measure(Load(r, 4, 9)) for r in (20_800, 21_600, 22_400, 23_200)]
    assert gap_rates(judge(steps, PLAN), PLAN) == []  # adjacent: 20,000 and 20,800
    wide = [server.measure(Load(r, 4, i)) for i, r in enumerate([4_000, 36_000, 40_000])]
    assert len(gap_rates(judge(wide, PLAN), PLAN)) == PLAN.refine_steps  # bounded
