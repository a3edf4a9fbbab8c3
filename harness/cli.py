"""The ``harness`` command: scenario, nightly, check, shrink, up, status, down, clean, list, doctor,
images, rehearse, fault, capacity."""

from __future__ import annotations

import json
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness import doctor
from harness.cli_capacity import capacity
from harness.cli_export import export_group
from harness.cli_images import images
from harness.cli_nightly import nightly
from harness.cli_rehearse import fault, rehearse
from harness.cli_show import node_health, print_endpoints
from harness.clients.mongo_stats import mongo_chunks, mongo_health
from harness.errors import HarnessError
from harness.records import RunResults
from harness.rehearsal.recheck import is_rehearsal
from harness.rehearsal.recheck import recheck as recheck_rehearsal
from harness.report.render import render_index, render_run
from harness.scenario.judge import recheck_record
from harness.scenario.runner import RunOptions, run_scenario_record
from harness.scenario.shrink import shrink as shrink_run
from harness.scenario.spec import available_scenarios, load_scenario
from harness.topology.lifecycle import reap, registered_runs, state_dir, teardown
from harness.topology.local import deploy, run_id_now
from harness.topology.spec import available_topologies, load_topology

# Logs piped to a file (CI) get a wide console instead of rich's 80-column default.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 140)
stdout = Console(width=None if sys.stdout.isatty() else 140)
HOSTS = click.Choice(["auto", "netns", "loopback"])
BACKENDS = click.Choice(["local", "docker"])
#: one --backend for every command that brings a topology up
backend_option = click.option(
    "--backend",
    type=BACKENDS,
    default="local",
    show_default=True,
    help="local: server processes on this machine; docker: each node a container (needs a Docker engine "
    "and images: 'harness images build').",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="eventlog-chaos-harness")
def cli() -> None:
    """Chaos and benchmark harness for the multi-tenant event logging platform.

    Brings up real Redis and MongoDB topologies behind Toxiproxy, plays the platform's
    workload, injects faults, checks invariants and targets, and writes an HTML report per run
    under reports/<scenario>/<run-id>/.
    """


@cli.command()
@click.argument("name")
@click.option("--seed", type=int, help="Seed for every random choice (default: the scenario's own).")
@click.option("--duration", type=float, help="Seconds per variant (default: the scenario's).")
@click.option("--rate", type=float, help="Offered events per second (default: the scenario's).")
@click.option(
    "--hosts",
    type=HOSTS,
    default="auto",
    show_default=True,
    help="netns: one network namespace per node (root); loopback: no partitions; auto: netns if root.",
)
@click.option(
    "--reports-dir",
    type=click.Path(path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Where run directories are written.",
)
@click.option("--keep-data", is_flag=True, help="Keep the servers' data directories in the run directory.")
@click.option("--cpu-limit", type=float, help="Cores each database node may use (default: the scenario's).")
@backend_option
def scenario(
    name: str,
    seed: int | None,
    duration: float | None,
    rate: float | None,
    hosts: str,
    reports_dir: Path,
    keep_data: bool,
    cpu_limit: float | None,
    backend: str,
) -> None:
    """Run scenario NAME (a file in scenarios/, or a path to one) and write its report.

    Exits 0 when the verdict is pass, 1 when fail, 2 on an error, 3 when nothing it checks could be
    judged here (verdict not_run: e.g. no mongod for a replica-set scenario), 130 on Ctrl-C.
    """
    spec = load_scenario(name)
    if cpu_limit is not None:
        spec = spec.model_copy(update={"node_cpu_limit": cpu_limit})
    console.print(f"[bold]{spec.title}[/bold]\n{spec.case_study}")
    with Progress(
        TextColumn("{task.description:<8}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        tasks: dict[str, Any] = {}

        def progress(variant: str, frac: float, detail: str) -> None:
            if variant not in tasks:
                tasks[variant] = bar.add_task(variant, total=1.0, detail="")
            bar.update(tasks[variant], completed=frac, detail=detail)

        opts = RunOptions(
            reports_dir=reports_dir,
            seed=seed,
            hosts=hosts,
            backend=backend,
            duration_s=duration,
            rate=rate,
            keep_data=keep_data,
            progress=progress,
            log=lambda m: bar.console.print(m),
            scenario_file=name,
        )
        try:
            run_dir, results = run_scenario_record(spec, opts)
        except KeyboardInterrupt:
            console.print("[red]interrupted[/red]: torn down; partial report written")
            sys.exit(130)
    _summary(run_dir, results)
    sys.exit(EXIT_CODES.get(str(results.verdict), 2))


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
def check(run_dir: Path) -> None:
    """Re-judge the saved run in RUN_DIR (reports/<scenario>/<run-id>/, or a rehearsal's
    reports/rehearsal/<run-id>/) from its files.

    Runs the checkers over history.jsonl again (the checker list and parameters saved with the run)
    and the targets over metrics.json, then rewrites results.json, junit.xml and index.html.
    Exits 0 when the verdict is pass, 1 when fail, 2 on an error (a missing or bad file is named), 3
    when nothing it checks could be judged (not_run). A rehearsal: its checkers over its history and
    its checkpoints over the alert events it saved (the alerts are not evaluated again), then
    rehearsal.json and its timeline page rewritten.
    """
    if is_rehearsal(run_dir):
        _recheck_rehearsal(run_dir)
    with console.status(f"checking {run_dir}"):
        results = recheck_record(run_dir)
        render_run(run_dir)
    root = run_dir.parent.parent
    if (root / "index.html").is_file():
        render_index(root)
    for note in results.check_notes:
        console.print(f"note: {note}")
    _summary(run_dir, results)
    sys.exit(EXIT_CODES.get(str(results.verdict), 2))


def _recheck_rehearsal(run_dir: Path) -> None:
    """``check`` on a rehearsal directory: its checkers and checkpoints again; exits with its verdict."""
    with console.status(f"checking rehearsal {run_dir}"):
        res = recheck_rehearsal(run_dir)
    for note in res["check_notes"]:
        console.print(f"note: {note}")
    for inv in res["invariants"]:
        console.print(f"  {inv['name']}: {inv['status']}")
    for c in res["checkpoints"]:
        console.print(
            f"  checkpoint {c['expect_alert']} by {c['by_s']:g} s: {'met' if c['met'] else 'MISSED'}"
        )
    console.print(f"verdict: {res['verdict']} ({res['verdict_reason']}); report: {run_dir / 'index.html'}")
    sys.exit(EXIT_CODES.get(str(res["verdict"]), 2))


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--max-runs", type=click.IntRange(1, 50), default=8, show_default=True, help="Re-runs at most.")
def shrink(run_dir: Path, max_runs: int) -> None:
    """Find the smallest part of RUN_DIR's fault schedule that still fails, by re-running.

    Delta debugging over the faults the failing variant applied (same seed, duration and rate; only
    the set of faults changes), at most --max-runs re-runs; writes RUN_DIR/shrunk.yaml, a scenario
    that replays the smallest failing schedule: harness scenario RUN_DIR/shrunk.yaml.
    """
    out = shrink_run(run_dir, max_runs=max_runs, log=console.print)
    stdout.print(f"harness scenario {out}")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
    return "—" if v is None else str(v)


#: Exit code by verdict (anything else, an error, is 2).
EXIT_CODES = {"pass": 0, "fail": 1, "not_run": 3}


def _summary(run_dir: Path, results: RunResults) -> None:
    colour = {"pass": "green", "fail": "red", "not_run": "yellow"}.get(str(results.verdict), "bold red")
    table = Table(title="targets", show_lines=False)
    for col in ("target", "value", "needs", "status"):
        table.add_column(col)
    for t in results.targets:
        status = f"{t.status}" + (
            f" ({t.reason or 'measured through a stand-in'})" if t.status == "not_run" else ""
        )
        table.add_row(t.name, _fmt(t.value), f"{t.op} {_fmt(t.threshold)}", status)
    console.print(table)
    for inv in results.invariants:
        console.print(f"  {inv.variant:<8} {inv.name:<34} {inv.status:<8} {inv.summary}")
    skipped = [f for f in results.faults if f.status == "not_run"]
    for f in skipped:
        console.print(f"  fault    {f.variant or '':<8} {f.fault:<20} not run: {f.reason}")
    for plane, info in results.planes.items():
        console.print(
            f"  plane {plane}: {info.status}"
            + (f" on {info.substrate}" if info.substrate else "")
            + (f" ({info.reason})" if info.reason else "")
        )
    console.print(f"[{colour}]verdict: {results.verdict}[/{colour}] — {results.verdict_reason}")
    console.print(f"report: {run_dir / 'index.html'}")


@cli.command()
@click.argument("topology")
@click.option(
    "--hosts", type=HOSTS, default="auto", show_default=True, help="Where nodes run (see scenario --help)."
)
@click.option(
    "--timeout",
    type=float,
    help="Seconds to wait for health (default: 30 Redis, 60 replica set, 180 sharded cluster).",
)
@click.option("--cpu-limit", type=float, help="Cores each node may use (cgroup quota; default: unlimited).")
@backend_option
def up(topology: str, hosts: str, timeout: float | None, cpu_limit: float | None, backend: str) -> None:
    """Bring TOPOLOGY up and leave it running (take it down with 'harness down')."""
    spec = load_topology(topology)
    live = [r for r in registered_runs() if r.detached]
    if live:
        raise HarnessError(
            f"topology {live[0].topology} is already up (run {live[0].run_id}); run 'harness down' first"
        )
    run_id = run_id_now("up-")
    run_dir = state_dir() / "up" / run_id
    with (
        console.status(f"bringing up {spec.name}"),
        deploy(
            spec,
            run_dir,
            run_id,
            hosts=hosts,
            backend=backend,
            detached=True,
            timeout_s=timeout,
            cpu_limit=cpu_limit,
        ) as dep,
    ):
        endpoints = dep.endpoints()
        console.print(
            f"[green]{spec.name} healthy in {dep.up_seconds:.1f}s[/green] (run {run_id}, "
            f"{endpoints['hosts']} hosts, {endpoints.get('backend', 'local')} backend)"
        )
    print_endpoints(endpoints)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the endpoints and health as JSON.")
def status(as_json: bool) -> None:
    """Show topologies that are up: endpoints and each node's health."""
    runs = [r for r in registered_runs() if r.detached or r.owner_alive()]
    if not runs:
        console.print("nothing is up")
        return
    for res in runs:
        endpoints = res.info.get("endpoints")
        if not endpoints:
            console.print(f"run {res.run_id}: starting (no endpoints yet)")
            continue
        health = {n["name"]: node_health(n["address"]) for n in endpoints["nodes"]}
        chunks: dict[str, dict[str, int]] = {}
        if endpoints.get("mongo"):
            health.update(mongo_health(endpoints["mongo"]))
            chunks = mongo_chunks(endpoints["mongo"])
        if as_json:
            click.echo(
                json.dumps({"run_id": res.run_id, **endpoints, "health": health, "chunks": chunks}, indent=1)
            )
            continue
        console.print(
            f"[bold]{res.topology}[/bold] run {res.run_id} ({'up' if res.detached else 'in a scenario'})"
        )
        print_endpoints(endpoints, health)
        for ns, per_shard in chunks.items():
            shown = ", ".join(f"{shard} {n}" for shard, n in sorted(per_shard.items())) or "no chunks"
            stdout.print(f"chunks of {ns}: {shown}")


@cli.command()
def down() -> None:
    """Take down topologies started with 'harness up'."""
    runs = [r for r in registered_runs() if r.detached]
    if not runs:
        console.print("nothing is up")
    for res in runs:
        removed = teardown(res)
        # Keep the logs for a look afterwards; the servers' data is of no use once they are gone.
        shutil.rmtree(Path(res.run_dir) / "data", ignore_errors=True)
        console.print(f"took down {res.topology} (run {res.run_id}): {len(removed)} resources removed")


@cli.command()
def clean() -> None:
    """Reap everything crashed runs left (processes, namespaces, bridges and their FORWARD rules), and
    topologies left up."""
    removed = reap(include_detached=True)
    for item in removed:
        console.print(f"removed {item}")
    console.print(f"clean: {len(removed)} leftovers removed")


@cli.command(name="list")
def list_() -> None:
    """List the scenarios (with what each shows and on which topology) and the topologies."""
    scenarios = Table(title="scenarios", show_lines=False, title_justify="left")
    for col in ("name", "what it shows", "topology"):
        scenarios.add_column(col, overflow="fold")
    for name in available_scenarios():
        try:
            spec = load_scenario(name)
        except HarnessError as exc:  # a broken file is listed with why, the others still are
            scenarios.add_row(name, f"[red]cannot load: {exc}[/red]", "")
            continue
        scenarios.add_row(name, spec.title, spec.topology)
    topologies = Table(title="topologies", title_justify="left")
    topologies.add_column("name")
    topologies.add_column("what it is", overflow="fold")
    for name in available_topologies():
        try:
            topologies.add_row(name, load_topology(name).description)
        except HarnessError as exc:
            topologies.add_row(name, f"[red]cannot load: {exc}[/red]")
    stdout.print(scenarios)  # a listing is the output: stdout
    stdout.print(topologies)


@cli.command(name="doctor")
def doctor_() -> None:
    """Print which servers and tools this machine has (versions or 'not found')."""
    sys.exit(doctor.main())


cli.add_command(capacity)
cli.add_command(images)
cli.add_command(rehearse)
cli.add_command(fault)
cli.add_command(nightly)
cli.add_command(export_group)


def _terminate(signum: int, frame: object) -> None:
    # A CI timeout or 'kill' sends SIGTERM: take the same path as Ctrl-C, so teardown and the
    # partial report both happen.
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        cli(standalone_mode=True)
    except HarnessError as exc:
        # Plain text: a path or a log tail must not be re-wrapped or read as markup.
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
