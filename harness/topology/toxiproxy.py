"""One ``toxiproxy-server`` per run, driven through ``toxiproxy-python``.

toxiproxy-python keeps the API address in a class attribute; a run has exactly one server, so the
wrapper points it there when the server starts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from toxiproxy import Toxiproxy
from toxiproxy.api import APIConsumer
from toxiproxy.proxy import Proxy

from harness.doctor import find_binary
from harness.errors import HarnessError, MissingBinaryError, NotHealthyError, PortInUseError
from harness.topology.lifecycle import RunResources
from harness.topology.network import Network, free_port
from harness.topology.processes import ServerProcess

TOXIPROXY_HINT = (
    "Run 'make setup' (it builds it with go install github.com/Shopify/toxiproxy/v2/cmd/server), "
    "or put a toxiproxy-server binary on PATH."
)


@dataclass(frozen=True)
class ProxyInfo:
    name: str
    listen_host: str
    listen_port: int
    upstream: str

    @property
    def address(self) -> str:
        return f"{self.listen_host}:{self.listen_port}"


def find_toxiproxy() -> str:
    binary = find_binary("toxiproxy-server")
    if binary is None:
        raise MissingBinaryError("toxiproxy-server", TOXIPROXY_HINT)
    return binary


class ToxiproxyServer:
    def __init__(
        self,
        res: RunResources,
        log_dir: Path,
        startup_timeout_s: float = 10.0,
        network: Network | None = None,
    ) -> None:
        binary = find_toxiproxy()
        # Where the server runs and its API listens: here on loopback, or the network's own place
        # for it (the docker backend's Toxiproxy container).
        place = network.toxiproxy_place() if network is not None else None
        host, self.host, self.port = (
            place if place is not None else (None, "127.0.0.1", free_port("127.0.0.1"))
        )
        cmd = [binary, "-host", self.host, "-port", str(self.port)]
        log = log_dir / "toxiproxy.log"
        self.process = (
            host.spawn("toxiproxy", cmd, log, res) if host else ServerProcess("toxiproxy", cmd, log, res)
        )
        res.info["toxiproxy_api"] = f"{self.host}:{self.port}"
        res.save()
        self.client = Toxiproxy()
        self.client.update_api_consumer(self.host, self.port)
        self._wait_ready(startup_timeout_s)
        self.proxies: dict[str, ProxyInfo] = {}

    @property
    def api(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.process.running():
                raise NotHealthyError(f"toxiproxy-server exited at start:\n{self.process.tail()}")
            try:
                resp = requests.get(f"{self.api}/version", timeout=1)
                if resp.ok:
                    # 2.12 answers {"version": "2.12.0"}; older servers answer plain text.
                    try:
                        self.version = str(resp.json()["version"])
                    except (ValueError, KeyError, TypeError):
                        self.version = resp.text.strip()
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise NotHealthyError(
            f"toxiproxy-server not answering on {self.api} after {timeout_s}s:\n{self.process.tail()}"
        )

    def create(self, name: str, listen_host: str, upstream: str) -> ProxyInfo:
        """Creates a proxy on ``listen_host`` with a port the kernel picks (no race for free ports)."""
        self._point()
        resp = requests.post(
            f"{self.api}/proxies",
            timeout=5,
            json={"name": name, "listen": f"{listen_host}:0", "upstream": upstream},
        )
        if resp.status_code == 409:
            raise HarnessError(f"toxiproxy proxy '{name}' already exists")
        if not resp.ok:
            if "address already in use" in resp.text:
                raise PortInUseError(listen_host, 0, f"proxy {name}")
            raise HarnessError(f"toxiproxy refused proxy {name}: {resp.status_code} {resp.text.strip()}")
        listen = resp.json()["listen"]
        host, port = listen.rsplit(":", 1)
        info = ProxyInfo(name, host, int(port), upstream)
        self.proxies[name] = info
        return info

    def _point(self) -> None:
        APIConsumer.host, APIConsumer.port = self.host, self.port

    def proxy(self, name: str) -> Proxy:
        self._point()
        proxy = self.client.get_proxy(name)
        if proxy is None:
            raise HarnessError(f"no toxiproxy proxy named '{name}'")
        return proxy

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> requests.Response:
        """One API call with a timeout: a toxic chain can wedge the server (Toxiproxy issues #159,
        #210 report hangs while adding or removing toxics), and the harness must not hang with it."""
        try:
            return requests.request(method, f"{self.api}{path}", json=body, timeout=10)
        except requests.RequestException as exc:
            raise HarnessError(f"toxiproxy {method} {path}: {type(exc).__name__}: {exc}") from exc

    def add_toxic(
        self,
        proxy: str,
        toxic_type: str,
        attributes: dict[str, Any],
        *,
        stream: str = "downstream",
        name: str | None = None,
        toxicity: float = 1.0,
    ) -> str:
        toxic_name = name or f"{toxic_type}_{stream}"
        body = {
            "name": toxic_name,
            "type": toxic_type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": attributes,
        }
        resp = self._call("POST", f"/proxies/{proxy}/toxics", body)
        if not resp.ok:
            raise HarnessError(
                f"toxiproxy refused toxic {toxic_name} ({toxic_type}, {stream}) on {proxy}: "
                f"{resp.status_code} {resp.text.strip()}"
            )
        return toxic_name

    def remove_toxic(self, proxy: str, toxic_name: str) -> bool:
        """Removes one toxic; False when it was not there (already removed, or never added)."""
        resp = self._call("DELETE", f"/proxies/{proxy}/toxics/{toxic_name}")
        if resp.status_code == 404:
            return False
        if not resp.ok:
            raise HarnessError(f"toxiproxy could not remove {toxic_name} from {proxy}: {resp.text.strip()}")
        return True

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        """The toxics on ``proxy`` now, as the server reports them (name, type, stream, attributes)."""
        resp = self._call("GET", f"/proxies/{proxy}/toxics")
        if not resp.ok:
            raise HarnessError(f"toxiproxy: no proxy '{proxy}': {resp.text.strip()}")
        return list(resp.json())

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        """Disabling a proxy closes its listener and the connections open through it."""
        resp = self._call("POST", f"/proxies/{proxy}", {"enabled": enabled})
        if not resp.ok:
            raise HarnessError(f"toxiproxy could not set {proxy} enabled={enabled}: {resp.text.strip()}")

    def enabled(self, proxy: str) -> bool:
        resp = self._call("GET", f"/proxies/{proxy}")
        if not resp.ok:
            raise HarnessError(f"toxiproxy: no proxy '{proxy}': {resp.text.strip()}")
        return bool(resp.json().get("enabled"))

    def reset(self) -> None:
        """Removes every toxic and re-enables every proxy."""
        self._point()
        self.client.reset()
