"""Waiting for the MongoDB plane to be healthy: servers answering, replica sets initiated and ready
(a primary, caught-up secondaries, a majority write through the proxies), and the client DDL goes
through. Every wait polls the servers (:func:`poll_until`); none is a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from harness.errors import NotHealthyError
from harness.topology import mongo_commands as cmds
from harness.topology.mongo_plane import MongoNode, MongoPlane, ReplSet, _is_primary
from harness.topology.processes import log_tail

Poll = Callable[[], tuple[str, "MongoNode | None"] | None]


def exited_error(node: MongoNode) -> NotHealthyError:
    return NotHealthyError(f"{node.name} exited\n--- last lines of {node.log} ---\n{log_tail(node.log)}")


def poll_until(what: str, check: Poll, timeout_s: float, interval_s: float = 0.1) -> None:
    """Polls ``check`` (None when satisfied, else (problem, node to blame)) until the deadline; the
    timeout error names the problem and carries the blamed node's log tail."""
    deadline = time.monotonic() + timeout_s
    problem: tuple[str, MongoNode | None] = ("not checked yet", None)
    while True:
        try:
            result = check()
        except PyMongoError as exc:
            result = (f"{type(exc).__name__}: {exc}", None)
        if result is None:
            return
        problem = result
        if time.monotonic() >= deadline:
            break
        time.sleep(interval_s)
    text, node = problem
    tail = f"\n--- last lines of {node.log} ---\n{log_tail(node.log)}" if node is not None else ""
    raise NotHealthyError(f"{what} not reached within {timeout_s:g}s: {text}{tail}")


def wait_answering(nodes: list[MongoNode], timeout_s: float) -> None:
    for node in nodes:

        def check(n: MongoNode = node) -> tuple[str, MongoNode | None] | None:
            if n.process is not None and not n.running():
                raise exited_error(n)
            try:
                n.admin().admin.command("hello")
            except PyMongoError as exc:
                return (f"{n.name} not answering hello ({type(exc).__name__})", n)
            return None

        poll_until(f"{node.name} answering", check, timeout_s)


def bring_up_replset(rs: ReplSet, timeout_s: float) -> None:
    """Initiates the set with its proxy addresses and waits for it to be ready (see
    :func:`wait_replset_ready`)."""
    first = max(rs.nodes, key=lambda n: n.member.priority if n.member else 0)
    members = [cmds.Member(n.member, n.proxied) for n in rs.nodes if n.member is not None]
    config = cmds.replset_config(rs.name, members, configsvr=rs.kind == "configsvr", settings=rs.settings)
    cmds.initiate(first.admin(), config)
    wait_replset_ready(rs, timeout_s)
    if rs.kind == "replset":
        discovery_probe(rs, timeout_s)


def wait_replset_ready(rs: ReplSet, timeout_s: float) -> None:
    """One PRIMARY, every data member SECONDARY with the primary's optime (delayed members only
    SECONDARY), then a ``w: "majority"`` write acknowledged through the proxies."""
    by_name = {n.proxied: n for n in rs.nodes}
    expected = max(rs.nodes, key=lambda n: n.member.priority if n.member else 0)
    priorities = sorted((n.member.priority for n in rs.nodes if n.member is not None), reverse=True)
    # A single highest-priority member takes over soon after any other wins the first election.
    preferred = expected.proxied if len(priorities) == 1 or priorities[0] > priorities[1] else None
    delayed = [n.proxied for n in rs.nodes if n.member is not None and n.member.secondary_delay_secs]

    def check() -> tuple[str, MongoNode | None] | None:
        for n in rs.nodes:
            if n.process is not None and not n.running():
                raise exited_error(n)
        status = cmds.replset_status(expected.admin())
        problem = cmds.readiness_problem(status, delayed, preferred)
        if problem is None:
            return None
        text, blamed = problem
        # No primary: the member that should have won the election is the one to look at.
        node = by_name.get(blamed) if blamed else expected
        return (f"replica set {rs.name}: {text}", node)

    poll_until(f"replica set {rs.name} ready", check, timeout_s)
    primary = next(n for n in rs.nodes if n.member is not None and _is_primary(n))
    cmds.majority_probe(primary.admin())


def discovery_probe(rs: ReplSet, timeout_s: float) -> None:
    """Clients discover the set through the proxies only: prove that path finds the primary."""
    client: MongoClient[dict[str, Any]] = MongoClient(
        rs.uri(), serverSelectionTimeoutMS=int(timeout_s * 1000)
    )
    try:
        client.admin.command("ping")
    finally:
        client.close()


def ddl_client(plane: MongoPlane, timeout_s: float) -> MongoClient[dict[str, Any]]:
    """A client for DDL on the whole deployment (the caller closes it): the first mongos over its
    direct path, or the replica set by discovery through its proxies (it follows the primary).
    Its socket timeout only guards against a server that never answers: it is longer than any
    DDL command may run (``maxTimeMS``, :data:`cmds.DDL_MAX_TIME_MS`), so the server's own limit
    always answers first."""
    options: dict[str, Any] = {
        "serverSelectionTimeoutMS": int(timeout_s * 1000),
        "connectTimeoutMS": min(int(timeout_s * 1000), 5000),
        "socketTimeoutMS": cmds.DDL_MAX_TIME_MS + 30_000,
        "appname": "harness-ddl",
    }
    if plane.sharded:
        return MongoClient(plane.mongos[0].direct, directConnection=True, **options)
    return MongoClient(plane.uri(), **options)


def health_problem(plane: MongoPlane) -> str | None:
    """What keeps the plane from serving now, or None: a server that is not running or does not
    answer ``hello`` over its direct path, a replica set without a member that is primary. Asked
    after the faults are healed, before the final reads (a set still electing is not healthy)."""
    hellos: dict[str, dict[str, Any]] = {}
    for node in plane.nodes:
        if node.process is not None and not node.running():
            return f"{node.name} is not running"
        try:
            hellos[node.name] = dict(node.admin().admin.command("hello"))
        except PyMongoError as exc:
            return f"{node.name} not answering hello ({type(exc).__name__})"
    for rs in plane.replsets:
        if not any(hellos[n.name].get("isWritablePrimary") for n in rs.nodes if n.member is not None):
            return f"replica set {rs.name} has no primary"
    return None
