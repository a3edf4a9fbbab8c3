"""``harness shrink <run-dir>``: the smallest part of a failing run's fault schedule that still
makes it fail, found by delta debugging (Zeller's ddmin) over the faults the run applied, with a
bounded number of re-runs, and written as a scenario file that replays it.

A re-run keeps the run's scenario, seed, duration and rate, plays only the variant that failed, and
replaces the schedule by the candidate faults as fixed steps (their original times, targets and
parameters), so only the set of faults changes between re-runs. "Still fails" means the same
invariant is again judged against expectation (invalid where it should be valid). Timing on real
servers varies, so a shrunk schedule is evidence, not proof: the file says how many re-runs it took.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import yaml

from harness.errors import HarnessError
from harness.faults.schedule import PlannedFault, ScheduleSpec, replay_spec
from harness.records import RunOptionsRecord, RunResults, load_record
from harness.scenario.runner import RunOptions, run_scenario_record
from harness.scenario.spec import ScenarioSpec, load_scenario

T = TypeVar("T")


class _OutOfRuns(Exception):
    pass


def ddmin(items: Sequence[T], fails: Callable[[list[T]], bool], max_tests: int) -> tuple[list[T], int]:
    """A 1-minimal failing subset of ``items`` (removing any one element makes it pass), or the
    smallest failing subset found within ``max_tests`` calls of ``fails``; returns it and how many
    calls were made. ``items`` itself is assumed to fail."""
    calls = 0

    def test(subset: list[T]) -> bool:
        nonlocal calls
        if calls >= max_tests:
            raise _OutOfRuns
        calls += 1
        return fails(subset)

    current, n = list(items), 2
    try:
        while len(current) >= 2:
            size = max(1, len(current) // n)
            chunks = [current[i : i + size] for i in range(0, len(current), size)]
            for chunk in chunks:
                if test(chunk):
                    current, n = chunk, 2
                    break
            else:
                for chunk in chunks:
                    rest = [x for x in current if x not in chunk]
                    if rest and test(rest):
                        current, n = rest, max(n - 1, 2)
                        break
                else:
                    if n >= len(current):
                        break
                    n = min(len(current), 2 * n)
    except _OutOfRuns:
        pass
    return current, calls


@dataclass
class Failure:
    variant: str
    checker: str


def _failure(results: RunResults) -> Failure | None:
    """The first invariant judged against expectation: invalid where valid was expected, or invalid
    with an anomaly kind the expectation does not name (``checker:kind`` in ``expect_invalid``)."""
    for inv in results.invariants:
        if inv.status == "invalid" and (inv.expected != "invalid" or inv.unexpected_kinds()):
            return Failure(str(inv.variant), str(inv.name))
    return None


def _planned(results: RunResults, variant: str) -> list[PlannedFault]:
    out = []
    for f in results.faults:
        if f.variant != variant or f.status == "not_run":
            continue
        if f.index is None or f.at_s is None or f.fault is None:
            raise HarnessError(f"results.json: fault {f.dump()} lacks its index, at_s or fault")
        out.append(
            PlannedFault(
                index=f.index,
                at_s=float(f.at_s),
                duration_s=None if f.duration_s is None else float(f.duration_s),
                fault=f.fault,
                target=f.target,
                params=dict(f.params),
                origin=f.origin or "step",
            )
        )
    return out


def shrink(run_dir: Path, *, max_runs: int = 8, log: Callable[[str], None] = print) -> Path:
    """Shrinks a failing run's schedule; returns the path of the scenario file that replays it."""
    run_dir = Path(run_dir)
    path = run_dir / "results.json"
    try:
        results = load_record(path, RunResults, "give a run directory (reports/<scenario>/<run-id>/)")
    except HarnessError as exc:
        raise HarnessError(f"{path}: cannot read it ({exc})") from exc
    failure = _failure(results)
    if failure is None:
        raise HarnessError(f"{run_dir}: no invariant failed against expectation; nothing to shrink")
    planned = _planned(results, failure.variant)
    if not planned:
        raise HarnessError(
            f"{run_dir}: {failure.variant}/{failure.checker} failed, but that variant applied no "
            "faults; nothing to shrink"
        )
    name = results.scenario_file or results.scenario
    if name is None:
        raise HarnessError(f"{path}: names no scenario to re-run")
    spec = load_scenario(name)
    variant = next((v for v in spec.variants if v.name == failure.variant), None)
    if variant is None:
        raise HarnessError(f"scenario {spec.name} has no variant '{failure.variant}' any more")
    options = results.options or RunOptionsRecord()
    seed = spec.seed if results.seed is None else results.seed
    base = spec.model_copy(update={"variants": [variant], "targets": [], "seed": seed})
    work = run_dir / "shrink"

    def fails(subset: list[PlannedFault]) -> bool:
        schedule = ScheduleSpec.model_validate(replay_spec(subset))
        candidate = base.model_copy(update={"schedule": schedule})
        log(f"re-run with {len(subset)} of {len(planned)} faults: {[p.fault for p in subset]}")
        _, res = run_scenario_record(
            candidate,
            RunOptions(
                reports_dir=work,
                seed=seed,
                duration_s=options.duration_s,
                rate=options.rate,
                hosts=options.hosts or "auto",
                log=lambda _m: None,
            ),
        )
        again = _failure(res)
        still = again is not None and (again.variant, again.checker) == (failure.variant, failure.checker)
        log("  still fails" if still else "  passes")
        return still

    smallest, runs = ddmin(planned, fails, max_runs)
    out = run_dir / "shrunk.yaml"
    out.write_text(_scenario_yaml(base, smallest, failure, runs, len(planned)))
    log(f"smallest failing schedule: {len(smallest)} of {len(planned)} faults after {runs} re-runs -> {out}")
    return out


def _scenario_yaml(
    spec: ScenarioSpec, faults: list[PlannedFault], failure: Failure, runs: int, total: int
) -> str:
    data = spec.model_dump(mode="json", exclude_none=True)
    data["name"] = f"{spec.name}-shrunk"
    data["schedule"] = replay_spec(faults)
    header = (
        f"# Shrunk from a run of {spec.name}: {failure.variant}/{failure.checker} still failed with "
        f"{len(faults)} of its {total} faults\n# after {runs} re-runs (timing varies on real servers: "
        f"evidence, not proof). Replay: harness scenario <this file>\n"
    )
    return header + yaml.safe_dump(data, sort_keys=False)
