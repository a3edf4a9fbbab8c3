"""A two-member replica set of ``mockupdb`` servers (a primary and a secondary) for contract tests.

pymongo discovers both from the seed list and routes by read preference: primary reads and every
write reach ``primary``; ``secondaryPreferred`` reads reach ``secondary`` with ``$readPreference``
in the command, as against a real replica set. (A single mock with ``directConnection=True`` would
not show the mode: pymongo then always sends ``primaryPreferred`` to a replica-set member.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mockupdb import MockupDB
from pymongo import MongoClient

from harness.history.recorder import HistoryRecorder

WIRE = {"7.0": 21, "8.0": 25}


@contextmanager
def mock_standalone(wire: int, *, sessions: bool = False) -> Iterator[MockupDB]:
    """One mock server answering the handshake as a writable primary of ``wire`` version (with
    ``sessions``, advertising logical sessions as real servers do: the driver then sends lsids)."""
    hello: dict[str, Any] = {
        "ismaster": True,
        "isWritablePrimary": True,
        "helloOk": True,
        "minWireVersion": 0,
        "maxWireVersion": wire,
    }
    if sessions:
        hello["logicalSessionTimeoutMinutes"] = 30
    s = MockupDB(auto_ismaster=hello)
    s.autoresponds("hello", **hello)
    s.run()
    try:
        yield s
    finally:
        s.stop()


@contextmanager
def mock_replset(
    wire: int, **client_kwargs: Any
) -> Iterator[tuple[MockupDB, MockupDB, MongoClient[dict[str, Any]]]]:
    primary, secondary = MockupDB(), MockupDB()
    primary.run()
    secondary.run()
    hosts = [primary.address_string, secondary.address_string]
    common = {
        "setName": "rs0",
        "hosts": hosts,
        "primary": primary.address_string,
        "minWireVersion": 0,
        "maxWireVersion": wire,
        "logicalSessionTimeoutMinutes": 30,  # sessions (and so retryable writes) supported
    }
    for server, is_primary in ((primary, True), (secondary, False)):
        hello = {
            "ismaster": is_primary,
            "isWritablePrimary": is_primary,
            "secondary": not is_primary,
            "me": server.address_string,
            **common,
        }
        server.autoresponds("ismaster", **hello)
        server.autoresponds("hello", **hello)
        # client.close() sends endSessions and waits for the reply.
        server.autoresponds(lambda req: req.command_name == "endSessions" and req.ok())
    client: MongoClient[dict[str, Any]] = MongoClient(
        f"mongodb://{primary.address_string}/?replicaSet=rs0", serverSelectionTimeoutMS=5000, **client_kwargs
    )
    try:
        wait_discovered(client, secondary.address_string)
        yield primary, secondary, client
    finally:
        client.close()
        primary.stop()
        secondary.stop()


def wait_discovered(client: MongoClient[dict[str, Any]], secondary: str, timeout_s: float = 10) -> None:
    """Readiness: the client's monitor has seen the secondary as a secondary. Before that,
    ``secondaryPreferred`` would quietly select the primary."""
    deadline = time.monotonic() + timeout_s
    while True:
        types = {
            f"{host}:{port}": sd.server_type_name
            for (host, port), sd in client.topology_description.server_descriptions().items()
        }
        if types.get(secondary) == "RSSecondary":
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the mocked secondary {secondary} was not discovered: {types}")
        time.sleep(0.01)


def receive(server: MockupDB, name: str, db: str = "eventlog") -> Any:
    """The next command on ``server``; asserts its name and database. The caller answers it."""
    req = server.receives(timeout=10)
    assert req.command_name == name, f"expected {name}, got {req.command_name}: {req.doc}"
    assert req.namespace == db, f"{name} sent to {req.namespace}, expected {db}"
    return req


def body(req: Any) -> dict[str, Any]:
    """The command document without driver-added fields (``$db``, ``lsid``, ``$clusterTime``...)."""
    return {k: v for k, v in req.doc.items() if not k.startswith("$") and k not in ("lsid", "txnNumber")}


def cursor(ns: str, docs: list[dict[str, Any]], cursor_id: int = 0, first: bool = True) -> dict[str, Any]:
    batch = "firstBatch" if first else "nextBatch"
    return {"cursor": {"id": cursor_id, "ns": ns, batch: docs}}


def history(rec: HistoryRecorder) -> Path:
    """The recorder's file, flushed so far."""
    rec.flush()
    return rec.path
