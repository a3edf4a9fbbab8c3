"""What ``harness up`` and ``harness status`` print: the endpoints table and each node's health."""

from __future__ import annotations

import sys
from typing import Any

import redis
from rich.console import Console
from rich.table import Table

from harness.topology.redis import no_retry

stdout = Console(width=None if sys.stdout.isatty() else 140)


def _place(node: dict[str, Any]) -> str:
    """Where the node runs: its network namespace (local backend) or container (docker backend)."""
    return str(node.get("netns") or node.get("container") or "-")


def print_endpoints(endpoints: dict[str, Any], health: dict[str, str] | None = None) -> None:
    table = Table()
    for col in (
        "node",
        "role",
        "proxy (clients use this)",
        "direct",
        "netns / container",
        *(["health"] if health else []),
    ):
        table.add_column(col)
    for n in endpoints["nodes"]:
        row = [n["name"], n["role"], n["proxy"], n["address"], _place(n)]
        table.add_row(*row, *([health.get(n["name"], "?")] if health else []))
    mongo = endpoints.get("mongo")
    for n in _mongo_nodes(mongo):
        row = [n["name"], _mongo_role(n, mongo or {}), n["proxy"], n["address"], _place(n)]
        table.add_row(*row, *([health.get(n["name"], "?")] if health else []))
    stdout.print(table)
    if mongo:
        stdout.print(f"MongoDB ({mongo['mode']}, database {mongo['database']}): {mongo['uri']}")
        server = mongo.get("server") or {}
        if server.get("description"):
            stdout.print(f"  server: {server['description']}")
        for item in mongo.get("left_out") or []:
            stdout.print(f"  left out: {item}")
        for rs in mongo["replsets"] if mongo["mode"] == "sharded" else []:
            stdout.print(f"  {rs['kind']} {rs['name']}: {rs['uri']}")
    stdout.print(f"toxiproxy API: {endpoints['toxiproxy_api']}")
    cap = endpoints.get("capacity") or {}
    if cap.get("cpu_limit") is not None:
        applied = "applied" if cap.get("applied") else f"NOT applied: {cap.get('reason')}"
        stdout.print(f"node CPU limit: {cap['cpu_limit']:g} core ({applied})")


def _mongo_nodes(mongo: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not mongo:
        return []
    alone = [mongo["standalone"]] if mongo.get("standalone") else []
    return [m for rs in mongo["replsets"] for m in rs["members"]] + list(mongo["mongos"]) + alone


def _mongo_role(n: dict[str, Any], mongo: dict[str, Any]) -> str:
    if n["kind"] == "mongos":
        return "mongos"
    if n["kind"] == "standalone":  # the server it is: never FerretDB called mongod
        server = mongo.get("server") or {}
        return f"standalone ({server.get('server', '?')} {server.get('version', '')})".replace(" )", ")")
    extra = [f"priority {n['priority']:g}"]
    if n.get("arbiter"):
        extra = ["arbiter"]
    if n.get("hidden"):
        extra.append("hidden")
    if n.get("secondary_delay_secs"):
        extra.append(f"delay {n['secondary_delay_secs']}s")
    return f"{n['replset']} ({', '.join(extra)})"


def node_health(address: str) -> str:
    host, port = address.rsplit(":", 1)
    try:
        client = redis.Redis(
            host=host, port=int(port), socket_timeout=1, decode_responses=True, retry=no_retry()
        )
        repl = client.info("replication")
        role = str(repl["role"])
        text = role
        if role == "slave":
            text = f"replica, link {repl.get('master_link_status')}"
        if client.info("cluster").get("cluster_enabled"):
            state = dict(
                ln.split(":", 1) for ln in client.execute_command("CLUSTER", "INFO").split() if ":" in ln
            )
            text += f", cluster_state {state.get('cluster_state')}"
        return text
    except (redis.RedisError, OSError) as exc:
        return f"unreachable ({type(exc).__name__})"
