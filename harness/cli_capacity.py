"""``harness capacity``: the stepped open-loop knee search of one plane, its per-event figures and
the sizing extrapolation, written to ``reports/capacity/<run-id>/`` (:mod:`harness.bench.capacity`)."""

from __future__ import annotations

import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from harness.bench.capacity.mongo_plane import DEFAULT_MAX_RATE
from harness.bench.capacity.redis_plane import PREFILL_KEYS, RedisCapacity
from harness.bench.capacity.run import run as run_capacity
from harness.bench.capacity.search import SearchPlan
from harness.errors import HarnessError


def _positive(name: str, v: float) -> None:
    if v <= 0:
        raise click.BadParameter(f"must be > 0 (got {v:g})", param_hint=name)


def _check(cpu_limit: float, coarse_steps: int) -> None:
    if cpu_limit < 0:
        raise click.BadParameter(
            f"must be >= 0 (got {cpu_limit:g}); 0 means no cap", param_hint="--cpu-limit"
        )
    if coarse_steps < 2:
        raise click.BadParameter("needs at least 2 steps to show a knee", param_hint="--coarse-steps")


@click.command()
@click.option(
    "--plane", type=click.Choice(["redis", "mongo", "platform"]), default="redis", show_default=True
)
@click.option("--step-seconds", type=float, default=4.0, show_default=True, help="Seconds of load per step.")
@click.option(
    "--max-rate",
    type=float,
    default=None,
    help="Highest events/s offered [default: 40000 for redis, 3000 for mongo and platform].",
)
@click.option(
    "--slo-p99-ms",
    type=float,
    default=100.0,
    show_default=True,
    # five of the cap's 20 ms cgroup periods: a capped server's quota stalls alone cannot fail a step
    help="p99 (from each event's scheduled time) a step must stay under.",
)
@click.option(
    "--cpu-limit",
    type=float,
    # half a core: at 0.25 the batches' queueing under the quota broke the SLO at 70-97 % of the
    # pipe's ceiling from run to run (2026-12-07); at 0.5 each batch waits half as long
    default=0.5,
    show_default=True,
    help="Cores the server may use (cgroup quota), so it saturates below what the load can offer; 0: none.",
)
@click.option("--workers", type=int, default=2, show_default=True, help="Load processes.")
@click.option(
    "--coarse-steps", type=int, default=10, show_default=True, help="Steps from max-rate/N to max-rate."
)
@click.option(
    "--refine-steps",
    type=int,
    default=4,
    show_default=True,
    help="Steps between the last pass and the first failure.",
)
@click.option(
    "--confirm-runs",
    type=int,
    default=3,
    show_default=True,
    help="Runs the knee's rate, each failed rate below it and the first failed rate above it need "
    "(majority passes); 1: no repeats.",
)
@click.option(
    "--prefill-keys",
    type=int,
    default=PREFILL_KEYS,
    show_default=True,
    help="Redis: filler keys (TTL'd) before the search, so the keyspace's tables do not double "
    "mid-step; 0: start empty.",
)
@click.option(
    "--locust-workers",
    type=int,
    default=3,
    show_default=True,
    help="Then measure Locust's events/s with 1..N workers (whole Redis ingest path per event); 0: skip.",
)
@click.option(
    "--locust-worker-cpu",
    type=float,
    default=0.4,
    show_default=True,
    help="Cores each Locust worker may use (its own cgroup: one machine's worth each); 0: uncapped.",
)
@click.option(
    "--locust-seconds", type=float, default=5.0, show_default=True, help="Measured seconds per worker count."
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--reports-dir", type=click.Path(path_type=Path), default=Path("reports"), show_default=True)
def capacity(
    plane: str,
    step_seconds: float,
    max_rate: float | None,
    slo_p99_ms: float,
    cpu_limit: float,
    workers: int,
    coarse_steps: int,
    refine_steps: int,
    confirm_runs: int,
    prefill_keys: int,
    locust_workers: int,
    locust_worker_cpu: float,
    locust_seconds: float,
    seed: int,
    reports_dir: Path,
) -> None:
    """Find the knee of PLANE: the highest offered rate whose p99 stays under the SLO and whose
    achieved rate keeps up, with ops, bytes, CPU and memory per event from the server's own
    statistics, compared with a ceiling on the same server at the same CPU cap (redis: redis-cli
    --pipe replaying the same stream; mongo and platform: flat-out insert_many), and extrapolated
    to the capstone's 100k events/s, 1B events/day, 10k tenants. mongo and platform run on mongod
    where found, else on FerretDB, labelled 'FerretDB ... on SQLite, not MongoDB' throughout;
    platform also names the server that saturated first.

    Exit 0 when a knee was found, 1 when not (above the range, below it, or the load gave out
    first), 3 when the plane is not measured here, 2 on error."""
    if max_rate is None:
        max_rate = DEFAULT_MAX_RATE.get(plane, 40_000.0)
    opts = _options(
        step_seconds, max_rate, slo_p99_ms, cpu_limit, workers, coarse_steps, refine_steps, confirm_runs,
        locust_workers, locust_worker_cpu, locust_seconds, seed,
    )  # fmt: skip
    if prefill_keys < 0:
        raise click.BadParameter(
            f"must be >= 0 (got {prefill_keys}); 0 starts empty", param_hint="--prefill-keys"
        )
    opts = replace(opts, prefill_keys=prefill_keys)
    command = "harness capacity " + shlex.join(sys.argv[2:]) if len(sys.argv) > 2 else "harness capacity"
    try:
        run_dir, res = run_capacity(plane, opts, reports_dir, command, lambda m: click.echo(m, err=True))
    except HarnessError:
        raise  # exit 2 with its message (harness.cli.main)
    except KeyboardInterrupt:  # torn down already; results.json says so
        click.echo("interrupted: everything the run started was stopped", err=True)
        sys.exit(130)
    except Exception as exc:  # a server or driver failure: exit 2 (1 means no knee), never a bare traceback
        click.echo(
            f"error: {type(exc).__name__}: {exc} (report: {reports_dir / 'capacity' / 'latest'})", err=True
        )
        sys.exit(2)
    click.echo(f"report: {run_dir / 'index.html'}")
    sys.exit(_outcome(res))


def _options(
    step_seconds: float,
    max_rate: float,
    slo_p99_ms: float,
    cpu_limit: float,
    workers: int,
    coarse_steps: int,
    refine_steps: int,
    confirm_runs: int,
    locust_workers: int,
    locust_worker_cpu: float,
    locust_seconds: float,
    seed: int,
) -> RedisCapacity:
    """The options checked (one clear error naming the option) and put together."""
    for name, v in (
        ("--step-seconds", step_seconds),
        ("--max-rate", max_rate),
        ("--slo-p99-ms", slo_p99_ms),
        ("--workers", workers),
        ("--coarse-steps", coarse_steps),
        ("--locust-seconds", locust_seconds),
    ):
        _positive(name, v)
    _check(cpu_limit, coarse_steps)
    if locust_worker_cpu < 0:
        raise click.BadParameter(
            f"must be >= 0 (got {locust_worker_cpu:g}); 0 means uncapped", param_hint="--locust-worker-cpu"
        )
    cap = cpu_limit or None
    plan = SearchPlan(
        max_rate,
        step_seconds,
        slo_p99_ms,
        cap or 1.0,
        coarse_steps,
        max(refine_steps, 0),
        confirm_runs=max(confirm_runs, 1),
    )
    return RedisCapacity(
        cap,
        workers,
        seed,
        plan,
        max(locust_workers, 0),
        locust_seconds,
        locust_worker_cpu=locust_worker_cpu or None,
    )


def _outcome(res: dict[str, Any]) -> int:
    """Prints the run's headline figures; returns the exit code."""
    if res["status"] == "not_run":
        return 3
    if res["plane"] in ("mongo", "platform"):
        return _outcome_mongo(res)
    knee, cmp_ = res["knee"], res["comparison"]
    click.echo(
        f"knee: {knee['status']} {knee['knee_rate']} events/s offered ({knee['note'] or 'server-bound'})"
    )
    if cmp_.get("status") == "ran":
        met = "met" if cmp_["met"] else "NOT met"
        click.echo(f"knee / redis-cli --pipe = {cmp_['ratio']} (target within {cmp_['target']:.0%}: {met})")
    elif cmp_.get("reason"):
        click.echo(f"knee / redis-cli --pipe: not compared: {cmp_['reason']}")
    fig = (res.get("distributed") or {}).get("figures") or {}
    if fig.get("status") == "ran":
        click.echo(f"locust: {fig['note']}; about {fig['workers_for_peak']} workers for 100,000 events/s")
    return 0 if knee["status"] == "found" else 1


def _outcome_mongo(res: dict[str, Any]) -> int:
    """The MongoDB-plane or platform run's headline, the server named as it names itself."""
    knee, cmp_ = res["knee"], res["comparison"]
    click.echo(f"server: {res['server']}")
    click.echo(
        f"knee: {knee['status']} {knee['knee_rate']} events/s offered ({knee['note'] or 'server-bound'})"
    )
    if cmp_.get("status") == "ran":
        click.echo(
            f"knee / flat-out ceiling = {cmp_['ratio']} ({cmp_['ceiling_events_per_s']:,.0f} "
            f"events/s; {cmp_['note']})"
        )
    sz = res.get("sizing") or {}
    if sz.get("status") == "ran":
        click.echo(f"sizing: {sz['title']}")
    return 0 if knee["status"] == "found" else 1
