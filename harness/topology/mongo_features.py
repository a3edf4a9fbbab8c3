"""What a MongoDB-wire server actually does, found out at bring-up by asking it.

The MongoDB plane runs on mongod where it exists and on FerretDB (standalone, SQLite) where it does
not. Rather than assume what FerretDB lacks, bring-up sends one small probe per feature into a
scratch database and keeps the server's own answer: a refusal is recorded with its message, and an
option accepted on a server that cannot honour it (``w: 2`` on a single node, a made-up read
concern level) is recorded as ignored. The plane's data paths and checkers that need a missing
feature are then ``not_run`` with that message, never played on something that only looks alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bson import SON
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import ConfigurationError, OperationFailure

Client = MongoClient[dict[str, Any]]
Mode = Literal["standalone", "replset", "sharded"]

PROBE_DB = "harness_probe"

#: Every feature a probe can find missing, and what it means for the platform.
FEATURES: dict[str, str] = {
    "replication": "replication (secondaries, failover, majority write and read concerns)",
    "sharding": "sharding (shard keys, chunks, mongos routing)",
    "validator": "collection validators ($jsonSchema)",
    "ttl_index": "TTL indexes (expireAfterSeconds) and the TTL monitor",
    "partial_index": "partial indexes (partialFilterExpression)",
    "write_concern": "write concerns (w, j, wtimeout)",
    "read_concern": "read concerns",
    "transactions": "multi-document transactions",
    "causal_consistency": "causally consistent sessions (operationTime, afterClusterTime)",
    "group_accumulators": "$group accumulators other than $sum ($addToSet, $push, $max)",
    "mongodb_server": "a MongoDB server (throughput and latency through a stand-in are the stand-in's)",
}


@dataclass(frozen=True)
class ServerFeatures:
    """The server behind the plane and what it lacks (feature -> why, in the server's words)."""

    server: Literal["mongod", "ferretdb"]
    version: str
    mode: Mode
    lacks: Mapping[str, str] = field(default_factory=dict)

    def has(self, feature: str) -> bool:
        return feature not in self.lacks

    @property
    def name(self) -> str:
        """``mongod 7.0.14`` or ``ferretdb 1.24.2``: what the plane ran on, never one for the other."""
        return f"{self.server} {self.version}"

    def describe(self) -> str:
        """One line for results.json, the report and the CLI summary."""
        if self.server == "ferretdb":
            ignored = [
                what
                for what, feature in (("write", "write_concern"), ("read", "read_concern"))
                if not self.has(feature)
            ]
            text = f"{self.name} (sqlite): MongoDB wire protocol, {self.mode}"
            if not self.has("replication"):
                text += "; no replication"
            if ignored:
                text += f", {' and '.join(ignored)} concerns ignored"
            return text
        return f"{self.name}, {self.mode}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "version": self.version,
            "mode": self.mode,
            "description": self.describe(),
            "lacks": dict(self.lacks),
        }


def server_identity(client: Client) -> tuple[Literal["mongod", "ferretdb"], str]:
    """FerretDB answers ``buildInfo`` with the MongoDB version it imitates plus ``ferretdbVersion``."""
    info = client.admin.command("buildInfo")
    ferret = info.get("ferretdbVersion")
    if ferret is not None:
        return "ferretdb", str(ferret).removeprefix("v")
    return "mongod", str(info.get("version", "unknown"))


#: Feature -> a command a server refuses when it lacks the feature (sent to the scratch database).
REFUSAL_PROBES: dict[str, dict[str, Any]] = {
    "validator": {"create": "validated", "validator": {"$jsonSchema": {"required": ["a"]}}},
    "ttl_index": {
        "createIndexes": "docs",
        "indexes": [{"key": {"created_at": 1}, "name": "ttl", "expireAfterSeconds": 60}],
    },
    "partial_index": {
        "createIndexes": "docs",
        "indexes": [{"key": {"a": 1}, "name": "partial", "partialFilterExpression": {"a": {"$gt": 1}}}],
    },
    "group_accumulators": {
        "aggregate": "docs",
        "pipeline": [{"$group": {"_id": None, "users": {"$addToSet": "$u"}, "top": {"$max": "$a"}}}],
        "cursor": {},
    },
}
#: Feature -> a command a server that honours the feature refuses (only on a single server: one
#: node cannot acknowledge ``w: 2``; no server knows this read concern level).
IGNORED_PROBES: dict[str, tuple[dict[str, Any], str]] = {
    "write_concern": (
        {"insert": "docs", "documents": [{"a": 3}], "writeConcern": {"w": 2, "wtimeout": 1000}},
        "ignored: w: 2 acknowledged by a single server",
    ),
    "read_concern": (
        {"find": "docs", "readConcern": {"level": "harness-no-such-level"}},
        "ignored: an unknown read concern level was accepted",
    ),
}


def _refused(db: Database[dict[str, Any]], command: Mapping[str, Any]) -> str | None:
    """None when the server accepted ``command``, else its refusal in its own words. Only server
    replies count: a network error is not an answer and propagates."""
    try:
        reply = db.command(SON(command))
    except OperationFailure as exc:
        return _refusal(exc)
    wce = reply.get("writeConcernError")  # the command ran, the write concern was not satisfied
    return None if wce is None else f"refused: {wce.get('errmsg')} (code {wce.get('code')})"


# FerretDB quotes a refused option's value as a Go memory dump ("with value &{map[...] [{0xc0...":
# different every run); the rest of its message is kept as it is.
_GO_VALUE = re.compile(r" with value &\{.*\}(?= is not)")


def _refusal(exc: OperationFailure) -> str:
    message = _GO_VALUE.sub("", str((exc.details or {}).get("errmsg", exc)))
    return f"refused: {message}" + (f" (code {exc.code})" if exc.code is not None else "")


def probe(client: Client, mode: Mode) -> ServerFeatures:
    """Asks the server behind ``client`` what it supports; leaves nothing behind (the scratch
    database is dropped)."""
    server, version = server_identity(client)
    db = client[PROBE_DB]
    lacks: dict[str, str] = {}
    if server == "ferretdb":
        lacks["mongodb_server"] = f"FerretDB {version} on SQLite stands in for MongoDB: its speed is its own"
    client.drop_database(PROBE_DB)
    try:
        db.command(SON({"insert": "docs", "documents": [{"a": 1, "u": "x"}, {"a": 2, "u": "y"}]}))
        for feature, command in REFUSAL_PROBES.items():
            if (why := _refused(db, command)) is not None:
                lacks[feature] = why
        if mode != "sharded":
            lacks["sharding"] = _refused(client.admin, {"listShards": 1}) or f"{mode}: no shards"
        if mode == "standalone":
            replset = _refused(client.admin, {"replSetGetStatus": 1})
            lacks["replication"] = replset or "standalone: no replica set"
            for feature, (command, ignored) in IGNORED_PROBES.items():
                if _refused(db, command) is None:
                    lacks[feature] = ignored
            if (why := _transactions_refused(client)) is not None:
                lacks["transactions"] = why
        if "operationTime" not in db.command("find", "docs", limit=1):
            lacks["causal_consistency"] = "no operationTime in replies: afterClusterTime waits for nothing"
    finally:
        client.drop_database(PROBE_DB)
    return ServerFeatures(server, version, mode, lacks)


def _transactions_refused(client: Client) -> str | None:
    try:
        with client.start_session() as session, session.start_transaction():
            client[PROBE_DB]["docs"].insert_one({"in_transaction": True}, session=session)
    except OperationFailure as exc:
        return _refusal(exc)
    except ConfigurationError as exc:  # the driver's own refusal: the server offers no sessions
        return f"no sessions: {exc}"
    return None
