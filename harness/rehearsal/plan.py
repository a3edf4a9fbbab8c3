"""What a rehearsal runs: the platform workload on the operator's topology, as a one-variant
scenario (so the workload kinds, the nemesis and the checkers are the scenarios' own), settled and
validated before anything starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.rehearsal.script import RehearsalScript
from harness.scenario.planes import Runnable, runnable_topology
from harness.scenario.spec import ScenarioSpec
from harness.scenario.spec_sharded import topology_problems
from harness.topology.spec import load_topology

VARIANT = "rehearsal"
#: The platform-steady checkers; the ones whose plane is absent are reported not_run.
CHECKERS = (
    "rate-limit-holds",
    "counters-reconcile",
    "unique-user-estimates",
    "tenant-isolation",
    "read-your-writes",
    "monotonic-reads",
    "sessions",
    "acknowledged-writes-survive",
    "no-duplicates",
    "audit-trail-integrity",
)


@dataclass(frozen=True)
class RehearsalOptions:
    topology: str
    reports_dir: Path = Path("reports")
    rate: float = 300.0
    seed: int = 1
    for_scale: float = 1.0
    max_duration_s: float = 1800.0
    hosts: str = "auto"
    backend: str = "local"
    script: RehearsalScript | None = None
    script_file: str | None = None


def rehearsal_spec(opts: RehearsalOptions, duration_s: float) -> ScenarioSpec:
    """The platform workload at the rehearsal's rate for at most ``duration_s``."""
    spec = ScenarioSpec.model_validate(
        {
            "name": "rehearsal",
            "title": f"Incident rehearsal on {opts.topology}",
            "description": "the platform workload under faults typed by an operator",
            "topology": opts.topology,
            "seed": opts.seed,
            "workload": {
                "kind": "platform",
                "rate": opts.rate,
                "duration_s": duration_s,
                "tenants": 200,
                "zipf_s": 0.8,
                "limit": 100,
                "window_ms": 1000,
                "users_per_tenant": 50,
                "reads_per_s": max(10.0, opts.rate / 6),
                "sessions_per_s": max(5.0, opts.rate / 15),
                "sessions": 500,
                "session_ttl_s": 60,
                "cache_ttl_ms": 2000,
                "cache_origin": "redis",
            },
            "variants": [
                {
                    "name": VARIANT,
                    "description": "as the platform runs",
                    "cache": "mutex",
                    "ryw_mode": "master",
                }
            ],
            "checkers": list(CHECKERS),
            "checker_params": {"sessions": {"ttl_ms": 60000}},
        }
    )
    return spec


def settle(opts: RehearsalOptions) -> tuple[ScenarioSpec, Runnable, float]:
    """The rehearsal's scenario, what of its topology runs here, and its duration bound: raises
    a clear error for anything wrong before anything starts."""
    duration = opts.max_duration_s
    if opts.script is not None:
        duration = min(duration, opts.script.end_s)
    if duration <= 0:
        raise HarnessError(f"--max-duration {opts.max_duration_s:g}: must be above 0 s")
    topology = load_topology(opts.topology)
    if topology.redis is None:
        raise HarnessError(
            f"topology {opts.topology} has no Redis plane: the platform workload's ingestion runs on "
            "Redis; rehearse on redis-replicated, redis-cluster, platform-standalone, platform-rs or platform"
        )
    spec = rehearsal_spec(opts, duration)
    for where, problem in topology_problems(spec.workload.kind, spec.variants, topology):
        raise HarnessError(f"rehearsal on {opts.topology}: {where}: {problem}")
    return spec, runnable_topology(topology, opts.backend), duration
