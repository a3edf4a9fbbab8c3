"""``harness nightly``: every scenario of a suite in sequence, one summary, JUnit and trends."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import click
from rich.console import Console

from harness.nightly import NightlyOptions, load_suites, resolve, run_nightly

console = Console(stderr=True, width=None if sys.stderr.isatty() else 140, highlight=False)


def _suites_help() -> str:
    try:
        return "; ".join(f"{name}: {s.description}" for name, s in load_suites().items())
    except Exception as exc:  # the help must show even when the file is broken
        return f"(scenarios/suites.yaml cannot be read: {exc})"


@click.command()
@click.option("--suite", default="all", show_default=True, help="A suite of scenarios/suites.yaml.")
@click.option("--scenarios", "names", help="Comma-separated scenarios to run instead of a suite: a,b.")
@click.option("--duration", type=float, help="Seconds per variant, for every scenario (default: each one's).")
@click.option(
    "--rate", type=float, help="Offered events per second, for every scenario (default: each one's)."
)
@click.option(
    "--reports-dir",
    type=click.Path(path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Where run directories, reports/nightly/<date>/ and reports/baselines/ are written.",
)
@click.option("--backend", type=click.Choice(["local", "docker"]), default="local", show_default=True)
@click.option(
    "--timeout",
    type=float,
    default=1800.0,
    show_default=True,
    help="Seconds a scenario may run before it is stopped and recorded as an error.",
)
@click.option(
    "--history",
    type=click.Path(path_type=Path),
    help="The history file of figures (default: REPORTS_DIR/baselines/history.csv).",
)
def nightly(
    suite: str,
    names: str | None,
    duration: float | None,
    rate: float | None,
    reports_dir: Path,
    backend: str,
    timeout: float,
    history: Path | None,
) -> None:
    """Run every scenario of a suite in sequence and write one summary of them all:
    REPORTS_DIR/nightly/<date>/ with index.html (verdicts, key figures, trend charts, links),
    summary.md (for a CI job summary) and junit.xml (a testsuite per scenario); each figure is
    appended to REPORTS_DIR/baselines/history.csv and flagged only when it leaves the noise band of
    its past runs on its bad side.

    Exits 0 when every scenario passed or was not run here and nothing regressed; 1 when a scenario
    failed or errored, or a figure regressed; 2 on a bad suite or scenario name; 130 on Ctrl-C.
    """
    scenarios = resolve(suite, [n.strip() for n in names.split(",") if n.strip()] if names else None)
    opts = NightlyOptions(
        scenarios=scenarios,
        suite=suite if not names else "custom",
        reports_dir=reports_dir,
        duration_s=duration,
        rate=rate,
        backend=backend,
        timeout_s=timeout,
        history_file=history,
        log=lambda m: console.print(m, markup=False),
    )
    nightly_dir, record = run_nightly(opts)
    colour = {"pass": "green", "fail": "red", "interrupted": "yellow"}.get(str(record.verdict), "bold red")
    for sc, fig in record.regressions():
        console.print(f"[red]regression[/red] {sc.name}: {fig.name}: {fig.trend_note}")
    console.print(f"[{colour}]nightly: {record.verdict}[/{colour}] — {record.verdict_reason}")
    console.print(f"summary: {nightly_dir / 'index.html'}", markup=False)
    sys.exit(record.exit_code if record.exit_code is not None else 1)


nightly.help = inspect.cleandoc(nightly.help or "") + "\n\nSuites: " + _suites_help()
