"""The docker backend's choices made without an engine: which image runs which server, what a
failed docker command says, and what a sweep removes (the engine's answers stubbed)."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from harness.errors import HarnessError
from harness.topology import docker_cli, docker_images
from harness.topology.docker_cli import Labelled
from harness.topology.docker_network import Image


def _engine_has(monkeypatch: pytest.MonkeyPatch, *present: str) -> None:
    def images(reference: str) -> list[str]:
        return [p for p in present if p == reference or p.startswith(reference + ":")]

    monkeypatch.setattr(docker_images, "_present", images)
    for binary in docker_images.IMAGES:
        monkeypatch.delenv(docker_images.env_name(binary), raising=False)


def test_a_local_image_wins_and_runs_its_own_path(monkeypatch: pytest.MonkeyPatch) -> None:
    _engine_has(monkeypatch, "harness/redis:7.0.15", "redis:7.0.15", "harness/pause:9.1")
    found = docker_images.resolve(["redis-server", "pause"])
    assert found == {
        "redis-server": Image("harness/redis:7.0.15", "redis-server"),
        "pause": Image("harness/pause:9.1", "/pause"),
    }


def test_the_official_image_serves_where_no_local_one_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    _engine_has(monkeypatch, "ghcr.io/shopify/toxiproxy:2.12.0", "mongo:7.0.14", "redis:7.0.15")
    found = docker_images.resolve(["toxiproxy-server", "mongod", "pause"])
    assert found["toxiproxy-server"] == Image("ghcr.io/shopify/toxiproxy:2.12.0", "/toxiproxy")
    assert found["mongod"] == Image("mongo:7.0.14", "mongod")
    assert found["pause"] == Image("redis:7.0.15", "sleep")  # the official redis image's sleep


def test_an_image_named_in_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    _engine_has(monkeypatch, "harness/redis:7.0.15")
    monkeypatch.setenv("HARNESS_IMAGE_MONGOD", "my/mongo:7.0")
    assert docker_images.resolve(["mongod"]) == {"mongod": Image("my/mongo:7.0", "mongod")}


def test_every_missing_image_is_named_in_one_error(monkeypatch: pytest.MonkeyPatch) -> None:
    _engine_has(monkeypatch)
    with pytest.raises(HarnessError) as err:
        docker_images.resolve(["redis-server", "mongod"])
    text = str(err.value)
    assert "redis-server (no harness/redis image, no redis:7.0.15)" in text
    assert "mongod (no mongo:7.0.14)" in text and "harness images build" in text


def test_a_failed_command_says_the_engines_words_not_the_clis_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = (
        'docker: Error response from daemon: Conflict. The container name "/hx-1-r1" is already in use.\n'
        "See 'docker run --help'.\nRun 'docker run --help' for more information\n"
    )

    def run(cmd: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 125, "", stderr)

    monkeypatch.setattr(docker_cli.subprocess, "run", run)
    monkeypatch.setattr(docker_cli.shutil, "which", lambda _: "/usr/bin/docker")
    with pytest.raises(
        HarnessError, match=r"docker run --name failed: docker: Error response .* already in use"
    ):
        docker_cli.docker("run", "--name", "hx-1-r1")


def test_a_sweep_removes_what_no_live_run_claims(monkeypatch: pytest.MonkeyPatch) -> None:
    listed = {
        "container": [Labelled("container", "hx-a-r1", "run-a"), Labelled("container", "hx-b-r1", "run-b")],
        "network": [Labelled("network", "hx-b", "run-b")],
        "volume": [],
    }
    removed: list[Labelled] = []
    monkeypatch.setattr(docker_cli, "engine_running", lambda: True)
    monkeypatch.setattr(docker_cli, "labelled", lambda kind, run_id=None: listed[kind])
    monkeypatch.setattr(docker_cli, "remove", lambda items: removed.extend(items) or [i.name for i in items])
    docker_cli.sweep_docker({"run-a"})
    assert [i.name for i in removed] == ["hx-b-r1", "hx-b"]  # run-a is alive: its container stays


# -- the MongoDB plane on the docker backend ------------------------------------------------------


def test_a_replica_set_without_a_mongo_image_is_not_run_with_why(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.scenario.planes import runnable_topology
    from harness.topology.spec import load_topology

    _engine_has(monkeypatch, "harness/ferretdb:1.24.2", "harness/redis:7.0.15")
    runnable = runnable_topology(load_topology("platform-rs"), "docker")
    assert runnable.topology.mongo is None and runnable.topology.redis is not None  # Redis still runs
    assert runnable.mongo_not_run is not None
    assert runnable.mongo_not_run.startswith(
        "no mongo image (no registry reachable here to pull mongo:7.0.14)"
    )
    assert "HARNESS_IMAGE_MONGOD" in runnable.mongo_not_run
    with pytest.raises(HarnessError, match="only a MongoDB plane and no mongo image"):
        runnable_topology(load_topology("mongo-rs"), "docker")


def test_a_standalone_plane_falls_back_to_the_ferretdb_image_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from harness.scenario.planes import runnable_topology
    from harness.topology.spec import load_topology

    _engine_has(monkeypatch, "harness/ferretdb:1.24.2")
    runnable = runnable_topology(load_topology("platform-standalone"), "docker")
    assert runnable.topology.mongo is not None and runnable.topology.mongo.server == "ferretdb"
    assert runnable.mongo_note is not None and "FerretDB container" in runnable.mongo_note


def test_mongod_and_mongos_come_from_the_image_given(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.topology import docker_mongo
    from harness.topology.spec import load_topology

    _engine_has(monkeypatch)
    monkeypatch.setenv("HARNESS_IMAGE_MONGOD", "my/mongo:7.0")
    rs = load_topology("mongo-rs").mongo
    assert rs is not None and docker_mongo.plane_binaries(rs) == {"mongod": "mongod"}
    sharded = load_topology("mongo-sharded").mongo
    assert sharded is not None
    with pytest.raises(HarnessError, match="no mongo image"):  # mongos has no image yet
        docker_mongo.plane_binaries(sharded)
    monkeypatch.setenv("HARNESS_IMAGE_MONGOS", "my/mongo:7.0")
    assert docker_mongo.plane_binaries(sharded) == {"mongod": "mongod", "mongos": "mongos"}
