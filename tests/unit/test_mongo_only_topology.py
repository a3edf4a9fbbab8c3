"""A scenario on a topology with no Redis plane (mongo-sharded): the runner reports Redis as not in
the topology, never as run, and the health wait after the faults asks the MongoDB plane (a server
that stopped, a replica set without a primary)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mockupdb import MockupDB

from harness.scenario import runner
from harness.scenario.context import RunOptions
from harness.scenario.planes import Runnable
from harness.scenario.play import _wait_healthy_again
from harness.scenario.spec import load_scenario
from harness.topology.mongo import MongoPlane
from harness.topology.mongo_health import health_problem
from harness.topology.spec import load_topology
from tests.sharded import mock_sharded_plane


def test_the_run_says_the_topology_has_no_redis_plane(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(
        runner, "runnable_topology", lambda t, _backend="local": Runnable(t)
    )  # whatever is here
    mongo_only = load_scenario("hot-partition").model_copy(update={"topology": "mongo-sharded"})
    plan = runner.RunPlan.of(mongo_only, RunOptions(reports_dir=tmp_path))
    results = runner._new_results(plan)
    assert results.planes["redis"].status == "not_run"
    assert results.planes["redis"].reason == "topology mongo-sharded has no Redis plane"
    with_redis = runner.RunPlan.of(load_scenario("hot-partition"), RunOptions(reports_dir=tmp_path))
    assert runner._new_results(with_redis).planes["redis"].reason == "the run did not get that far"


class _Dep:
    """What the health wait reads of a deployment: its topology and its planes."""

    def __init__(self, plane: MongoPlane | None, topology: str = "mongo-sharded") -> None:
        self.topology = load_topology(topology)
        self.mongo = plane
        self.redis: list[Any] = []


def test_healthy_again_asks_the_mongodb_plane_when_there_is_no_redis(server: MockupDB) -> None:
    plane = mock_sharded_plane(server)  # every member answers hello as a writable primary
    logs: list[str] = []
    got = _wait_healthy_again(_Dep(plane), 5.0, RunOptions(log=logs.append))  # type: ignore[arg-type]
    plane.close()
    assert got["healthy"] is True and got["problem"] is None
    assert logs and logs[0].startswith("healthy again after")


@pytest.fixture
def secondary_only() -> Iterator[MockupDB]:
    hello = {
        "ismaster": False,
        "isWritablePrimary": False,
        "secondary": True,
        "setName": "x",
        "maxWireVersion": 21,
    }
    s = MockupDB(auto_ismaster=hello)
    s.autoresponds("hello", **hello)
    s.run()
    yield s
    s.stop()


def test_health_names_a_set_without_primary_and_a_server_that_stopped(secondary_only: MockupDB) -> None:
    plane = mock_sharded_plane(secondary_only)
    assert health_problem(plane) == "replica set cfg has no primary"

    class Stopped:
        pid = 1

        def running(self) -> bool:
            return False

    plane.mongos[0].process = Stopped()  # type: ignore[assignment]
    assert health_problem(plane) == "mongos1 is not running"
    plane.close()
