"""Hosts as Docker containers: the docker backend's network.

One user-defined bridge network per run, labelled with the run id, on a free /24 of 10.214.0.0/16.
Every node is one container with a fixed address on it (``--ip``), its server as the container's
main process; Toxiproxy is a container of its own at ``.2``, and every proxy listens there, so, as
on the local backend, everything a node sends a peer goes through the peer's proxy. This machine
reaches every address of the network directly (the engine's bridge), so clients and the harness's
observers need no published ports, and nothing listens beyond this machine.

Each node's network namespace is held by a container of its own (``<node>-net``, running
``sleep infinity``) that its server's container joins (``--network container:``), as a pod's
pause container does, so the namespace outlives the server as a host outlives a crashed process: a
killed server's peers (the proxies) get resets at once and drop what they hold for it. A container
owning its namespace would take it along, and the proxies would go on delivering what they had
buffered from it, seconds of replication stream: a machine gone dark, not a process crashed. A
partition is the local backend's: DROP rules in chain ``HARNESS-PARTITION`` in the node's
namespace, entered from OUTPUT and INPUT, here through ``nsenter`` into the holder's namespace.
"""

from __future__ import annotations

import ipaddress
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.topology.docker_cli import NODE_LABEL, RUN_LABEL, container_pid, docker
from harness.topology.docker_process import ContainerProcess
from harness.topology.lifecycle import RunResources, creating, machine_lock
from harness.topology.network import CHAIN, Host, Network, partition_rules, pick_subnet
from harness.topology.processes import ServerProcess

SUBNET_BASE = ipaddress.IPv4Network("10.214.0.0/16")
TOXIPROXY_API_PORT = 8474


@dataclass(frozen=True)
class Image:
    """Where a server binary comes from on this backend: an image and the command inside it."""

    ref: str
    entrypoint: str


def holder_name(container: str) -> str:
    """The container holding the network namespace a node's server ``container`` joins."""
    return f"{container}-net"


@dataclass(frozen=True)
class DockerHost(Host):
    container: str = ""
    network: DockerNetwork | None = field(default=None, compare=False, repr=False)
    partitioned: bool = True  # a node's host has the partition chain; Toxiproxy's has none

    def wrap(self, cmd: list[str]) -> list[str]:
        """``cmd`` run from this machine inside the node's network namespace (its holder's)."""
        assert self.network is not None
        return ["nsenter", "--target", str(self.network.holder_pid(self)), "--net", *cmd]

    def spawn(self, name: str, cmd: list[str], log: Path, res: RunResources) -> ServerProcess:
        """Starts the server as this host's container (see :mod:`harness.topology.docker_process`)."""
        assert self.network is not None
        return self.network.start_container(self, name, cmd, log, res)


class DockerNetwork(Network):
    kind = "docker"
    partitions_supported = True

    def __init__(self, res: RunResources, tag: str, images: Mapping[str, Image]) -> None:
        self.res = res
        self.tag = tag
        self.images = dict(images)
        self.name = f"hx-{tag}"
        self._next_host = 10
        self._pids: dict[str, int] = {}  # host name -> the main pid of its namespace's holder
        # As on the local backend, choosing a /24 and taking it is one step under a machine-wide lock.
        with machine_lock("subnets"):
            self.subnet = pick_subnet(SUBNET_BASE, tag)
            gateway = str(self.subnet.network_address + 1)
            with creating():
                res.add_docker("network", self.name)
                docker(
                    "network", "create", "--driver", "bridge", "--subnet", str(self.subnet),
                    "--gateway", gateway, "--label", f"{RUN_LABEL}={res.run_id}", self.name,
                )  # fmt: skip
        self.proxy_address = str(self.subnet.network_address + 2)
        res.info["subnet"] = str(self.subnet)
        res.info["docker_network"] = self.name
        res.save()

    # -- hosts and their containers -------------------------------------------------------------
    def add_host(self, name: str) -> Host:
        """A node's place: its namespace's holder, started at once, with the partition chain."""
        address = str(self.subnet.network_address + self._next_host)
        self._next_host += 1
        host = DockerHost(name, address, None, container=f"hx-{self.tag}-{name}", network=self)
        holder, pause = holder_name(host.container), self.images["pause"]
        with creating():
            self.res.add_docker("container", holder)
            docker(
                "run", "--detach", "--name", holder, "--label", f"{RUN_LABEL}={self.res.run_id}",
                "--label", f"{NODE_LABEL}={name}", "--network", self.name, "--ip", address,
                "--entrypoint", pause.entrypoint, pause.ref, "infinity",
            )  # fmt: skip
        pid = container_pid(holder)
        if not pid:
            raise HarnessError(f"container {holder} (the network namespace of {name}) is not running")
        self._pids[name] = pid
        for rule in (["-N", CHAIN], ["-A", "OUTPUT", "-j", CHAIN], ["-A", "INPUT", "-j", CHAIN]):
            self._iptables(host, *rule)
        return host

    def toxiproxy_place(self) -> tuple[Host, str, int]:
        """Toxiproxy's own container at ``.2``: its proxies and its API listen on that address."""
        host = DockerHost(
            "toxiproxy", self.proxy_address, None, container=f"hx-{self.tag}-toxiproxy", network=self,
            partitioned=False,
        )  # fmt: skip
        return host, self.proxy_address, TOXIPROXY_API_PORT

    def node_ports(self) -> tuple[int, int]:
        return 6379, 16379  # each node has its own network stack

    def start_container(
        self, host: DockerHost, name: str, cmd: list[str], log: Path, res: RunResources
    ) -> ContainerProcess:
        """``docker run`` of the image that holds ``cmd[0]``, attached to ``log``; the run
        directory is mounted at the same path, so configs, data and logs keep their paths."""
        binary = Path(cmd[0]).name
        image = self.images.get(binary)
        if image is None:
            raise HarnessError(f"no image for {binary} on the docker backend (run 'harness images build')")
        run_dir = str(Path(res.run_dir).resolve())
        # a node joins its holder's namespace; Toxiproxy (never partitioned) sits on the network
        place = (
            ["--network", f"container:{holder_name(host.container)}"]
            if host.partitioned
            else ["--network", self.name, "--ip", host.address]
        )
        argv = [
            "docker", "run", "--name", host.container, "--label", f"{RUN_LABEL}={res.run_id}",
            "--label", f"{NODE_LABEL}={host.name}", *place, "--volume", f"{run_dir}:{run_dir}",
            "--entrypoint", image.entrypoint, image.ref, *cmd[1:],
        ]  # fmt: skip
        with creating():  # recorded before it exists: a crash in between still leaves it findable
            res.add_docker("container", host.container)
        return ContainerProcess(name, host.container, argv, log, res)

    def holder_pid(self, host: Host) -> int:
        pid = self._pids.get(host.name, 0)
        if not pid:
            raise HarnessError(f"{host.name} has no network namespace of its own on the docker backend")
        return pid

    def _iptables(self, host: Host, *args: str, check: bool = True) -> str:
        cmd = ["nsenter", "--target", str(self.holder_pid(host)), "--net", "iptables", *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=15)
        if check and proc.returncode != 0:
            raise HarnessError(f"command failed: {' '.join(cmd)}: {proc.stderr.strip()}")
        return proc.stdout

    # -- partitions -----------------------------------------------------------------------------
    def block(self, host: Host, ports: list[int]) -> None:
        for rule in partition_rules(self.proxy_address, ports):
            self._iptables(host, "-A", CHAIN, *rule)

    def unblock(self, host: Host, ports: list[int]) -> None:
        for rule in partition_rules(self.proxy_address, ports):
            # -D deletes the first matching rule; a rule that is already gone is not an error.
            self._iptables(host, "-D", CHAIN, *rule, check=False)

    def heal(self, host: Host) -> None:
        self._iptables(host, "-F", CHAIN)

    def rules(self, host: Host) -> list[str]:
        return [line for line in self._iptables(host, "-S", CHAIN).splitlines() if line.startswith("-A")]
