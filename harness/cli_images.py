"""``harness images build|list``: the Docker backend's local images (no registry needed)."""

from __future__ import annotations

import sys
import time

import click
from rich.console import Console
from rich.table import Table

from harness.docker import images as docker_images
from harness.docker.engine import connect

console = Console(stderr=True, width=None if sys.stderr.isatty() else 140)
stdout = Console(width=None if sys.stdout.isatty() else 140)


@click.group()
def images() -> None:
    """Local Docker images for the Docker backend, built from this machine's own binaries.

    Where a registry is reachable the backend pulls the pinned official images instead
    (see 'harness images list').
    """


@images.command()
@click.argument("names", nargs=-1, type=click.Choice(list(docker_images.RECIPES)))
@click.option("--force", is_flag=True, help="Rebuild images that are already present.")
def build(names: tuple[str, ...], force: bool) -> None:
    """Build harness/<name>:<version> for NAMES (default: all) from the installed binaries.

    Each image is the binary (redis-server, toxiproxy-server, ferretdb) with its shared libraries and
    a few /etc files, imported with 'docker import'; its tag is the binary's own version. An image
    already present is reused ('present') unless --force is given.
    """
    started = time.monotonic()
    plans = docker_images.plan(names)  # a missing binary fails here, before the engine is asked
    client = connect()
    try:
        for out in docker_images.build(client, plans, force=force):
            size = f", {out.size / 1e6:.1f} MB" if out.size else ""
            notes = f" ({'; '.join(out.notes)})" if out.notes else ""
            stdout.print(f"{out.tag:<28} {out.status} in {out.seconds:.2f}s{size}{notes}")
    finally:
        client.close()
    console.print(f"images: done in {time.monotonic() - started:.1f}s")


@images.command(name="list")
def list_() -> None:
    """Show the harness's local images and which pinned official images this engine has."""
    client = connect()
    try:
        rows = docker_images.present_images(client)
    finally:
        client.close()
    table = Table(title="images present", title_justify="left")
    for col in ("image", "kind", "id", "size", "created"):
        table.add_column(col)
    for row in rows:
        table.add_row(*(row.get(col, "") for col in ("image", "kind", "id", "size", "created")))
    stdout.print(table if rows else "no harness images present (run 'harness images build')")
    pins = Table(title="pinned: official image, else the local one", title_justify="left")
    for col in ("role", "official (a registry)", "local (harness images build)", "why"):
        pins.add_column(col)
    for pin in docker_images.PINNED:
        pins.add_row(pin.role, pin.official, f"{pin.local}:<its binary's version>", pin.note)
    stdout.print(pins)
