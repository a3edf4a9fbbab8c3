"""Server-side facts about a MongoDB deployment, read from the servers themselves.

Each fact is a fetch (one command over a given client, so mockupdb can script it) plus a pure
parse of the reply (unit-tested on documents shaped like the manual's examples):

- replica-set members: state, optime and lag behind the primary (``replSetGetStatus``);
- operation counters of a shard's primary (``serverStatus.opcounters``);
- chunks per shard of a sharded collection (``config.collections`` + ``config.chunks``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import SON
from pymongo import MongoClient
from pymongo.errors import PyMongoError

Client = MongoClient[dict[str, Any]]


@dataclass(frozen=True)
class MemberFact:
    name: str  # the host the set knows the member by (its proxy address)
    state: str  # PRIMARY, SECONDARY, ARBITER, RECOVERING, (not reachable/healthy), ...
    healthy: bool
    optime: tuple[int, int] | None  # (seconds, increment) of the last applied op
    lag_s: float | None  # behind the primary's last applied op; None without a primary or optime,
    # and for a down member (health 0), whose optime is the null one (epoch 1970)


def parse_members(status: Mapping[str, Any]) -> list[MemberFact]:
    """Members of a ``replSetGetStatus`` reply with their lag behind the primary."""
    members = list(status.get("members") or [])
    primary_time = next(
        (_optime_seconds(m) for m in members if m.get("stateStr") == "PRIMARY"),
        None,
    )
    facts = []
    for m in members:
        ts = _optime(m)
        seconds = _optime_seconds(m)
        healthy = bool(m.get("health", 1))
        lag = None
        if healthy and primary_time is not None and seconds is not None and m.get("stateStr") != "ARBITER":
            lag = max(0.0, primary_time - seconds)
        facts.append(
            MemberFact(
                name=str(m.get("name")),
                state=str(m.get("stateStr")),
                healthy=healthy,
                optime=ts,
                lag_s=lag,
            )
        )
    return facts


def _optime(member: Mapping[str, Any]) -> tuple[int, int] | None:
    optime = member.get("optime")
    ts = optime.get("ts") if isinstance(optime, Mapping) else None
    return None if ts is None else (int(ts.time), int(ts.inc))


def _optime_seconds(member: Mapping[str, Any]) -> float | None:
    """The last applied op's time: ``optimeDate`` (ms precision) or else the optime's seconds."""
    when = member.get("optimeDate")
    if isinstance(when, datetime):
        return when.timestamp()
    ts = _optime(member)
    return None if ts is None else float(ts[0])


def members(client: Client) -> list[MemberFact]:
    return parse_members(client.admin.command("replSetGetStatus"))


# -- load per shard -----------------------------------------------------------------------------

OPCOUNTERS = ("insert", "query", "update", "delete", "getmore", "command")


def opcounters(client: Client) -> dict[str, int]:
    """``serverStatus.opcounters`` of the server ``client`` is connected to (a shard's primary)."""
    # Leaving out the large sections keeps a once-a-second sampler cheap.
    status = client.admin.command(
        SON([("serverStatus", 1), ("repl", 0), ("metrics", 0), ("locks", 0), ("wiredTiger", 0)])
    )
    return parse_opcounters(status)


def parse_opcounters(status: Mapping[str, Any]) -> dict[str, int]:
    counters = status.get("opcounters") or {}
    return {k: int(counters.get(k, 0)) for k in OPCOUNTERS}


def chunk_distribution(router: Client, namespace: str) -> dict[str, int]:
    """Chunks per shard of ``namespace`` ("db.coll"). Since MongoDB 5.0 ``config.chunks`` names the
    collection by ``uuid`` (from ``config.collections``), no longer by ``ns``."""
    config = router["config"]
    coll = config["collections"].find_one({"_id": namespace})
    if coll is None:
        return {}
    match: dict[str, Any] = {"uuid": coll["uuid"]} if "uuid" in coll else {"ns": namespace}
    rows = config["chunks"].aggregate(
        [{"$match": match}, {"$group": {"_id": "$shard", "chunks": {"$sum": 1}}}]
    )
    return {str(r["_id"]): int(r["chunks"]) for r in rows}


def sharded_chunks(router: Client, database: str) -> dict[str, dict[str, int]]:
    """Chunks per shard of every sharded collection of ``database``, by namespace."""
    names = [
        str(doc["_id"])
        for doc in router["config"]["collections"].find({"_id": {"$regex": f"^{re.escape(database)}\\."}})
    ]
    return {ns: chunk_distribution(router, ns) for ns in sorted(names)}


# -- what `harness status` shows, from the endpoints a run saved -----------------------------------


def _direct(address: str) -> Client:
    return MongoClient(address, directConnection=True, serverSelectionTimeoutMS=1500, connectTimeoutMS=1500)


def mongo_health(endpoints: Mapping[str, Any]) -> dict[str, str]:
    """Per node: replica-set state and lag behind the primary (asked of any reachable member, over
    the direct path), or whether a mongos answers."""
    health: dict[str, str] = {}
    for rs in endpoints.get("replsets", []):
        by_proxy = {m["proxy"]: m["name"] for m in rs["members"]}
        facts: list[MemberFact] | None = None
        for m in rs["members"]:
            client = _direct(m["address"])
            try:
                facts = members(client)
                break
            except PyMongoError:
                continue
            finally:
                client.close()
        for m in rs["members"]:
            health[m["name"]] = "unreachable"
        for f in facts or []:
            name = by_proxy.get(f.name, f.name)
            text = f.state if f.healthy else f"down ({f.state.strip('()')})"
            if f.lag_s is not None and f.state != "PRIMARY":
                text += f", lag {f.lag_s:.1f}s"
            health[name] = text
    alone = endpoints.get("standalone")
    for m, what in [(m, "mongos") for m in endpoints.get("mongos", [])] + (
        [(alone, "standalone")] if alone else []
    ):
        client = _direct(m["address"])
        try:
            client.admin.command("ping")
            health[m["name"]] = f"{what}, answering"
        except PyMongoError as exc:
            health[m["name"]] = f"unreachable ({type(exc).__name__})"
        finally:
            client.close()
    return health


def mongo_chunks(endpoints: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """Chunks per shard of every sharded collection, through the first mongos that answers."""
    if endpoints.get("mode") != "sharded" or not endpoints.get("mongos"):
        return {}
    client = _direct(endpoints["mongos"][0]["address"])
    try:
        return sharded_chunks(client, endpoints["database"])
    except PyMongoError:
        return {}
    finally:
        client.close()


# -- capacity: which server answers, and its own counters ---------------------------------------


@dataclass(frozen=True)
class ServerIdentity:
    """The MongoDB-plane server as it names itself (``buildInfo``), never as a flag says."""

    server: str  # "mongod" or "ferretdb"
    version: str
    backend: str  # FerretDB's storage ("SQLite" when its data dir holds SQLite files), else the engine
    label: str  # what every figure, table and report built on this server is titled with

    @property
    def is_mongodb(self) -> bool:
        return self.server == "mongod"


def identify(build_info: Mapping[str, Any], sqlite_files: bool, engine: str | None = None) -> ServerIdentity:
    """The server behind ``build_info`` (a ``buildInfo`` reply): FerretDB answers with its own
    ``ferretdbVersion`` (and a MongoDB-compatible ``version`` it only emulates: never the label);
    ``sqlite_files``: whether its data directory holds ``*.sqlite`` files (the SQLite handler);
    ``engine``: ``serverStatus.storageEngine.name`` of a mongod."""
    ferret = build_info.get("ferretdbVersion")
    if ferret:
        version = str(ferret).removeprefix("v")
        backend = "SQLite" if sqlite_files else "an unnamed backend (no .sqlite data files)"
        return ServerIdentity("ferretdb", version, backend, f"FerretDB {version} on {backend}, not MongoDB")
    version = str(build_info.get("version") or "unknown")
    engine = engine or "unknown engine"
    return ServerIdentity("mongod", version, engine, f"MongoDB {version} (mongod, {engine})")


def server_status(client: Client) -> dict[str, Any]:
    """``serverStatus`` with the counters capacity needs (opcounters, network, metrics.commands)."""
    return dict(
        client.admin.command(SON([("serverStatus", 1), ("repl", 0), ("locks", 0), ("wiredTiger", 0)]))
    )


def server_counters(status: Mapping[str, Any]) -> dict[str, int | None]:
    """The cumulative counters of a ``serverStatus`` reply that a capacity step differences:
    ``insert_commands`` (``metrics.commands.insert.total``), ``docs_inserted``
    (``opcounters.insert``), ``net_in_bytes``/``net_out_bytes`` (``network.bytesIn``/``bytesOut``).
    ``None``: the server does not give it (FerretDB 1.x has no opcounters and no network section)."""
    cmds = ((status.get("metrics") or {}).get("commands") or {}).get("insert")
    opc = status.get("opcounters")
    net = status.get("network")

    def num(v: Any) -> int | None:
        return int(v) if isinstance(v, int | float) else None

    return {
        "insert_commands": num(cmds.get("total")) if isinstance(cmds, Mapping) else None,
        "docs_inserted": num(opc.get("insert")) if isinstance(opc, Mapping) else None,
        "net_in_bytes": num(net.get("bytesIn")) if isinstance(net, Mapping) else None,
        "net_out_bytes": num(net.get("bytesOut")) if isinstance(net, Mapping) else None,
    }


def storage(coll_stats: Mapping[str, Any]) -> dict[str, int | None]:
    """Documents and sizes of a ``collStats`` reply: ``size`` (data, uncompressed on mongod),
    ``storageSize`` (on disk), ``totalIndexSize``."""

    def num(key: str) -> int | None:
        v = coll_stats.get(key)
        return int(v) if isinstance(v, int | float) else None

    return {
        "count": num("count"),
        "data_bytes": num("size"),
        "storage_bytes": num("storageSize"),
        "index_bytes": num("totalIndexSize"),
    }
