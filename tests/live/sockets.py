"""The TCP sockets a process holds, read from /proc (Linux), to tell who is at the other end.

A connection through Toxiproxy and one that went around it can arrive from the same IP address:
in netns mode both come from the bridge address (toxiproxy-server and the harness both live in the
root namespace), in loopback mode both from 127.0.0.1. What tells them apart is which process holds
the peer's socket: for a proxied connection it is toxiproxy-server's upstream socket. So a peer
address a node reports is looked up among the local ends of toxiproxy-server's sockets.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from dataclasses import dataclass
from pathlib import Path

Endpoint = tuple[str, int]
ESTABLISHED = "01"  # the st column of /proc/net/tcp


@dataclass(frozen=True)
class TcpSocket:
    local: Endpoint
    remote: Endpoint
    state: str


def parse_endpoint(text: str) -> Endpoint:
    """``host:port`` as Redis prints it (``addr``, ``master_host`` + port, ``CLUSTER NODES``)."""
    host, port = text.rsplit(":", 1)
    return host.strip("[]"), int(port)


def _proc_endpoint(field: str) -> Endpoint:
    """``0100007F:18EB`` / 32 hex digits for tcp6: 32-bit words in host byte order."""
    addr_hex, port_hex = field.split(":")
    raw = bytes.fromhex(addr_hex)
    if sys.byteorder == "little":
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw)), int(port_hex, 16)
    v6 = ipaddress.IPv6Address(raw)
    return str(v6.ipv4_mapped or v6), int(port_hex, 16)


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed since the listing
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def held_sockets(pid: int) -> list[TcpSocket]:
    """Every TCP socket ``pid`` holds, as seen in its own network namespace
    (/proc/<pid>/net/tcp lists the whole namespace; the fd table says which are the process's)."""
    inodes = _socket_inodes(pid)
    found = []
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[9] in inodes:
                found.append(TcpSocket(_proc_endpoint(fields[1]), _proc_endpoint(fields[2]), fields[3]))
    return found
