"""``harness rehearse`` and ``harness fault``: an incident rehearsal and the faults an operator
types into it from another terminal."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import yaml
from rich.console import Console

from harness.errors import HarnessError
from harness.faults import fault_kinds
from harness.faults.attached import run_attached
from harness.rehearsal import control
from harness.rehearsal.plan import RehearsalOptions
from harness.rehearsal.run import rehearse as run_rehearsal
from harness.rehearsal.script import load_script
from harness.topology.lifecycle import registered_runs

console = Console(stderr=True)
EXIT = {"pass": 0, "fail": 1}


@click.command()
@click.argument("topology")
@click.option(
    "--script",
    "script_path",
    type=click.Path(path_type=Path),
    help="A rehearsal file (rehearsals/*.yaml): timed faults, heals and expected alerts.",
)
@click.option("--rate", type=float, help="Offered events per second (default: the file's, else 300).")
@click.option(
    "--for-scale",
    type=click.FloatRange(0.001, 1),
    help="Multiply every alert rule's for: (and rate window) by this, shown wherever alerts are "
    "(default: the file's, else 1).",
)
@click.option(
    "--max-duration",
    type=click.FloatRange(1, 86400),
    default=1800,
    show_default=True,
    help="Seconds before the rehearsal ends by itself.",
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--hosts", type=click.Choice(["auto", "netns", "loopback"]), default="auto", show_default=True)
@click.option(
    "--backend",
    type=click.Choice(["local", "docker"]),
    default="local",
    show_default=True,
    help="Servers as processes here, or as containers.",
)
@click.option("--reports-dir", type=click.Path(path_type=Path), default=Path("reports"), show_default=True)
def rehearse(
    topology: str,
    script_path: Path | None,
    rate: float | None,
    for_scale: float | None,
    max_duration: float,
    seed: int,
    hosts: str,
    backend: str,
    reports_dir: Path,
) -> None:
    """Rehearse an incident on TOPOLOGY: the platform workload, a live dashboard with the capstone's
    alert rules, faults typed with 'harness fault' in another terminal; q or Ctrl-C ends it.

    Afterwards every fault is healed, the topology torn down, the checkers run, and
    reports/rehearsal/<run-id>/index.html shows the timeline. Exits 0 pass, 1 fail (a checkpoint of
    the rehearsal file missed, or an invariant violated), 2 error."""
    script = load_script(script_path, topology) if script_path is not None else None
    opts = RehearsalOptions(
        topology=topology,
        reports_dir=reports_dir,
        rate=rate or (script.rate if script and script.rate else 300.0),
        seed=seed,
        for_scale=for_scale or (script.for_scale if script and script.for_scale else 1.0),
        max_duration_s=max_duration,
        hosts=hosts,
        backend=backend,
        script=script,
        script_file=str(script_path) if script_path else None,
    )
    run_dir, result = run_rehearsal(opts, console)
    for i in result["incidents"]:
        console.print(
            f"  {i['fault']} {i['target']}: detected by {i['detected_by'] or 'no alert'}"
            f" after {_s(i['ttd_s'])}; alerts resolved {_s(i['ttr_s'])} after the heal, ingestion steady "
            f"again after {_s(i.get('steady_s'))}"
        )
    colour = {"pass": "green", "fail": "red"}.get(result["verdict"], "bold red")
    console.print(f"[{colour}]verdict: {result['verdict']}[/{colour}] — {result['verdict_reason']}")
    console.print(f"report: {run_dir / 'index.html'}")
    sys.exit(EXIT.get(result["verdict"], 2))


def _s(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f} s"


def _params(pairs: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise HarnessError(f"--param {pair!r}: expected key=value (e.g. --param ms=200)")
        out[key] = yaml.safe_load(value)
    return out


@click.command()
@click.argument("kind")
@click.argument("target", required=False)
@click.option("--param", "params", multiple=True, help="A fault parameter as key=value (repeatable).")
@click.option("--run", "run_id", help="The rehearsal's run id, when several are running.")
def fault(kind: str, target: str | None, params: tuple[str, ...], run_id: str | None) -> None:
    """Apply fault KIND to TARGET in the running rehearsal ('harness fault heal' undoes every
    active fault; 'harness fault end' ends the rehearsal). Kinds: see README "Fault kinds"."""
    res = control.running_rehearsal(run_id)
    if res is None:
        _fault_on_up(kind, target, _params(params) if kind not in ("heal", "end") else {})
        return
    if kind == "heal":
        request: dict[str, Any] = {"action": "heal"}
    elif kind == "end":
        request = {"action": "end"}
    else:
        if kind not in fault_kinds():
            raise HarnessError(f"unknown fault '{kind}'; known: {', '.join(fault_kinds())}, or heal, end")
        request = {"action": "fault", "kind": kind, "target": target, "params": _params(params)}
    reply = control.send(Path(res.info["rehearsal"]["control"]), request)
    if not reply.get("ok"):
        raise HarnessError(f"{kind} {target or ''}: {reply.get('error')}".replace("  ", " "))
    entry = reply.get("entry") or {}
    click.echo(
        f"{kind} {target or ''}".strip()
        + f": done at {entry.get('done_s', 0):.1f} s ({entry.get('detail', '')})"
    )


def _fault_on_up(kind: str, target: str | None, params: dict[str, Any]) -> None:
    """No rehearsal running: the topology 'harness up' left running, from its records."""
    ups = [r for r in registered_runs() if r.detached]
    if not ups:
        raise HarnessError(
            "nothing to apply a fault to: no rehearsal is running ('harness rehearse TOPOLOGY') and "
            "nothing is up ('harness up TOPOLOGY')"
        )
    if kind == "end":
        raise HarnessError(
            "'harness fault end' ends a rehearsal; none is running ('harness down' takes down an up)"
        )
    path, done = run_attached(ups[0], kind, target, params)
    click.echo(f"{kind} {target or ''}".strip() + f" on {ups[0].topology} (run {ups[0].run_id}): {done}")
    click.echo(f"recorded in {path}")
