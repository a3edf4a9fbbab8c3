"""Redis nodes on the local backend: config, start, cluster formation, health.

Nodes announce their proxy addresses (``cluster-announce-*`` for Cluster, ``replica-announce-*``
for how a master lists its replicas), so clients following MOVED/ASK and replicas syncing from a
master all go through Toxiproxy. The harness's own admin traffic (formation, health, stats) uses the node's
direct address so that toxics and partitions never blind the observer.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from harness.doctor import find_binary
from harness.errors import MissingBinaryError, NotHealthyError
from harness.topology.lifecycle import RunResources
from harness.topology.network import Host
from harness.topology.processes import ServerProcess, log_tail
from harness.topology.spec import RedisNodeSpec, RedisSpec
from harness.topology.toxiproxy import ProxyInfo

SLOTS = 16384
REDIS_HINT = "Run 'make setup' (it installs Debian's redis-server), or put redis-server 7+ on PATH."


@dataclass
class RedisNode:
    spec: RedisNodeSpec
    host: Host
    port: int
    bus_port: int
    client_proxy: ProxyInfo
    bus_proxy: ProxyInfo
    data_dir: Path
    log: Path
    process: ServerProcess | None = None
    node_id: str = ""
    #: A replica's own link to its master (replicated mode): a toxic here lags its replication
    #: alone, not the master's clients (the stale-reads case study's lagging replica).
    repl_proxy: ProxyInfo | None = None
    _admin: redis.Redis | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def direct(self) -> str:
        return f"{self.host.address}:{self.port}"

    @property
    def client_address(self) -> tuple[str, int]:
        """Where clients reach this node: its Toxiproxy proxy, never the server itself."""
        return (self.client_proxy.listen_host, self.client_proxy.listen_port)

    def admin(self) -> redis.Redis:
        """A connection that bypasses the proxy (observer path), with short timeouts and no retries."""
        if self._admin is None:
            self._admin = redis.Redis(
                host=self.host.address,
                port=self.port,
                socket_timeout=2,
                socket_connect_timeout=2,
                decode_responses=True,
                retry=no_retry(),
            )
        return self._admin

    def running(self) -> bool:
        return self.process is not None and self.process.running()

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None


def no_retry() -> Retry:
    """redis-py 6+ retries timeouts and connection errors by default (10 times, with backoff, in
    8.x): a paused node would hold the observer for minutes, and a retried write could apply
    twice. The harness's own clients fail at once and let the caller decide."""
    return Retry(NoBackoff(), 0)


def redis_binary() -> str:
    binary = find_binary("redis-server")
    if binary is None:
        raise MissingBinaryError("redis-server", REDIS_HINT)
    return binary


def redis_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=5).stdout
    for word in out.split():
        if word.startswith("v="):
            return word[2:]
    return out.strip()


def _conf_value(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    return '""' if text == "" else text


def write_config(node: RedisNode, spec: RedisSpec, primary: RedisNode | None) -> Path:
    lines = [
        f"port {node.port}",
        f"bind {node.host.address}",
        f"dir {node.data_dir}",
        "daemonize no",
        'logfile ""',
    ]
    if spec.mode == "cluster":
        lines += [
            "cluster-enabled yes",
            "cluster-config-file nodes.conf",
            f"cluster-port {node.bus_port}",
            f"cluster-announce-ip {node.client_proxy.listen_host}",
            f"cluster-announce-port {node.client_proxy.listen_port}",
            f"cluster-announce-bus-port {node.bus_proxy.listen_port}",
        ]
    # In a cluster too: a master lists its replicas (INFO, ROLE) where they say they listen, which
    # without this is the replica's direct port (on the bridge address in netns mode: nowhere).
    lines += [
        f"replica-announce-ip {node.client_proxy.listen_host}",
        f"replica-announce-port {node.client_proxy.listen_port}",
    ]
    if primary is not None:
        link = node.repl_proxy or primary.client_proxy
        lines.append(f"replicaof {link.listen_host} {link.listen_port}")
    lines += [f"{k} {_conf_value(v)}" for k, v in spec.settings.items()]
    node.data_dir.mkdir(parents=True, exist_ok=True)
    conf = node.data_dir / "redis.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


def start_node(node: RedisNode, conf: Path, res: RunResources) -> None:
    node.process = node.host.spawn(f"redis-{node.name}", [redis_binary(), str(conf)], node.log, res)


def _poll(
    what: str,
    check: Callable[[], str | None],
    timeout_s: float,
    node_of_failure: Callable[[], RedisNode | None],
) -> None:
    """Polls ``check`` (returns None when satisfied, else what is still wrong) until the deadline;
    the timeout error carries the problem and the log tail of the node concerned."""
    deadline = time.monotonic() + timeout_s
    problem = "not checked"
    while time.monotonic() < deadline:
        try:
            result = check()
        except (redis.RedisError, OSError) as exc:
            result = f"{type(exc).__name__}: {exc}"
        if result is None:
            return
        problem = result
        time.sleep(0.05)
    node = node_of_failure()
    tail = f"\n--- last lines of {node.log} ---\n{log_tail(node.log)}" if node else ""
    raise NotHealthyError(f"{what} not reached within {timeout_s:g}s: {problem}{tail}")


def exited_error(node: RedisNode) -> NotHealthyError:
    return NotHealthyError(
        f"redis-server {node.name} exited\n--- last lines of {node.log} ---\n{log_tail(node.log)}"
    )


def wait_ping(nodes: list[RedisNode], timeout_s: float) -> None:
    for node in nodes:

        def check(n: RedisNode = node) -> str | None:
            if not n.running():
                raise exited_error(n)  # no point waiting for a process that is gone
            return None if n.admin().ping() else "no PONG"

        def failing(n: RedisNode = node) -> RedisNode:
            return n

        _poll(f"node {node.name} answering PING", check, timeout_s, failing)


def slot_ranges(n_masters: int) -> list[tuple[int, int]]:
    """Contiguous, even slot ranges, as redis-cli --cluster create assigns them."""
    per = SLOTS / n_masters
    return [(round(i * per), round((i + 1) * per) - 1) for i in range(n_masters)]


def form_cluster(nodes: list[RedisNode], timeout_s: float) -> None:
    for node in nodes:
        node.node_id = str(node.admin().execute_command("CLUSTER", "MYID"))
    # Distinct config epochs before the nodes meet, as redis-cli --cluster create does; otherwise
    # every master starts at epoch 0 and the collisions are resolved only gradually by gossip.
    for epoch, node in enumerate(nodes, start=1):
        node.admin().execute_command("CLUSTER", "SET-CONFIG-EPOCH", epoch)
    first = nodes[0]
    for node in nodes[1:]:
        node.admin().execute_command(
            "CLUSTER",
            "MEET",
            first.client_proxy.listen_host,
            first.client_proxy.listen_port,
            first.bus_proxy.listen_port,
        )
    masters = [n for n in nodes if n.spec.role == "master"]
    for node, (lo, hi) in zip(masters, slot_ranges(len(masters)), strict=True):
        node.admin().execute_command("CLUSTER", "ADDSLOTSRANGE", lo, hi)

    lagging: list[RedisNode | None] = [None]

    def all_known() -> str | None:
        for node in nodes:
            lines = str(node.admin().execute_command("CLUSTER", "NODES")).strip().splitlines()
            joined = [ln for ln in lines if "handshake" not in ln and "noaddr" not in ln]
            if len(joined) < len(nodes):
                lagging[0] = node
                return f"{node.name} knows {len(joined)} of {len(nodes)} nodes"
        return None

    # On timeout the error carries the log tail of the node that still did not know everyone.
    _poll("every node knowing every other", all_known, timeout_s, lambda: lagging[0])
    by_name = {n.name: n for n in nodes}
    for node in nodes:
        if node.spec.role == "replica":
            assert node.spec.replica_of is not None
            node.admin().execute_command("CLUSTER", "REPLICATE", by_name[node.spec.replica_of].node_id)


def cluster_health_problem(nodes: list[RedisNode], live_roles: bool = False) -> tuple[str, RedisNode] | None:
    """None when healthy: every node says cluster_state:ok and sees all slots served, and every
    replica's link to its master is up. Otherwise the first problem and the node it concerns.
    ``live_roles``: judge replicas by the role each node has now (after a failover the spec's
    replica may be a master), not by the topology file."""
    for node in nodes:
        info = str(node.admin().execute_command("CLUSTER", "INFO"))
        fields = dict(line.split(":", 1) for line in info.split() if ":" in line)
        if fields.get("cluster_state") != "ok":
            return f"{node.name}: cluster_state:{fields.get('cluster_state')}", node
        if fields.get("cluster_slots_ok") != str(SLOTS):
            return f"{node.name}: cluster_slots_ok:{fields.get('cluster_slots_ok')}", node
    return replication_problem(nodes, live_roles)


def replication_problem(nodes: list[RedisNode], live_roles: bool = False) -> tuple[str, RedisNode] | None:
    for node in nodes:
        if not live_roles and node.spec.role != "replica":
            continue
        repl: dict[str, Any] = node.admin().info("replication")
        if live_roles and repl.get("role") != "slave":
            continue
        if repl.get("role") != "slave" or repl.get("master_link_status") != "up":
            return (
                f"{node.name}: role {repl.get('role')}, master_link_status {repl.get('master_link_status')}"
            ), node
    return None


def wait_healthy(nodes: list[RedisNode], mode: str, timeout_s: float, live_roles: bool = False) -> None:
    last: list[RedisNode | None] = [None]

    def check() -> str | None:
        for node in nodes:
            if not node.running():
                raise exited_error(node)
        found = (
            cluster_health_problem(nodes, live_roles)
            if mode == "cluster"
            else replication_problem(nodes, live_roles)
        )
        if found is None:
            return None
        last[0] = found[1]
        return found[0]

    _poll("a healthy topology", check, timeout_s, lambda: last[0])
