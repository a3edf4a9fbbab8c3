"""Faults against a topology brought up by ``harness up`` when no rehearsal is running: applied from
another process with only what ``up`` recorded (``resources.json``: each node's namespace, proxy
addresses and pid, the Toxiproxy API), and recorded in that run's ``history.jsonl`` as ``nemesis``
ops (invoke, then ok or fail), times on the machine's monotonic clock.

What can be done so: partitions (``partition``/``isolate`` of one node: iptables in the namespaces,
as :mod:`harness.faults.network` does), the Toxiproxy faults on a node's ``client``/``bus``/
``replication`` link (their parameters validated by the fault classes themselves) and ``pause``
(SIGSTOP to the recorded pid). Heal is stateless, so it undoes what any earlier command did:
every namespace's partition chain flushed, Toxiproxy reset (every toxic removed, every proxy
enabled), every stopped server continued. A kill needs the server started again by the process
that supervises it, which an ``up`` run no longer has: refused, with what to do instead.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import orjson
import requests

from harness.clock import RunClock
from harness.errors import HarnessError
from harness.faults import make_fault
from harness.faults.toxics import ToxicFault
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.topology.docker_cli import container_pid
from harness.topology.docker_network import holder_name
from harness.topology.lifecycle import RunResources, is_stopped
from harness.topology.network import CHAIN, partition_rules

PARTITIONS = ("partition", "isolate")
LINKS = {"client": ["client"], "bus": ["bus"], "both": ["client", "bus"], "replication": ["repl"]}


class Attached:
    def __init__(self, res: RunResources) -> None:
        self.res = res
        self.endpoints: dict[str, Any] = res.info.get("endpoints") or {}
        if not self.endpoints:
            raise HarnessError(f"run {res.run_id} recorded no endpoints yet (still starting?)")
        self.nodes = {n["name"]: n for n in self._all_nodes()}

    def _all_nodes(self) -> list[dict[str, Any]]:
        mongo = self.endpoints.get("mongo") or {}
        members = [m for rs in mongo.get("replsets", []) for m in rs["members"]]
        alone = [mongo["standalone"]] if mongo.get("standalone") else []
        return list(self.endpoints.get("nodes", [])) + members + list(mongo.get("mongos", [])) + alone

    def _node(self, target: str | None) -> dict[str, Any]:
        if target not in self.nodes:
            raise HarnessError(
                f"unknown target '{target}' for a topology brought up by 'harness up' (a node name is "
                f"needed here; selectors need a rehearsal); nodes: {', '.join(self.nodes)}"
            )
        return self.nodes[target]

    # -- partitions -------------------------------------------------------------------------------
    def _ports(self, name: str) -> list[int]:
        """The proxy ports a node's peers reach it by (a replica's replication link with its master)."""
        node = self.nodes[name]
        addresses = [node.get("proxy"), node.get("bus_proxy")]
        addresses += [n["repl_proxy"] for n in self.endpoints.get("nodes", []) if n.get("replica_of") == name]
        return [int(str(a).rsplit(":", 1)[1]) for a in addresses if a]

    def _iptables(self, name: str, *args: str) -> None:
        """iptables in node ``name``'s network namespace: ``ip netns exec`` on the local backend,
        ``nsenter`` into the namespace's holder container on the docker backend."""
        node = self.nodes[name]
        if node.get("netns"):
            cmd = ["ip", "netns", "exec", node["netns"], "iptables", *args]
        elif node.get("container"):
            holder_container = holder_name(node["container"])
            holder = container_pid(holder_container)
            if not holder:
                raise HarnessError(f"the network namespace of {name} ({holder_container}) is not running")
            cmd = ["nsenter", "--target", str(holder), "--net", "iptables", *args]
        else:
            raise HarnessError("partitions need per-node network namespaces (this run's hosts are loopback)")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise HarnessError(f"iptables {' '.join(args)} for {name}: {proc.stderr.strip()}")

    def partition(self, name: str) -> dict[str, Any]:
        proxy_ip = str(self.nodes[name]["proxy"]).rsplit(":", 1)[0]
        others = [n for n in self.nodes if n != name]
        sides = [([name], others), (others, [name])]
        for side, far in sides:
            ports = [p for n in far for p in self._ports(n)]
            for n in side:
                for rule in partition_rules(proxy_ip, ports):
                    self._iptables(n, "-A", CHAIN, *rule)
        return {"sides": [{"a": [name], "b": others}]}

    # -- toxics ---------------------------------------------------------------------------------
    def _api(self, method: str, path: str, body: dict[str, Any] | None = None) -> requests.Response:
        api = self.endpoints["toxiproxy_api"]
        try:
            return requests.request(method, f"{api}{path}", json=body, timeout=10)
        except requests.RequestException as exc:
            raise HarnessError(f"toxiproxy {method} {path}: {exc}") from exc

    def toxic(self, fault: ToxicFault, name: str) -> dict[str, Any]:
        streams = ["upstream", "downstream"] if fault.direction == "both" else [fault.direction]
        added = []
        for link in LINKS[fault.link]:
            proxy = f"{name}-{link}"
            for stream in streams:
                body = {
                    "name": f"hx-{fault.kind}-{stream}",
                    "type": fault.toxic_type,
                    "stream": stream,
                    "toxicity": fault.toxicity,
                    "attributes": fault.attributes(),
                }
                resp = self._api("POST", f"/proxies/{proxy}/toxics", body)
                if not resp.ok:
                    raise HarnessError(f"toxiproxy refused {fault.kind} on {proxy}: {resp.text.strip()}")
                added.append(f"{proxy}/{body['name']}")
        return {"toxic": fault.toxic_type, "attributes": fault.attributes(), "toxics": added}

    # -- the commands ---------------------------------------------------------------------------
    def check(self, kind: str, target: str | None, params: dict[str, Any]) -> None:
        """One clear error for an unknown kind, a bad parameter, an unknown node or a kind not
        doable here, before anything is done."""
        fault = make_fault(kind, params, target)
        node = self._node(target)
        if kind in PARTITIONS or isinstance(fault, ToxicFault) or (kind == "pause" and node.get("pid")):
            return
        raise HarnessError(
            f"fault {kind} is not supported against a topology brought up by 'harness up' (it needs "
            "the process that started the servers); run it in a rehearsal: harness rehearse "
            f"{self.res.topology}. Here: partition, isolate, the toxics (latency, bandwidth, blackhole, "
            "reset-peer, slicer, limit-data) and pause"
        )

    def apply(self, kind: str, target: str | None, params: dict[str, Any]) -> dict[str, Any]:
        fault = make_fault(kind, params, target)
        node = self._node(target)
        if kind in PARTITIONS:
            return self.partition(node["name"])
        if isinstance(fault, ToxicFault):
            return self.toxic(fault, node["name"])
        os.kill(int(node["pid"]), signal.SIGSTOP)  # check() let only a pause with a pid through
        return {"paused": node["name"], "pid": node["pid"]}

    def heal(self) -> dict[str, Any]:
        flushed = []
        for n in self.nodes.values():
            if n.get("netns") or n.get("container"):
                self._iptables(n["name"], "-F", CHAIN)
                flushed.append(n["name"])
        resp = self._api("POST", "/reset")
        if not resp.ok:
            raise HarnessError(f"toxiproxy reset failed: {resp.text.strip()}")
        resumed = [n["name"] for n in self.nodes.values() if n.get("pid") and is_stopped(int(n["pid"]))]
        for name in resumed:
            os.kill(int(self.nodes[name]["pid"]), signal.SIGCONT)
        return {"partition_chains_flushed": flushed, "toxiproxy": "reset", "resumed": resumed}


def run_attached(
    res: RunResources, kind: str, target: str | None, params: dict[str, Any]
) -> tuple[Path, dict[str, Any]]:
    """Applies (or with ``kind == "heal"`` undoes) a fault on ``res``'s topology and records it in
    that run's history; returns the history's path and what was done."""
    attached = Attached(res)
    if kind != "heal":
        attached.check(kind, target, params)  # a bad request is refused, not recorded
    path = Path(res.run_dir) / "history.jsonl"
    f = "fault-end" if kind == "heal" else "fault-start"
    # Machine monotonic time (comparable between commands); ids after the ones already there.
    with HistoryRecorder(path, RunClock(start_ns=0), first_id=_next_id(path)) as rec:
        op = rec.invoke("nemesis", f, fault=kind, target=target, params=params, by="harness fault")
        try:
            done = attached.heal() if kind == "heal" else attached.apply(kind, target, params)
        except Exception as exc:
            rec.complete(op, OpType.FAIL, "nemesis", f, error=f"{type(exc).__name__}: {exc}")
            raise
        rec.complete(op, OpType.OK, "nemesis", f, value=done)
    return path, done


def _next_id(path: Path) -> int:
    """One past the highest op id in ``path`` (a batch record stands for ``batch`` ids)."""
    top = 0
    if path.exists():
        for line in path.read_bytes().splitlines():
            try:
                rec = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # a torn last line
            top = max(top, int(rec.get("id", 0)) + int(rec.get("batch", 1)) - 1)
    return top + 1
