"""The increments workload against a real cluster: WAIT decides what counts as acknowledged."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.checkers.counters import check_acknowledged_increments
from harness.clients.redis_router import SlotRouter
from harness.clock import RunClock, seeded_random
from harness.history.loader import load_history, stream_ops
from harness.history.recorder import HistoryRecorder
from harness.topology.deployment import Deployment
from harness.topology.local import run_id_now
from harness.topology.spec import load_topology
from harness.workload.redis_plane.events import final_reads
from harness.workload.redis_plane.increments import IncrementConfig, IncrementDriver
from tests.conftest import needs_servers
from tests.live.backend import deploy

pytestmark = [pytest.mark.live, needs_servers]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    run_id = run_id_now("test-")
    with deploy(load_topology("redis-cluster"), tmp_path_factory.mktemp("run") / run_id, run_id) as dep:
        yield dep


def drive(dep: Deployment, tmp_path: Path, cfg: IncrementConfig) -> tuple[IncrementDriver, Path]:
    for node in dep.current_masters():  # each test counts from zero
        node.admin().flushall()
    clock = RunClock()
    path = tmp_path / "history.jsonl"
    seeds = [(n.client_proxy.listen_host, n.client_proxy.listen_port) for n in dep.redis]
    with HistoryRecorder(path, clock) as rec:
        router = SlotRouter(seeds, cluster=True, now_ns=clock.now_ns)
        driver = IncrementDriver(router, rec, clock, cfg, "v", seeded_random(1, "keys"))
        driver.run()
        final_reads(router, rec, sorted(driver.counter_keys), "v")
        router.close()
    return driver, path


def test_wait_acknowledges_once_a_replica_has_the_writes(cluster: Deployment, tmp_path: Path) -> None:
    # WAIT returns at the ack: the timeout is a bound for a slow machine (under the 2 s socket timeout)
    cfg = IncrementConfig(rate=500, duration_s=1, keys=50, wait_replicas=1, wait_timeout_ms=1500)
    driver, path = drive(cluster, tmp_path, cfg)
    incrs = [o for o in load_history(path) if o.f == "incr"]
    assert len(incrs) == 500 and driver.stats.admitted == 500
    assert all(o.outcome == "ok" and o.completion and o.completion["wait_acked"] >= 1 for o in incrs)
    verdict = check_acknowledged_increments(stream_ops(path))
    assert verdict.status == "valid" and verdict.details["acked"] == 500


def test_writes_no_replica_confirms_are_unknown_not_acknowledged(cluster: Deployment, tmp_path: Path) -> None:
    replicas = [n for n in cluster.redis if n.spec.role == "replica"]
    for n in replicas:
        assert n.process is not None
        os.kill(n.process.pid, signal.SIGSTOP)
    try:
        cfg = IncrementConfig(rate=200, duration_s=0.5, keys=20, wait_replicas=1, wait_timeout_ms=50)
        _, path = drive(cluster, tmp_path, cfg)
    finally:
        for n in replicas:
            assert n.process is not None
            os.kill(n.process.pid, signal.SIGCONT)
    incrs = [o for o in load_history(path) if o.f == "incr"]
    assert incrs and all(o.outcome == "info" and o.completion["wait_acked"] == 0 for o in incrs)  # type: ignore[index]
    # The masters applied them: the final counts hold every one, all of unknown outcome.
    verdict = check_acknowledged_increments(stream_ops(path))
    assert verdict.status == "valid"
    assert verdict.details["acked"] == 0 and verdict.details["unknown"] == len(incrs)
