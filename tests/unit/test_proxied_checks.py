"""The proxied-path checks of ``tests/live/proxied.py`` against the history that fooled them: the
harness's own direct connection whose local port is also the local port of a toxiproxy-server
connection to another node (Linux shares an ephemeral port among connections to different peers)."""

from __future__ import annotations

from tests.live.proxied import Proxies, stray_clients, stray_sockets
from tests.live.sockets import ESTABLISHED, TcpSocket

BRIDGE = "10.213.7.1"
NODE_A, NODE_B = ("10.213.7.2", 7000), ("10.213.7.3", 7000)
SHARED_PORT = 41234
# toxiproxy-server's link from the shared port goes to node B, not A
PROXIES = Proxies({((BRIDGE, SHARED_PORT), NODE_B)}, {(BRIDGE, 20001)}, {(BRIDGE, 20002)}, {(BRIDGE, 20003)})


def _client(cid: int, addr: tuple[str, int], laddr: tuple[str, int]) -> dict[str, str]:
    return {
        "id": str(cid),
        "addr": f"{addr[0]}:{addr[1]}",
        "laddr": f"{laddr[0]}:{laddr[1]}",
        "flags": "N",
        "cmd": "get",
    }


def test_a_direct_connection_sharing_a_toxiproxy_port_is_still_a_stray() -> None:
    direct = _client(9, (BRIDGE, SHARED_PORT), NODE_A)  # the harness, straight to node A
    assert list(stray_clients([direct], observer_id=1, proxies=PROXIES)) == [
        ("client", "9", f"{BRIDGE}:{SHARED_PORT}")
    ]
    proxied = _client(10, (BRIDGE, SHARED_PORT), NODE_B)  # toxiproxy's own link to node B
    assert stray_clients([proxied], observer_id=1, proxies=PROXIES) == {}


class _Node:
    port, bus_port = NODE_A[1], 17000


def test_a_socket_sharing_a_toxiproxy_port_is_still_a_stray() -> None:
    sock = TcpSocket(NODE_A, (BRIDGE, SHARED_PORT), ESTABLISHED)
    found = stray_sockets(_Node(), [sock], observer_end=(BRIDGE, 1), proxies=PROXIES)  # type: ignore[arg-type]
    assert list(found) == [("socket", NODE_A, (BRIDGE, SHARED_PORT))]


def test_a_replica_link_counts_only_through_a_proxy() -> None:
    """A replica's link to its master (flag M) is proxied when it goes to a client proxy or to a
    replica's own replication proxy, and a stray when it goes straight to the master."""

    def link(to: tuple[str, int]) -> dict[str, str]:
        return {**_client(5, to, NODE_A), "flags": "M"}

    assert stray_clients([link((BRIDGE, 20003))], observer_id=1, proxies=PROXIES) == {}
    assert stray_clients([link((BRIDGE, 20001))], observer_id=1, proxies=PROXIES) == {}
    assert list(stray_clients([link(NODE_B)], observer_id=1, proxies=PROXIES)) == [
        ("client", "5", f"{NODE_B[0]}:{NODE_B[1]}")
    ]
