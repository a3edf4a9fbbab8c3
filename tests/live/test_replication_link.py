"""A replica's own replication link (replicated topologies): a toxic on it lags that replica's
replication and nothing else, and a partition cuts it like any other path to the master."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest
import redis

from harness.faults import make_fault
from harness.faults.base import FaultContext, FaultError
from harness.topology.deployment import Deployment
from harness.topology.local import run_id_now
from harness.topology.spec import load_topology
from tests.conftest import needs_netns, needs_servers
from tests.live.backend import deploy
from tests.live.leftovers import assert_nothing_left_after_faults

pytestmark = [pytest.mark.live, needs_servers, needs_netns]
TOXIC_MS = 300


@pytest.fixture(scope="module")
def replicated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    run_id = run_id_now("test-repl-link-")
    with deploy(load_topology("redis-replicated"), tmp_path_factory.mktemp("run") / run_id, run_id) as dep:
        yield dep
    assert_nothing_left_after_faults(dep.res)


def _through_proxy(dep: Deployment, name: str) -> redis.Redis:
    host, port = dep.node(name).client_address
    return redis.Redis(host=host, port=port, socket_timeout=5, decode_responses=True)


def _replica_lag_ms(dep: Deployment, key: str, value: str, timeout_s: float = 10) -> float:
    """Writes ``key`` on the master, then polls the replica (directly) until it has the value:
    the milliseconds from the master's acknowledgement to the replica having it."""
    master = _through_proxy(dep, "r1")
    master.set(key, value)
    acked = time.monotonic()
    replica = dep.node("r2").admin()
    while time.monotonic() - acked < timeout_s:
        if replica.get(key) == value:
            return (time.monotonic() - acked) * 1000
        time.sleep(0.005)
    raise AssertionError(f"r2 did not get {key} within {timeout_s}s")


def test_replicas_sync_through_their_own_link(replicated: Deployment) -> None:
    r2 = replicated.node("r2")
    assert r2.repl_proxy is not None and replicated.node("r1").repl_proxy is None
    assert r2.repl_proxy.upstream == replicated.node("r1").direct
    repl = r2.admin().info("replication")
    assert (repl["master_host"], int(repl["master_port"])) == (
        r2.repl_proxy.listen_host,
        r2.repl_proxy.listen_port,
    )
    assert repl["master_link_status"] == "up"


def test_latency_on_the_replication_link_lags_the_replica_alone(replicated: Deployment) -> None:
    ctx = FaultContext(dep=replicated, rng=random.Random(3))
    fault = make_fault("latency", {"ms": TOXIC_MS, "link": "replication"}, target="r2")
    fault.apply(ctx)
    try:
        # every replication delivery waits the toxic's time: a lower bound whatever the CPU speed
        lag = _replica_lag_ms(replicated, "lagged", "1")
        assert lag >= TOXIC_MS * 0.8, lag
        master = _through_proxy(replicated, "r1")
        t0 = time.monotonic()
        assert master.get("lagged") == "1"
        rtt_ms = (time.monotonic() - t0) * 1000
        assert rtt_ms < TOXIC_MS * 0.8, f"the master's clients felt the replication toxic: {rtt_ms:.0f} ms"
    finally:
        fault.heal(ctx)
    assert _replica_lag_ms(replicated, "healed", "1") < TOXIC_MS * 0.8


def test_a_partition_cuts_the_replication_link(replicated: Deployment) -> None:
    replicated.isolate("r2")
    try:
        _through_proxy(replicated, "r1").set("cut", "1")
        time.sleep(1.0)  # a bounded wait for something that must NOT happen
        assert replicated.node("r2").admin().get("cut") is None
    finally:
        replicated.heal()
    deadline = time.monotonic() + 20
    while replicated.node("r2").admin().get("cut") != "1":
        assert time.monotonic() < deadline, "r2 did not catch up after heal"
        time.sleep(0.05)


def test_the_master_has_no_replication_link(replicated: Deployment) -> None:
    ctx = FaultContext(dep=replicated, rng=random.Random(3))
    fault = make_fault("latency", {"ms": 10, "link": "replication"}, target="r1")
    with pytest.raises(FaultError, match="r1 has no replication link"):
        fault.apply(ctx)
    fault.heal(ctx)
