"""``harness export compose TOPOLOGY``: a topology as a Docker Compose project to run by hand."""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml

from harness.topology.compose import SUBNET, export
from harness.topology.spec import load_topology


@click.group(name="export")
def export_group() -> None:
    """Write a topology out in another tool's format."""


@export_group.command()
@click.argument("topology")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Directory to write compose.yaml and toxiproxy.json into (default: compose/<topology>).",
)
@click.option("--subnet", default=SUBNET, show_default=True, help="The project network's /24.")
def compose(topology: str, out: Path | None, subnet: str) -> None:
    """Write TOPOLOGY as compose.yaml plus toxiproxy.json: the same nodes, each behind its own
    Toxiproxy proxy and announcing it, with the pinned official images; proxy ports published on
    127.0.0.1. Start it with 'docker compose up -d' in that directory."""
    spec = load_topology(topology)
    doc, proxies = export(spec, subnet)
    target = out or Path("compose") / spec.name
    target.mkdir(parents=True, exist_ok=True)
    (target / "compose.yaml").write_text(
        f"# harness export compose {spec.name}: {spec.description}\n" + yaml.safe_dump(doc, sort_keys=False)
    )
    (target / "toxiproxy.json").write_text(json.dumps(proxies, indent=1) + "\n")
    click.echo(f"wrote {target / 'compose.yaml'} and {target / 'toxiproxy.json'} ({len(proxies)} proxies)")
    click.echo(f"start it: cd {target} && docker compose up -d")
