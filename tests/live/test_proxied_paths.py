"""Every connection a Redis node sees comes through Toxiproxy, and nodes announce only proxy
addresses: for every topology with a Redis plane, on netns and on loopback hosts.

Proxied and direct connections can arrive from the same IP (the bridge address in netns mode,
127.0.0.1 on loopback), so a peer is judged by who holds its socket: toxiproxy-server, or someone
else (see ``tests/live/sockets.py``). That works on both kinds of hosts.

``platform`` is not here: its MongoDB plane is sharded, which needs mongod and mongos (FerretDB runs
standalone planes only), and its Redis plane is ``redis-cluster``'s, which is.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest
import redis

from harness.clients.redis_router import SlotRouter
from harness.doctor import find_binary
from harness.ops import OpType
from harness.topology.deployment import Deployment
from harness.topology.local import run_id_now
from harness.topology.redis import no_retry
from harness.topology.spec import load_topology
from harness.workload.redis_plane.reads import ReplicaRouter
from tests.conftest import needs_netns, needs_servers
from tests.live.backend import deploy
from tests.live.leftovers import assert_nothing_left
from tests.live.proxied import OBSERVER_NAME, Proxies, announced, confirmed, look, observer, off_proxy
from tests.live.sockets import Endpoint, parse_endpoint

pytestmark = [pytest.mark.live, needs_servers]

needs_mongo_wire = pytest.mark.skipif(
    find_binary("mongod") is None and find_binary("ferretdb") is None,
    reason="platform-standalone needs mongod or ferretdb (run 'make setup')",
)
TOPOLOGIES = {"redis-cluster": [], "redis-replicated": [], "platform-standalone": [needs_mongo_wire]}
PARAMS = [
    pytest.param(
        (name, hosts), id=f"{name}-{hosts}", marks=[*marks, *([needs_netns] if hosts == "netns" else [])]
    )
    for name, marks in TOPOLOGIES.items()
    for hosts in ("netns", "loopback")
]


@pytest.fixture(scope="module", params=PARAMS)
def dep(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    topology, hosts = request.param
    run_id = run_id_now("test-")
    run_dir = tmp_path_factory.mktemp("run") / run_id
    with deploy(load_topology(topology), run_dir, run_id, hosts=hosts) as d:
        for node in d.redis:
            node.close()  # bring-up's observer connections: direct by design, not what is checked here
        yield d
    assert_nothing_left(d.res)


def _cluster(dep: Deployment) -> bool:
    return dep.topology.redis is not None and dep.topology.redis.mode == "cluster"


def _proxy(dep: Deployment, name: str) -> Endpoint:
    p = dep.node(name).client_proxy
    return p.listen_host, p.listen_port


@contextlib.contextmanager
def traffic(dep: Deployment) -> Iterator[None]:
    """Traffic through each of the harness's client paths; their connections stay open until exit,
    since ``CLIENT LIST`` shows only open ones."""
    cluster = _cluster(dep)
    seeds = [_proxy(dep, n.name) for n in dep.redis]
    keys = [f"proxied:{i}" for i in range(64)]
    with contextlib.ExitStack() as stack:
        for n in dep.redis:  # one client per node, as scenario setup uses them
            assert stack.enter_context(dep.client(n.name, socket_timeout=2, retry=no_retry())).ping()
        master = next(n.name for n in dep.redis if n.spec.role == "master")
        writer = SlotRouter(
            seeds if cluster else [_proxy(dep, master)], cluster=cluster, now_ns=time.monotonic_ns
        )
        stack.callback(writer.close)
        assert {r.outcome for r in writer.execute([("SET", k, "v") for k in keys], keys)} == {OpType.OK}
        # WAIT on the connection that wrote, once per master: the writes went over replication.
        per_master = list({writer.node_for(k): k for k in keys}.values())
        waits = writer.execute([("WAIT", 1, 5000) for _ in per_master], per_master)
        assert all(r.outcome == OpType.OK and r.value >= 1 for r in waits), waits
        if cluster:
            client = dep.cluster_client(socket_timeout=2, retry=no_retry())
            stack.callback(client.close)
            assert all(client.get(k) == b"v" for k in keys)
            reader: SlotRouter = ReplicaRouter(
                seeds, cluster=True, now_ns=time.monotonic_ns, master_fallback=True
            )
        else:
            replica = next(n.name for n in dep.redis if n.spec.role == "replica")
            reader = SlotRouter([_proxy(dep, replica)], cluster=False, now_ns=time.monotonic_ns)
        stack.callback(reader.close)
        assert {r.value for r in reader.execute([("GET", k) for k in keys], keys)} == {b"v"}
        yield


def test_every_connection_a_node_sees_comes_through_its_proxy(dep: Deployment) -> None:
    strays: dict[str, list[str]] = {}
    with traffic(dep):
        for node in dep.redis:
            with observer(node) as obs:
                clients = [c for c in obs.client_list() if c["name"] != OBSERVER_NAME]
                # Not vacuous: this node's own client, and its side of replication, are listed.
                assert any("N" in c["flags"] for c in clients), clients
                link = "M" if node.spec.role == "replica" else "S"
                assert any(link in c["flags"] for c in clients), (node.name, clients)
                found = confirmed(lambda node=node, obs=obs: look(dep, node, obs))
                if found:
                    strays[node.name] = sorted(found.values())
    assert not strays, f"connections that did not come through Toxiproxy: {strays}"

    # The check can fail: a connection made directly to a node's own address is reported, both in
    # its CLIENT LIST and in its socket table.
    for node in dep.redis:
        with (
            observer(node) as obs,
            redis.Redis(host=node.host.address, port=node.port, single_connection_client=True) as direct,
        ):
            direct_id = str(direct.client_id())
            direct_end = parse_endpoint(str(direct.client_info()["addr"]))
            found = confirmed(lambda node=node, obs=obs: look(dep, node, obs))
        assert {k[1] for k in found if k[0] == "client"} == {direct_id}, found
        assert [k for k in found if k[0] == "socket"] == [
            ("socket", (node.host.address, node.port), direct_end)
        ]


def test_nodes_announce_only_proxy_endpoints(dep: Deployment) -> None:
    cluster = _cluster(dep)
    proxies = Proxies.of(dep)
    wrong: dict[str, list[str]] = {}
    for node in dep.redis:
        with observer(node) as obs:
            found = list(announced(obs, cluster))
        # Not vacuous: a replica names its master, a master its replicas, a cluster node every node.
        assert any(w.startswith("INFO") for w, _, _ in found), (node.name, found)
        if cluster:
            listed = {a for w, kind, a in found if w.startswith("CLUSTER NODES") and kind == "client"}
            assert len(listed) == len(dep.redis), (node.name, found)
        bad = off_proxy(found, proxies)
        if bad:
            wrong[node.name] = bad
    assert not wrong, f"addresses announced that are not proxies: {wrong}"
