"""The local images on a live engine: built (or reused), each run once, and each server answering on
the engine's bridge. Every container a test starts carries :data:`LABEL` and is removed; the images
stay (they are reused)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import requests
from pymongo import MongoClient

from harness.docker import images
from harness.docker.engine import connect
from tests.conftest import needs_engine, needs_ferretdb, needs_servers

pytestmark = [pytest.mark.live, needs_engine, needs_servers, needs_ferretdb]
LABEL = "harness.test"
RUN = {LABEL: f"images-{os.getpid()}"}


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    engine = connect()
    yield engine
    left = engine.containers.list(all=True, filters={"label": f"{LABEL}={RUN[LABEL]}"})
    for container in left:
        container.remove(force=True)
    engine.close()
    assert not left, f"containers left by the tests: {[c.name for c in left]}"


@pytest.fixture(scope="module")
def built(client: Any) -> dict[str, images.Plan]:
    plans = images.plan()
    for out in images.build(client, plans):
        assert out.status in ("built", "present", "rebuilt"), out
    return {p.recipe.name: p for p in plans}


def _wait(what: str, check: Callable[[], object], timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout_s}s: {what} (last error: {last!r})")


def test_a_second_build_reuses_every_image(client: Any, built: dict[str, images.Plan]) -> None:
    outcomes = images.build(client, list(built.values()))
    assert [o.status for o in outcomes] == ["present"] * len(built)
    assert all(not o.notes for o in outcomes), [o.notes for o in outcomes]  # made from these binaries
    labels = client.images.get(built["redis"].tag).labels
    assert labels["harness.image"] == "1" and labels["harness.image.version"] == built["redis"].version


@pytest.mark.parametrize(
    ("name", "command", "says"),
    [
        ("redis", ["redis-server", "--version"], "Redis server v={version} "),
        ("toxiproxy", ["-version"], "toxiproxy-server version {version}"),
        ("ferretdb", ["--version"], "ferretdb v{version} "),
    ],
)
def test_each_image_runs_its_server(
    client: Any, built: dict[str, images.Plan], name: str, command: list[str], says: str
) -> None:
    plan = built[name]
    out = client.containers.run(plan.tag, command, remove=True, labels=RUN).decode()
    assert says.format(version=plan.version) in out, out


def _start(client: Any, tag: str, command: list[str] | None = None) -> tuple[Any, str]:
    container = client.containers.run(tag, command, detach=True, labels=RUN)
    container.reload()
    return container, container.attrs["NetworkSettings"]["IPAddress"]


def test_servers_answer_on_the_engines_bridge(client: Any, built: dict[str, images.Plan]) -> None:
    started = []
    try:
        node, node_ip = _start(client, built["redis"].tag, ["redis-server", "--protected-mode", "no"])
        started.append(node)
        proxy, proxy_ip = _start(client, built["toxiproxy"].tag)  # the official image's own defaults
        started.append(proxy)
        mongo, mongo_ip = _start(client, built["ferretdb"].tag)
        started.append(mongo)
        assert node_ip and proxy_ip and mongo_ip, "each container gets an address on the bridge"
        _wait("redis PING", lambda: redis.Redis(host=node_ip, socket_timeout=1).ping())
        _wait(
            "toxiproxy's API",
            lambda: (
                requests.get(f"http://{proxy_ip}:8474/version", timeout=1).json()["version"]
                == built["toxiproxy"].version
            ),
        )
        ping = MongoClient(mongo_ip, 27017, directConnection=True, serverSelectionTimeoutMS=1000)
        _wait("ferretdb ping", lambda: ping.admin.command("ping")["ok"] == 1)
        ping.close()
    finally:
        for container in started:
            container.remove(force=True)


def test_an_image_made_from_other_binaries_is_rebuilt(client: Any, built: dict[str, images.Plan]) -> None:
    """A present image whose binaries (or files) differ from the plan's is stale: rebuilt, said so."""
    import dataclasses

    plan = built["toxiproxy"]
    other = dataclasses.replace(plan, digest="0" * 64)  # as if the binary here had changed
    [out] = images.build(client, [other])
    assert out.status == "rebuilt" and any("made from other binaries" in n for n in out.notes), out
    assert client.images.get(plan.tag).labels["harness.image.binaries-sha256"] == "0" * 64
    [back] = images.build(client, [plan])  # and the real plan rebuilds it again
    assert back.status == "rebuilt"
    assert client.images.get(plan.tag).labels["harness.image.binaries-sha256"] == plan.digest


def test_force_rebuilds_and_removes_the_image_it_replaced(client: Any, built: dict[str, images.Plan]) -> None:
    import docker.errors

    plan = built["toxiproxy"]
    old = client.images.get(plan.tag).id
    [out] = images.build(client, [plan], force=True)
    assert out.status == "rebuilt"
    new = client.images.get(plan.tag).id
    assert new != old
    if any(n.startswith("removed the image it replaced") for n in out.notes):
        with pytest.raises(docker.errors.ImageNotFound):
            client.images.get(old)
    else:  # another session's container still runs the old one: it is kept, and said so
        assert any("stays" in n for n in out.notes), out.notes
