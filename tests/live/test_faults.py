"""Each fault's effect checked from the servers' side, on one live Redis Cluster in network
namespaces (cluster-node-timeout 2000 ms), plus what toxics do to connections that were already open
and what teardown does to a fault left in place.

Roles move from test to test (failovers, kills), so every test names its targets by selector and
starts from a settled cluster: every node cluster_state:ok, every replica's link up, no toxics, no
partition rules, every proxy enabled.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from harness.faults import make_fault
from harness.faults.base import FaultContext
from harness.faults.selectors import cluster_nodes, master_of_slot, redis_roles
from harness.topology.deployment import Deployment
from harness.topology.lifecycle import RunResources, is_stopped, labelled_pids, pid_alive
from harness.topology.local import run_id_now
from harness.topology.spec import TopologySpec, load_topology
from tests.conftest import needs_netns, needs_servers
from tests.live.backend import deploy, server_pid
from tests.live.leftovers import assert_nothing_left_after_faults

pytestmark = [pytest.mark.live, needs_servers]
ROOT = Path(__file__).resolve().parents[2]


def fast_topology(name: str) -> TopologySpec:
    """The shipped topology with a short cluster-node-timeout, so failovers take seconds."""
    topo = load_topology(name)
    assert topo.redis is not None
    settings = dict(topo.redis.settings)
    if topo.redis.mode == "cluster":
        settings["cluster-node-timeout"] = 2000
    return topo.model_copy(update={"redis": topo.redis.model_copy(update={"settings": settings})})


def wait_for(
    what: str, check: Callable[[], bool], timeout_s: float, describe: Callable[[], str] = str
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (redis.RedisError, OSError):
            pass  # a node restarting or resuming: keep polling
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout_s}s: {what}\n{describe()}")


def views(dep: Deployment) -> str:
    out = []
    for n in dep.redis:
        try:
            view = str(n.admin().execute_command("CLUSTER", "NODES")).strip()
        except Exception as exc:  # the message must not hide the original failure
            view = repr(exc)
        out.append(f"--- {n.name} {n.client_proxy.address}\n{view}")
    return "\n".join(out)


def cluster_info(dep: Deployment, name: str) -> dict[str, str]:
    text = str(dep.node(name).admin().execute_command("CLUSTER", "INFO"))
    return dict(line.split(":", 1) for line in text.split() if ":" in line)


def settled_problem(dep: Deployment) -> str | None:
    for n in dep.redis:
        info = cluster_info(dep, n.name)
        if info.get("cluster_state") != "ok" or info.get("cluster_slots_ok") != "16384":
            return f"{n.name}: {info.get('cluster_state')} slots_ok {info.get('cluster_slots_ok')}"
        if any(f in e["flags"] for e in cluster_nodes(n) for f in ("fail", "fail?")):
            return f"{n.name} still flags a peer failing"
        repl = n.admin().info("replication")
        if repl["role"] == "slave" and repl.get("master_link_status") != "up":
            return f"{n.name}: replica link {repl.get('master_link_status')}"
    roles = redis_roles(dep)
    if sorted(r.role for r in roles.values()) != ["master"] * 3 + ["replica"] * 3:
        return f"roles {roles}"
    for n in dep.redis:
        if dep.toxiproxy.toxics(n.client_proxy.name) or not dep.toxiproxy.enabled(n.client_proxy.name):
            return f"{n.name}: proxy not clean"
    if any(dep.rules().values()):
        return f"rules left: {dep.rules()}"
    return None


def wait_settled(dep: Deployment, timeout_s: float = 40) -> None:
    problem: list[str | None] = [None]

    def ok() -> bool:
        problem[0] = settled_problem(dep)
        return problem[0] is None

    wait_for("a settled cluster", ok, timeout_s, lambda: f"{problem[0]}\n{views(dep)}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    run_id = run_id_now("test-faults-")
    with deploy(
        fast_topology("redis-cluster"), tmp_path_factory.mktemp("run") / run_id, run_id, hosts="netns"
    ) as dep:
        yield dep
    assert_nothing_left_after_faults(dep.res)


@pytest.fixture()
def ctx(cluster: Deployment) -> FaultContext:
    wait_settled(cluster)
    return FaultContext(dep=cluster, rng=random.Random(11))


def key_in_slots_of(dep: Deployment, name: str) -> Callable[[int], str]:
    """Keys that hash to slots ``name`` serves now."""
    mine = [
        (lo, hi) for e in cluster_nodes(dep.node(name)) if "myself" in e["flags"] for lo, hi in e["slots"]
    ]

    def key(i: int) -> str:
        j = i
        while True:
            k = f"k{j}"
            if any(lo <= key_slot(k.encode()) <= hi for lo, hi in mine):
                return k
            j += 1_000_003

    return key


def proxy_socket(dep: Deployment, name: str) -> socket.socket:
    p = dep.node(name).client_proxy
    return socket.create_connection((p.listen_host, p.listen_port), timeout=1.0)


def ping(sock: socket.socket) -> tuple[bytes | str, float]:
    """One PING on a raw connection: the reply (or the exception's name) and the milliseconds."""
    t0 = time.monotonic()
    try:
        sock.sendall(b"PING\r\n")
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = sock.recv(100)
            if not chunk:
                return data or "EOF", (time.monotonic() - t0) * 1000
            data += chunk
        return data, (time.monotonic() - t0) * 1000
    except OSError as exc:
        return type(exc).__name__, (time.monotonic() - t0) * 1000


# -- toxics ---------------------------------------------------------------------------------------


@needs_netns
def test_latency_hits_a_pooled_connection_opened_before_it(ctx: FaultContext) -> None:
    dep = ctx.dep
    # A pooled client, connected before the toxic; the server names the connection by its id.
    client = dep.client("r5", socket_timeout=5, single_connection_client=True)
    try:
        conn_id = client.client_id()
        base = _median_ms(client)
        fault = make_fault("latency", {"ms": 150, "jitter_ms": 0}, "r5")
        applied = fault.apply(ctx)
        try:
            assert [t["name"] for t in dep.toxiproxy.toxics("r5-client")] == [applied["toxics"][0]["name"]]
            slow = _median_ms(client)
            assert client.client_id() == conn_id, "the measured connection must be the one opened before"
        finally:
            healed = fault.heal(ctx)
        fast = _median_ms(client)
    finally:
        client.close()
    assert healed["removed"] and dep.toxiproxy.toxics("r5-client") == []
    # before and after the toxic the connection does not pay it (relative: no bound on CPU speed)
    assert base < slow - 100 and fast < slow - 100, (base, slow, fast)
    assert slow >= 145, f"the open connection should pay the 150 ms toxic, median {slow:.1f} ms"
    assert "affected" in applied["open_connections"]


def _median_ms(client: redis.Redis, n: int = 5) -> float:
    times = []
    for _ in range(n):
        t0 = time.monotonic()
        assert client.ping()
        times.append((time.monotonic() - t0) * 1000)
    return sorted(times)[n // 2]


OPEN_CONNECTION_CASES: dict[str, tuple[dict[str, Any], Callable[[list[tuple[bytes | str, float]]], bool]]] = {
    # fault: (params, what three PINGs on a connection opened before the fault must show)
    "bandwidth": ({"kb_s": 0}, lambda r: r[0][0] == "TimeoutError"),
    "blackhole": ({}, lambda r: r[0][0] == "TimeoutError"),
    "reset-peer": ({}, lambda r: r[0][0] in ("EOF", "ConnectionResetError", "BrokenPipeError")),
    "slicer": ({"average_size": 1, "delay_us": 60_000}, lambda r: r[0][0] == b"+PONG\r\n" and r[0][1] >= 250),
    "limit-data": ({"bytes": 16}, lambda r: r[0][0] == b"+PONG\r\n" and r[2][0] != b"+PONG\r\n"),
    "proxy-down": ({}, lambda r: r[0][0] in ("EOF", "ConnectionResetError", "BrokenPipeError")),
}


@needs_netns
@pytest.mark.parametrize("kind", sorted(OPEN_CONNECTION_CASES))
def test_toxic_hits_a_connection_opened_before_it(ctx: FaultContext, kind: str) -> None:
    params, expected = OPEN_CONNECTION_CASES[kind]
    sock = proxy_socket(ctx.dep, "r6")
    assert ping(sock)[0] == b"+PONG\r\n"
    fault = make_fault(kind, params, "r6")
    fault.apply(ctx)
    try:
        replies = [ping(sock) for _ in range(3)]
        if kind == "proxy-down":
            with pytest.raises(ConnectionRefusedError):
                proxy_socket(ctx.dep, "r6")
    finally:
        fault.heal(ctx)
        sock.close()
    assert expected(replies), f"{kind} on an open connection: {replies}"
    fresh = proxy_socket(ctx.dep, "r6")
    try:
        assert ping(fresh)[0] == b"+PONG\r\n", "a new connection after heal must work"
    finally:
        fresh.close()


# -- partitions -------------------------------------------------------------------------------------


@needs_netns
def test_isolated_master_sees_the_cluster_fail_and_the_majority_promotes(ctx: FaultContext) -> None:
    dep = ctx.dep
    old = master_of_slot(dep, 0)
    replica = redis_roles(dep)
    (heir,) = [n for n, r in replica.items() if r.master == old]
    fault = make_fault("isolate", {}, "master-of-slot:0")
    applied = fault.apply(ctx)
    try:
        assert applied["sides"][0]["a"] == [old]
        # The isolated master's own view: cluster down, every peer failing.
        wait_for(
            "isolated master reports cluster_state:fail",
            lambda: cluster_info(dep, old)["cluster_state"] == "fail",
            15,
        )
        wait_for(
            "isolated master flags every peer fail?",
            lambda: all(
                {"fail?", "fail"} & set(e["flags"])
                for e in cluster_nodes(dep.node(old))
                if "myself" not in e["flags"]
            ),
            15,
            lambda: views(dep),
        )
        # The majority: old master failed, its replica promoted and serving slot 0.
        wait_for(
            "majority promotes the replica",
            lambda: redis_roles(dep)[heir].role == "master" and master_of_slot(dep, 0) == heir,
            20,
            lambda: views(dep),
        )
    finally:
        healed = fault.heal(ctx)
    assert healed["rules_left"] == {}
    wait_for(
        "the old master rejoins as a replica of the new", lambda: redis_roles(dep)[old].master == heir, 30
    )


@needs_netns
def test_isolate_primaries_cuts_replication_without_failover(ctx: FaultContext) -> None:
    dep = ctx.dep
    before = {n: r.role for n, r in redis_roles(dep).items()}
    fault = make_fault("isolate-primaries")
    applied = fault.apply(ctx)
    try:
        assert len(applied["sides"]) == 3
        pairs = {s["a"][0]: s["b"][0] for s in applied["sides"]}
        # Each master's view: its replica stopped acknowledging (REPLCONF ACK comes every second).
        wait_for(
            "every master sees its replica's ACKs stop (lag >= 3 s)",
            lambda: all(int(dep.node(m).admin().info("replication")["slave0"]["lag"]) >= 3 for m in pairs),
            20,
        )
        # Each replica's view: its own master unreachable (fail?), flagged once node-timeout passes.

        def replicas_flag_their_masters() -> bool:
            for m, r in pairs.items():
                p = dep.node(m).client_proxy
                flags = {e["address"]: e["flags"] for e in cluster_nodes(dep.node(r))}
                if not {"fail?", "fail"} & set(flags[(p.listen_host, p.listen_port)]):
                    return False
            return True

        wait_for(
            "each replica flags its own master fail?", replicas_flag_their_masters, 15, lambda: views(dep)
        )
        # The masters keep their majority among themselves: no replica is promoted.
        assert {n: r.role for n, r in redis_roles(dep).items()} == before
        assert all(cluster_info(dep, n)["cluster_state"] == "ok" for n, r in before.items() if r == "master")
    finally:
        fault.heal(ctx)
    wait_for(
        "replicas acknowledge again",
        lambda: all(int(dep.node(m).admin().info("replication")["slave0"]["lag"]) <= 1 for m in pairs),
        30,
    )


@needs_netns
def test_split_minority_sees_the_majority_failing(ctx: FaultContext) -> None:
    dep = ctx.dep
    fault = make_fault("split", {"minority_size": 2})
    applied = fault.apply(ctx)
    minority, majority = applied["sides"][0]["a"], applied["sides"][0]["b"]
    assert len(minority) == 2 and len(majority) == 4
    addr = {n.name: (n.client_proxy.listen_host, n.client_proxy.listen_port) for n in dep.redis}

    def minority_flags_majority() -> bool:
        for m in minority:
            flags = {e["address"]: e["flags"] for e in cluster_nodes(dep.node(m))}
            if not all({"fail?", "fail"} & set(flags[addr[o]]) for o in majority):
                return False
        return True

    def minority_cluster_down() -> bool:
        # the state follows the flags on the node's next cron tick (100 ms): poll it too
        return all(cluster_info(dep, m)["cluster_state"] == "fail" for m in minority)

    try:
        wait_for(
            "each minority node flags every majority node failing",
            minority_flags_majority,
            15,
            lambda: views(dep),
        )
        wait_for("each minority node says the cluster is down", minority_cluster_down, 5, lambda: views(dep))
    finally:
        healed = fault.heal(ctx)
    assert healed["rules_left"] == {}


# -- Redis admin ------------------------------------------------------------------------------------


@needs_netns
@pytest.mark.parametrize(("mode", "slot"), [("default", 0), ("force", 6000), ("takeover", 12000)])
def test_cluster_failover_swaps_roles_in_cluster_nodes(ctx: FaultContext, mode: str, slot: int) -> None:
    dep = ctx.dep
    old = master_of_slot(dep, slot)
    fault = make_fault("cluster-failover", {"mode": mode}, f"replicas-of:master-of-slot:{slot}")
    applied = fault.apply(ctx)
    new = applied["failed_over"][0]["replica"]
    assert applied["promoted"] == {new: True}

    def swapped_in_every_view() -> bool:
        by_addr = {n.client_proxy.address: n.name for n in dep.redis}
        ids = {by_addr[f"{e['address'][0]}:{e['address'][1]}"]: e["id"] for e in cluster_nodes(dep.node(new))}
        for observer in dep.redis:
            entries = {e["id"]: e for e in cluster_nodes(observer)}
            if "master" not in entries[ids[new]]["flags"] or "slave" not in entries[ids[old]]["flags"]:
                return False
            if entries[ids[old]]["master_id"] != ids[new]:
                return False
        return True

    wait_for(
        f"CLUSTER NODES everywhere shows {new} master, {old} its replica",
        swapped_in_every_view,
        20,
        lambda: views(dep),
    )
    assert master_of_slot(dep, slot) == new
    healed = fault.heal(ctx)
    assert healed["roles"][new] == "master" and healed["masters_of"][old] == new


@needs_netns
def test_config_set_turns_on_the_aof_on_disk_and_heal_restores(ctx: FaultContext) -> None:
    dep = ctx.dep
    name = master_of_slot(dep, 100)
    node = dep.node(name)
    fault = make_fault("config-set", {"settings": {"appendonly": True, "appendfsync": "always"}}, name)
    applied = fault.apply(ctx)
    assert applied["before"][name] == {"appendonly": "no", "appendfsync": "everysec"}
    try:
        key = key_in_slots_of(dep, name)
        wait_for(
            "AOF rewrite finished",
            lambda: (
                node.admin().info("persistence")["aof_rewrite_in_progress"] == 0
                and node.admin().info("persistence")["aof_enabled"] == 1
            ),
            15,
        )
        for i in range(20):
            node.admin().set(key(i), f"aof-value-{i}")
        aof_dir = node.data_dir / "appendonlydir"
        files = sorted(p.name for p in aof_dir.iterdir())
        assert any(f.endswith(".manifest") for f in files), files
        incr = [p for p in aof_dir.iterdir() if p.name.endswith(".incr.aof")]
        assert incr and b"aof-value-19" in b"".join(p.read_bytes() for p in incr)
    finally:
        fault.heal(ctx)
    assert node.admin().config_get("appendonly") == {"appendonly": "no"}
    assert node.admin().config_get("appendfsync") == {"appendfsync": "everysec"}


# -- processes --------------------------------------------------------------------------------------


@needs_netns
def test_kill_master_restarts_at_heal_as_a_replica_with_a_new_pid(ctx: FaultContext) -> None:
    dep = ctx.dep
    old = master_of_slot(dep, 7000)
    (heir,) = [n for n, r in redis_roles(dep).items() if r.master == old]
    node = dep.node(old)
    assert node.process is not None
    old_pid = node.process.pid
    fault = make_fault("kill", {}, "master-of-slot:7000")
    applied = fault.apply(ctx)
    assert applied["stopped"][0]["node"] == old and applied["restart"] == "at heal"
    assert not pid_alive(old_pid)
    wait_for(
        "the majority promotes the killed master's replica",
        lambda: master_of_slot(dep, 7000) == heir,
        20,
        lambda: views(dep),
    )
    healed = fault.heal(ctx)
    assert node.process is not None and node.process.pid != old_pid
    assert healed["restarted"][0]["new_pid"] == node.process.pid
    assert node.admin().ping()
    assert any(p.pid == node.process.pid for p in dep.res.processes), "the new pid is in the run's records"
    wait_for(
        "the restarted node rejoins as a replica of the promoted one",
        lambda: (
            redis_roles(dep)[old].master == heir
            and node.admin().info("replication")["master_link_status"] == "up"
        ),
        30,
        lambda: views(dep),
    )


@needs_netns
def test_kill_with_a_timed_restart_restarts_before_heal(ctx: FaultContext) -> None:
    dep = ctx.dep
    fault = make_fault("kill", {"restart_after_s": 0.5}, "replicas-of:master-of-slot:0")
    applied = fault.apply(ctx)
    name = applied["stopped"][0]["node"]
    old_pid = applied["stopped"][0]["pid"]
    node = dep.node(name)
    wait_for(
        "the timer restarts it",
        lambda: node.process is not None and node.process.pid != old_pid and node.admin().ping(),
        15,
    )
    healed = fault.heal(ctx)
    assert [e["node"] for e in healed["restarted"]] == [name]
    wait_for(
        "it is a replica again", lambda: node.admin().info("replication")["master_link_status"] == "up", 30
    )


@needs_netns
def test_graceful_restart_keeps_the_node_identity(ctx: FaultContext) -> None:
    dep = ctx.dep
    target = sorted(n for n, r in redis_roles(dep).items() if r.role == "replica")[0]
    node = dep.node(target)
    my_id = str(node.admin().execute_command("CLUSTER", "MYID"))
    fault = make_fault("restart", {}, target)
    applied = fault.apply(ctx)
    assert applied["stopped"][0]["graceful"] is True and applied["restarted"]
    assert str(node.admin().execute_command("CLUSTER", "MYID")) == my_id, "nodes.conf kept: same identity"
    fault.heal(ctx)
    wait_for("link up again", lambda: node.admin().info("replication")["master_link_status"] == "up", 30)


@needs_netns
def test_paused_replica_lags_and_catches_up_after_heal(ctx: FaultContext) -> None:
    dep = ctx.dep
    master = master_of_slot(dep, 0)
    (replica,) = [n for n, r in redis_roles(dep).items() if r.master == master]
    m, r = dep.node(master), dep.node(replica)
    assert r.process is not None
    fault = make_fault("pause", {}, "replicas-of:master-of-slot:0")
    applied = fault.apply(ctx)
    try:
        assert applied["paused"][0]["node"] == replica and is_stopped(r.process.pid)
        acked_before = _replica_offset_seen_by(m)
        key = key_in_slots_of(dep, master)
        for i in range(200):
            m.admin().set(key(i), "x" * 100)
        master_offset = int(m.admin().info("replication")["master_repl_offset"])
        # The master's view: its offset moved on, the replica acknowledged nothing more.
        assert master_offset > acked_before + 200 * 100
        assert _replica_offset_seen_by(m) == acked_before
    finally:
        healed = fault.heal(ctx)
    assert healed["resumed"][0]["node"] == replica and not is_stopped(r.process.pid)
    wait_for(
        "the replica catches up (its own offset reaches the master's)",
        lambda: int(r.admin().info("replication")["slave_repl_offset"]) >= master_offset,
        20,
    )


def _replica_offset_seen_by(master: Any) -> int:
    info = master.admin().info("replication")
    return int(info["slave0"]["offset"])


# -- teardown with a fault in place ----------------------------------------------------------------


def test_exception_and_ctrl_c_during_a_pause_leave_nothing(tmp_path: Path) -> None:
    for exc in (RuntimeError, KeyboardInterrupt):
        run_id = run_id_now("test-pause-")
        seen: list[RunResources] = []
        with pytest.raises(exc), deploy(load_topology("redis-replicated"), tmp_path / run_id, run_id) as dep:
            seen.append(dep.res)
            ctx = FaultContext(dep=dep, rng=random.Random(1))
            make_fault("pause", {}, "r2").apply(ctx)
            make_fault("kill", {"restart_after_s": 0.3}, "r1").apply(ctx)  # its timer fires mid-teardown
            raise exc()
        wait_for("no labelled process", lambda rid=run_id: not labelled_pids(rid), 5)
        assert_nothing_left_after_faults(seen[0])


def test_sigint_to_a_run_with_a_paused_server_leaves_nothing(tmp_path: Path) -> None:
    """A real Ctrl-C (SIGINT) while a server is paused: teardown resumes and stops it."""
    run_dir = tmp_path / "run"
    script = (
        "import random, sys, time\n"
        "from pathlib import Path\n"
        "from harness.faults import make_fault\n"
        "from harness.faults.base import FaultContext\n"
        "from tests.live.backend import deploy\n"
        "from harness.topology.spec import load_topology\n"
        f"run_id, run_dir = 'test-sigint-{os.getpid()}', Path({str(run_dir)!r})\n"
        "with deploy(load_topology('redis-replicated'), run_dir, run_id) as dep:\n"
        "    make_fault('pause', {}, 'r2').apply(FaultContext(dep=dep, rng=random.Random(1)))\n"
        "    print('paused', flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "paused"
        res = RunResources.load(run_dir / "resources.json")
        r2 = next(p for p in res.processes if p.name == "redis-r2")
        assert is_stopped(server_pid(r2))
        proc.send_signal(signal.SIGINT)  # , as a terminal's Ctrl-C
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert_nothing_left_after_faults(RunResources.load(run_dir / "resources.json"))
