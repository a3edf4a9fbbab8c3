"""``harness export compose TOPOLOGY``: a topology as a Docker Compose project to run by hand."""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml

from harness.topology.compose import SUBNET, export
from harness.topology.docker_images import resolve as resolve_images
from harness.topology.spec import TopologySpec, load_topology


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
@click.option(
    "--local-images",
    is_flag=True,
    help="Use the images the docker backend uses on this machine ('harness images build', "
    "HARNESS_IMAGE_<BINARY>) instead of the pinned official ones: for machines with no registry.",
)
def compose(topology: str, out: Path | None, subnet: str, local_images: bool) -> None:
    """Write TOPOLOGY as compose.yaml plus toxiproxy.json: the same nodes, each behind its own
        Toxiproxy proxy and announcing it, with the pinned official images; proxy ports published on
        127.0.0.1. Start it with 'docker compose -p harness-TOPOLOGY up -d' in that directory (the file
    names no project: docker-compose 1.x refuses a top-level 'name')."""
    spec = load_topology(topology)
    images = resolve_images(_binaries(spec)) if local_images else None
    doc, proxies = export(spec, subnet, images)
    target = out or Path("compose") / spec.name
    target.mkdir(parents=True, exist_ok=True)
    (target / "compose.yaml").write_text(
        f"# harness export compose {spec.name}: {spec.description}\n" + yaml.safe_dump(doc, sort_keys=False)
    )
    (target / "toxiproxy.json").write_text(json.dumps(proxies, indent=1) + "\n")
    click.echo(f"wrote {target / 'compose.yaml'} and {target / 'toxiproxy.json'} ({len(proxies)} proxies)")
    click.echo(f"start it: cd {target} && docker compose -p harness-{spec.name} up -d")
    click.echo(f"stop it:  cd {target} && docker compose -p harness-{spec.name} down -v")


def _binaries(spec: TopologySpec) -> list[str]:
    needed = ["toxiproxy-server"]
    needed += ["redis-server"] if spec.redis is not None else []
    return needed + (["mongod"] if spec.mongo is not None else [])
