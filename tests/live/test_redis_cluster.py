"""A live Redis Cluster behind Toxiproxy: health, proxies in every path, a latency toxic."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.clients.redis_router import SlotRouter
from harness.topology.deployment import Deployment
from harness.topology.local import run_id_now
from harness.topology.spec import load_topology
from tests.conftest import needs_servers
from tests.live.backend import deploy
from tests.live.leftovers import assert_nothing_left

pytestmark = [pytest.mark.live, needs_servers]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    run_id = run_id_now("test-")
    with deploy(load_topology("redis-cluster"), tmp_path_factory.mktemp("run") / run_id, run_id) as dep:
        yield dep
    assert_nothing_left(dep.res)


def _key_on(router: SlotRouter, addr: tuple[str, int]) -> str:
    return next(k for k in (f"k{i}" for i in range(10_000)) if router.node_for(k) == addr)


def test_cluster_is_healthy_and_every_address_is_a_proxy(cluster: Deployment) -> None:
    proxies = {(n.client_proxy.listen_host, n.client_proxy.listen_port) for n in cluster.redis}
    client = cluster.client("r2", decode_responses=True)
    slots = client.execute_command("CLUSTER", "SLOTS")
    covered = sum(int(hi) - int(lo) + 1 for lo, hi, *_ in slots)
    assert covered == 16384
    for _lo, _hi, *nodes in slots:
        for node in nodes:  # master and replicas alike announce proxy addresses
            assert (node[0], int(node[1])) in proxies
    by_name = {n.name: n for n in cluster.redis}
    for node in cluster.redis:
        if node.spec.role == "replica":
            repl = node.admin().info("replication")
            master = by_name[str(node.spec.replica_of)]
            assert repl["master_link_status"] == "up"
            # Replication itself goes through the master's proxy.
            assert (repl["master_host"], int(repl["master_port"])) == (
                master.client_proxy.listen_host,
                master.client_proxy.listen_port,
            )


def test_latency_toxic_slows_only_that_masters_slots(cluster: Deployment) -> None:
    router = SlotRouter(
        [(n.client_proxy.listen_host, n.client_proxy.listen_port) for n in cluster.redis],
        cluster=True,
        now_ns=time.monotonic_ns,
    )
    r1 = cluster.node("r1").client_proxy
    r2 = cluster.node("r2").client_proxy
    slow_key = _key_on(router, (r1.listen_host, r1.listen_port))
    fast_key = _key_on(router, (r2.listen_host, r2.listen_port))

    def median_ms(key: str) -> float:
        times = []
        for _ in range(15):
            t0 = time.monotonic()
            reply = router.execute([("INCR", key)], [key])[0]
            assert reply.outcome == "ok", reply
            times.append((time.monotonic() - t0) * 1000)
        return statistics.median(times)

    base_slow, base_fast = median_ms(slow_key), median_ms(fast_key)
    name = cluster.toxiproxy.add_toxic("r1-client", "latency", {"latency": 100, "jitter": 0})
    try:
        toxic_slow, toxic_fast = median_ms(slow_key), median_ms(fast_key)
    finally:
        cluster.toxiproxy.remove_toxic("r1-client", name)
        router.close()
    figures = (
        f"medians r1/r2 before {base_slow:.1f}/{base_fast:.1f} ms, "
        f"with the toxic {toxic_slow:.1f}/{toxic_fast:.1f} ms"
    )
    assert toxic_slow >= 95, f"ops on r1's slots should pay the 100 ms toxic; {figures}"
    # relative to the same machine's own figures, so no bound on how fast its CPU is
    assert toxic_slow - base_slow >= 50, f"the toxic added too little to r1's slots; {figures}"
    assert toxic_fast - base_fast < 50, f"ops on r2's slots should not pay the toxic; {figures}"


def test_replicated_topology_replicates_through_the_proxy(tmp_path: Path) -> None:
    run_id = run_id_now("test-")
    with deploy(load_topology("redis-replicated"), tmp_path / run_id, run_id) as dep:
        primary, replica = dep.node("r1"), dep.node("r2")
        repl = replica.admin().info("replication")
        link = replica.repl_proxy  # the replica's own proxy, leading to the primary
        assert link is not None and link.upstream == primary.direct
        assert (repl["master_host"], int(repl["master_port"])) == (link.listen_host, link.listen_port)
        dep.client("r1").set("k", "v")
        deadline = time.monotonic() + 5
        while replica.admin().get("k") != "v" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert replica.admin().get("k") == "v"
    assert_nothing_left(dep.res)


def test_bad_client_through_dead_proxy_is_unknown_not_ok(cluster: Deployment) -> None:
    """A proxy that goes down mid-connection yields info/fail outcomes, never ok."""
    router = SlotRouter(
        [(n.client_proxy.listen_host, n.client_proxy.listen_port) for n in cluster.redis],
        cluster=True,
        now_ns=time.monotonic_ns,
    )
    r3 = cluster.node("r3").client_proxy
    key = _key_on(router, (r3.listen_host, r3.listen_port))
    assert router.execute([("SET", key, "1")], [key])[0].outcome == "ok"
    proxy = cluster.toxiproxy.proxy("r3-client")
    proxy.disable()
    try:
        reply = router.execute([("INCR", key)], [key])[0]
    finally:
        proxy.enable()
        router.close()
    assert reply.outcome in ("info", "fail")
    # Whether the INCR reached the server is unknown to the client; the server knows.
    assert cluster.node("r3").admin().get(key) in ("1", "2")
