"""Answering the MongoDB plane's feature probe (:mod:`harness.topology.mongo_features`) on a
``mockupdb`` server, command by command, as mongod or FerretDB answers it (FerretDB's replies as
seen from v1.24.2 here: refusals with code 238 NotImplemented, 59 CommandNotFound, 9 for a
transaction; accepted options it cannot honour)."""

from __future__ import annotations

from typing import Any, Literal

from bson import Timestamp
from mockupdb import MockupDB

from harness.topology.mongo_features import PROBE_DB

Server = Literal["mongod", "ferretdb"]


def receive(server: MockupDB, name: str, db: str) -> Any:
    req = server.receives(timeout=10)
    assert req.command_name == name, f"probe: expected {name}, got {req.command_name}: {req.doc}"
    assert req.namespace == db, f"probe: {name} sent to {req.namespace}, expected {db}"
    return req


def not_implemented(req: Any, what: str) -> None:
    req.command_err(code=238, errmsg=f"{what} is not implemented yet")


def answer_probe(server: MockupDB, mode: str, as_server: Server = "mongod") -> None:
    """Plays the server's side of one ``probe(client, mode)``."""
    ferret = as_server == "ferretdb"
    build = {"version": "7.0.42", "ferretdbVersion": "v1.24.2"} if ferret else {"version": "7.0.14"}
    receive(server, "buildInfo", "admin").ok(**build)
    receive(server, "dropDatabase", PROBE_DB).ok()
    receive(server, "insert", PROBE_DB).ok(n=2)
    req = receive(server, "create", PROBE_DB)
    # As FerretDB 1.24.2 says it, Go memory dump included (the probe drops that part).
    dump = "&{map[$jsonSchema:1] [{0xc0004a6f30 $jsonSchema}] false 0}"
    not_implemented(req, f'create: support for field "validator" with value {dump}') if ferret else req.ok()
    req = receive(server, "createIndexes", PROBE_DB)
    not_implemented(req, 'Index option "expireAfterSeconds"') if ferret else req.ok()
    req = receive(server, "createIndexes", PROBE_DB)
    not_implemented(req, 'Index option "partialFilterExpression"') if ferret else req.ok()
    req = receive(server, "aggregate", PROBE_DB)
    if ferret:
        not_implemented(req, '$group accumulator "$addToSet"')
    else:
        req.ok(cursor={"id": 0, "ns": f"{PROBE_DB}.docs", "firstBatch": [{"_id": None, "users": ["x"]}]})
    if mode != "sharded":
        receive(server, "listShards", "admin").command_err(code=59, errmsg="no such command: 'listShards'")
    if mode == "standalone":
        req = receive(server, "replSetGetStatus", "admin")
        if ferret:
            req.command_err(code=59, errmsg="no such command: 'replSetGetStatus'")
        else:
            req.command_err(code=76, errmsg="not running with --replSet")
        req = receive(server, "insert", PROBE_DB)
        assert req.doc["writeConcern"] == {"w": 2, "wtimeout": 1000}
        if ferret:
            req.ok(n=1)  # accepted on one node: write concerns are ignored
        else:  # validated before the write (the server's validateWriteConcern)
            req.command_err(code=2, errmsg="cannot use 'w' > 1 on a standalone")
        req = receive(server, "find", PROBE_DB)
        assert req.doc.get("readConcern") == {"level": "harness-no-such-level"}, req.doc
        if ferret:
            req.ok(cursor={"id": 0, "ns": f"{PROBE_DB}.docs", "firstBatch": []})  # accepted: ignored
        else:
            req.command_err(code=9, errmsg="readConcern.level must be either 'local', 'majority', ...")
        req = receive(server, "insert", PROBE_DB)
        assert req.doc.get("startTransaction") is True
        if ferret:
            req.command_err(code=9, errmsg='insert: unknown field "startTransaction"')
        else:
            req.command_err(code=20, errmsg="Transaction numbers are only allowed on a replica set member")
        # The driver aborts the transaction it started; the answer does not matter to it.
        receive(server, "abortTransaction", "admin").command_err(code=59, errmsg="no such command")
    req = receive(server, "find", PROBE_DB)
    reply: dict[str, Any] = {"cursor": {"id": 0, "ns": f"{PROBE_DB}.docs", "firstBatch": []}}
    if not ferret and mode != "standalone":
        reply["operationTime"] = Timestamp(1_700_000_000, 1)
    req.ok(**reply)
    receive(server, "dropDatabase", PROBE_DB).ok()
