"""Hosts: where nodes run and how they are addressed, plus the iptables partition primitive.

``NetnsNetwork`` (root on Linux): a private bridge in the root namespace carrying a /24; every node
gets a namespace with its own address. Proxies listen on the bridge address, so everything a node
sends to a peer goes through the peer's proxy, and a partition is a set of DROP rules inside the
hosts for the other side's proxy ports. ``LoopbackNetwork``: no hosts; nodes and proxies share
127.0.0.1 and partitions are unsupported (reported, never faked).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError, UnsupportedError
from harness.topology import forward
from harness.topology.lifecycle import (
    BRIDGE_PREFIX,
    NETNS_PREFIX,
    VETH_PREFIX,
    RunResources,
    creating,
    list_links,
    machine_lock,
)
from harness.topology.processes import ServerProcess

CHAIN = "HARNESS-PARTITION"
SUBNET_BASE = ipaddress.IPv4Network("10.213.0.0/16")


def _ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = ["ip", "netns", "exec", netns, *args] if netns else list(args)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=15)
    if check and proc.returncode != 0:
        raise HarnessError(f"command failed: {' '.join(cmd)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def netns_supported() -> tuple[bool, str]:
    if not sys.platform.startswith("linux"):
        return False, "network namespaces need Linux"
    if os.geteuid() != 0:
        return False, "network namespaces and iptables need root"
    for tool in ("ip", "iptables"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            return False, f"'{tool}' is not installed (run 'make setup')"
    return True, ""


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Host:
    """One node's place on the network: the address it listens on and how to run a command there."""

    name: str
    address: str
    netns: str | None

    def wrap(self, cmd: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *cmd] if self.netns else cmd

    def spawn(self, name: str, cmd: list[str], log: Path, res: RunResources) -> ServerProcess:
        """Starts a server on this host: here, a child process in the host's namespace."""
        return ServerProcess(name, self.wrap(cmd), log, res)


class Network:
    kind: str = "abstract"
    partitions_supported: bool = False
    # Address the proxies listen on, reachable from the root namespace and from every host.
    proxy_address: str = "127.0.0.1"

    def add_host(self, name: str) -> Host:
        raise NotImplementedError

    def node_ports(self) -> tuple[int, int]:
        """(client port, cluster-bus port) a node should listen on."""
        raise NotImplementedError

    def toxiproxy_place(self) -> tuple[Host, str, int] | None:
        """Where Toxiproxy runs and its API listens, when this network has a place of its own for
        it (None: a local process on loopback)."""
        return None

    def block(self, host: Host, ports: list[int]) -> None:
        """Drops everything ``host`` sends to the proxy ports ``ports`` and receives from them."""
        raise UnsupportedError(f"partitions are unsupported on {self.kind} hosts")

    def unblock(self, host: Host, ports: list[int]) -> None:
        """Removes one rule per port that ``block`` added (others, e.g. an overlapping partition's, stay)."""
        raise UnsupportedError(f"partitions are unsupported on {self.kind} hosts")

    def heal(self, host: Host) -> None:
        raise UnsupportedError(f"partitions are unsupported on {self.kind} hosts")

    def rules(self, host: Host) -> list[str]:
        return []


class LoopbackNetwork(Network):
    kind = "loopback"

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def add_host(self, name: str) -> Host:
        return Host(name=name, address="127.0.0.1", netns=None)

    def node_ports(self) -> tuple[int, int]:
        return free_port("127.0.0.1"), free_port("127.0.0.1")


class NetnsNetwork(Network):
    kind = "netns"
    partitions_supported = True

    def __init__(self, res: RunResources, tag: str) -> None:
        self.res = res
        self.tag = tag  # short, unique per run: names are limited to 15 characters
        self.bridge = f"{BRIDGE_PREFIX}{tag}"
        self._next_host = 10
        self.hosts: list[Host] = []
        # Picking a free /24 and taking it (the bridge's address) is one step under a machine-wide
        # lock: two runs starting together would otherwise take the same subnet, and each would
        # reach the other's servers.
        with machine_lock("subnets"):
            self.subnet = pick_subnet(SUBNET_BASE, tag)
            self.proxy_address = str(next(iter(self.subnet.hosts())))
            with creating():  # another run's reap sweeps our-named links no run claims
                res.add_link(self.bridge)
                _ip("ip", "link", "add", self.bridge, "type", "bridge")
            _ip("ip", "addr", "add", f"{self.proxy_address}/{self.subnet.prefixlen}", "dev", self.bridge)
        _ip("ip", "link", "set", self.bridge, "up")
        # Hosts keep reaching each other across the bridge when a Docker engine (or any firewall) has
        # set FORWARD's policy to DROP: see harness/topology/forward.py.
        rule = forward.bridge_rule(self.bridge, res.run_id)
        with creating():
            res.add_forward_rule(rule)
            forward.insert(rule)
        res.info["subnet"] = str(self.subnet)
        res.save()

    def add_host(self, name: str) -> Host:
        ns = f"{NETNS_PREFIX}{self.tag}-{name}"
        idx = len(self.hosts)
        outer, inner = f"{VETH_PREFIX}{self.tag}{idx}a", f"{VETH_PREFIX}{self.tag}{idx}b"
        address = str(self.subnet.network_address + self._next_host)
        self._next_host += 1
        with creating():  # as the bridge: a concurrent run's reap would take them
            self.res.add_netns(ns)
            _ip("ip", "netns", "add", ns)
            self.res.add_link(outer)
            _ip("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
        _ip("ip", "link", "set", inner, "netns", ns)
        _ip("ip", "link", "set", outer, "master", self.bridge)
        _ip("ip", "link", "set", outer, "up")
        _ip("ip", "link", "set", "lo", "up", netns=ns)
        _ip("ip", "addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", inner, netns=ns)
        _ip("ip", "link", "set", inner, "up", netns=ns)
        _ip("iptables", "-N", CHAIN, netns=ns)
        _ip("iptables", "-A", "OUTPUT", "-j", CHAIN, netns=ns)
        _ip("iptables", "-A", "INPUT", "-j", CHAIN, netns=ns)
        host = Host(name=name, address=address, netns=ns)
        self.hosts.append(host)
        return host

    def node_ports(self) -> tuple[int, int]:
        # Each host has its own stack, so the standard ports never collide.
        return 6379, 16379

    def _rules(self, ports: list[int]) -> list[list[str]]:
        return partition_rules(self.proxy_address, ports)

    def block(self, host: Host, ports: list[int]) -> None:
        assert host.netns is not None
        for rule in self._rules(ports):
            _ip("iptables", "-A", CHAIN, *rule, netns=host.netns)

    def unblock(self, host: Host, ports: list[int]) -> None:
        assert host.netns is not None
        for rule in self._rules(ports):
            # -D deletes the first matching rule; a rule that is already gone is not an error.
            _ip("iptables", "-D", CHAIN, *rule, netns=host.netns, check=False)

    def heal(self, host: Host) -> None:
        assert host.netns is not None
        _ip("iptables", "-F", CHAIN, netns=host.netns)

    def rules(self, host: Host) -> list[str]:
        assert host.netns is not None
        out = _ip("iptables", "-S", CHAIN, netns=host.netns).stdout
        return [line for line in out.splitlines() if line.startswith("-A")]


def pick_subnet(base: ipaddress.IPv4Network, tag: str = "") -> ipaddress.IPv4Network:
    """A /24 of ``base`` that overlaps no address of this machine's interfaces (a run's bridge, the
    engine's bridges); the caller holds the ``subnets`` machine lock while taking it.

    The search starts at a /24 derived from the run's ``tag``, not at the first: a run's addresses
    are then unlikely to be the next run's. A client left over from a run whose network is gone
    (killed, reaped) reconnecting to the same address would otherwise reach the next run's server
    and write into its keys (seen: a reaped run's load inflated another run's counters)."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True).stdout
    used = {
        ipaddress.ip_interface(w).network
        for line in out.splitlines()
        for w in line.split()
        if "/" in w and w[0].isdigit()
    }
    subnets = list(base.subnets(new_prefix=24))
    start = int(hashlib.sha1(tag.encode()).hexdigest(), 16) % len(subnets) if tag else 0
    for sub in subnets[start:] + subnets[:start]:
        if not any(sub.overlaps(u) for u in used):
            return sub
    raise HarnessError(f"no free /24 left in {base} for a run's network; run 'harness clean'")


def partition_rules(proxy_address: str, ports: list[int]) -> list[list[str]]:
    """The DROP rules cutting a host off the proxies listening on ``ports``.

    One rule per 15 ports (multiport's limit) and direction: a partition costs one iptables call
    per host instead of one per port, which keeps applying it well under 100 ms. The chain is
    entered from OUTPUT and INPUT: what the host sends to those proxies is dropped, and so is what
    comes back from them on connections opened before the cut (a replication stream already
    flowing, whose data would otherwise still arrive with only its ACKs dropped). The same ports
    give the same rules, so ``unblock`` deletes exactly what ``block`` added."""
    unique = sorted(set(ports))
    chunks = [",".join(str(p) for p in unique[i : i + 15]) for i in range(0, len(unique), 15)]
    return [
        rule
        for chunk in chunks
        for rule in (
            ["-p", "tcp", "-d", proxy_address, "-m", "multiport", "--dports", chunk, "-j", "DROP"],
            ["-p", "tcp", "-s", proxy_address, "-m", "multiport", "--sports", chunk, "-j", "DROP"],
        )
    ]


def make_network(res: RunResources, tag: str, want: str = "auto") -> Network:
    """``want``: auto (netns when possible), netns (required), loopback."""
    ok, reason = netns_supported()
    if want == "loopback" or (want == "auto" and not ok):
        return LoopbackNetwork(reason or "loopback requested")
    if not ok:
        raise UnsupportedError(f"--hosts netns: {reason}")
    leftovers = [link for link in list_links() if link == f"{BRIDGE_PREFIX}{tag}"]
    if leftovers:
        raise HarnessError(f"bridge {leftovers[0]} already exists; run 'harness clean'")
    return NetnsNetwork(res, tag)
