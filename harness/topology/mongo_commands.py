"""The MongoDB commands the harness sends, one function each, over a given ``MongoClient``.

Kept apart from process management so that every command can be asserted, field by field, against
``mockupdb`` (tests/unit/test_mongo_contract.py), and so later fault code reuses the primitives
(step down, freeze, fail points). Field names follow the server manual's command pages:
replSetInitiate, replSetGetStatus, addShard, enableSharding, addShardToZone, updateZoneKeyRange,
create, createIndexes, shardCollection, drop, replSetStepDown, replSetFreeze, replSetGetConfig,
replSetReconfig, configureFailPoint, waitForFailPoint.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bson import SON
from pymongo import MongoClient
from pymongo.errors import ConnectionFailure, OperationFailure

from harness.topology.mongo_spec import CollectionSpec, MemberSpec

Client = MongoClient[dict[str, Any]]

# Member states from replSetGetStatus (``stateStr``) that mean "serving as a data member".
PRIMARY, SECONDARY, ARBITER = "PRIMARY", "SECONDARY", "ARBITER"


@dataclass(frozen=True)
class Member:
    """A member as the replica-set config will name it: its proxy address is its host name."""

    spec: MemberSpec
    host: str  # "proxy-ip:proxy-port"


def replset_config(
    name: str,
    members: Sequence[Member],
    *,
    configsvr: bool = False,
    settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The document for ``replSetInitiate``."""
    docs: list[dict[str, Any]] = []
    for i, m in enumerate(members):
        doc: dict[str, Any] = {"_id": i, "host": m.host, "priority": m.spec.priority, "votes": m.spec.votes}
        if m.spec.arbiter:
            doc["arbiterOnly"] = True
        if m.spec.hidden:
            doc["hidden"] = True
        if m.spec.secondary_delay_secs:
            doc["secondaryDelaySecs"] = m.spec.secondary_delay_secs
        docs.append(doc)
    config: dict[str, Any] = {"_id": name, "version": 1, "members": docs}
    if configsvr:
        config["configsvr"] = True
    if settings:
        config["settings"] = dict(settings)
    return config


def initiate(client: Client, config: dict[str, Any]) -> None:
    """``replSetInitiate``; a set that is already initiated (code 23) is left as it is."""
    try:
        client.admin.command("replSetInitiate", config)
    except OperationFailure as exc:
        if exc.code != 23:  # AlreadyInitialized
            raise


def replset_status(client: Client) -> dict[str, Any]:
    return client.admin.command("replSetGetStatus")


def readiness_problem(
    status: Mapping[str, Any], delayed: Sequence[str] = (), preferred: str | None = None
) -> tuple[str, str | None] | None:
    """None when the set has one PRIMARY and every other data member is SECONDARY with the primary's
    optime (members in ``delayed`` lag on purpose and only need to be SECONDARY); otherwise
    ``(what is wrong, the member name to blame or None)``.

    ``preferred`` names the member with the highest priority: while it is a healthy SECONDARY,
    another primary is only temporary (it will take over by priority), so the set is not ready."""
    members = status.get("members") or []
    primaries = [m for m in members if m.get("stateStr") == PRIMARY]
    if len(primaries) != 1:
        states = ", ".join(f"{m.get('name')} {m.get('stateStr')}" for m in members)
        return (f"{len(primaries)} PRIMARY members ({states})", None)
    primary = primaries[0]
    if preferred is not None and primary.get("name") != preferred:
        want = next((m for m in members if m.get("name") == preferred), None)
        if want is not None and want.get("stateStr") == SECONDARY and want.get("health", 1):
            return (
                f"primary is {primary.get('name')}; waiting for {preferred} (highest priority) to take over",
                preferred,
            )
    head = _optime_ts(primary)
    for m in members:
        state = m.get("stateStr")
        if m is primary or state == ARBITER:
            continue
        if state != SECONDARY:
            return (f"member {m.get('name')} is {state}, not SECONDARY", m.get("name"))
        if m.get("name") in delayed:
            continue
        ts = _optime_ts(m)
        if head is not None and (ts is None or ts < head):
            return (
                f"member {m.get('name')} has not caught up with the primary's optime {head}",
                m.get("name"),
            )
    return None


def _optime_ts(member: Mapping[str, Any]) -> tuple[int, int] | None:
    optime = member.get("optime")
    ts = optime.get("ts") if isinstance(optime, Mapping) else None
    if ts is None:
        return None
    return (int(ts.time), int(ts.inc))


def majority_probe(client: Client) -> None:
    """A write acknowledged by a majority and journaled: ``appendOplogNote`` writes a no-op oplog
    entry, so it proves the set takes durable writes without creating a database (a shard must
    not hold databases of its own before ``addShard``)."""
    client.admin.command(
        SON(
            [
                ("appendOplogNote", 1),
                ("data", {"harness": "readiness probe"}),
                ("writeConcern", {"w": "majority", "j": True, "wtimeout": 10_000}),
            ]
        )
    )


def router_probe(client: Client, database: str = "harness", collection: str = "probe") -> None:
    """A majority write through a mongos: routing, the primary shard and its majority all work."""
    client[database].command(
        SON(
            [
                ("insert", collection),
                ("documents", [{"probe": True}]),
                ("writeConcern", {"w": "majority", "j": True, "wtimeout": 10_000}),
            ]
        )
    )


# -- DDL: sharding and collections ----------------------------------------------------------------

# DDL (addShard, shardCollection, createIndexes, drop...) can take many seconds on a loaded
# machine: it runs on a client without the admin path's short socket timeout (mongo.ddl_client)
# and is bounded on the server instead, by maxTimeMS.
DDL_MAX_TIME_MS = 60_000
DDL_ATTEMPTS = 4
# Errors after which the same DDL command is sent again: elections and shutdowns under way, lock
# and DDL conflicts, and the time limit itself (a sharding DDL coordinator keeps running when the
# command times out; sending it again joins it).
TRANSIENT_CODES = frozenset(
    {
        6,  # HostUnreachable
        7,  # HostNotFound
        24,  # LockTimeout
        46,  # LockBusy
        50,  # MaxTimeMSExpired
        89,  # NetworkTimeout
        91,  # ShutdownInProgress
        117,  # ConflictingOperationInProgress
        133,  # FailedToSatisfyReadPreference
        189,  # PrimarySteppedDown
        262,  # ExceededTimeLimit
        9001,  # SocketException
        10107,  # NotWritablePrimary
        11600,  # InterruptedAtShutdown
        11602,  # InterruptedDueToReplStateChange
        13435,  # NotPrimaryNoSecondaryOk
        13436,  # NotPrimaryOrSecondary
    }
)


def run_ddl(
    client: Client,
    database: str,
    command: SON[str, Any],
    *,
    ok_codes: Sequence[int] = (),
    attempts: int = DDL_ATTEMPTS,
    backoff_s: float = 0.5,
) -> dict[str, Any]:
    """Sends ``command`` with ``maxTimeMS``, again (after a short backoff) on a transient error
    or a lost connection: every DDL here is idempotent, so a repeat after an unknown outcome is
    safe. The driver never retries a command itself. An error in ``ok_codes`` counts as done."""
    cmd: SON[str, Any] = SON(command)
    cmd["maxTimeMS"] = DDL_MAX_TIME_MS
    for attempt in range(1, attempts + 1):
        try:
            return client[database].command(cmd)
        except OperationFailure as exc:
            if exc.code in ok_codes:
                return dict(exc.details or {})
            if exc.code not in TRANSIENT_CODES or attempt == attempts:
                raise
        except ConnectionFailure:
            if attempt == attempts:
                raise
        time.sleep(backoff_s * 2 ** (attempt - 1))
    raise AssertionError("unreachable: the last attempt returns or raises")


def add_shard(client: Client, name: str, hosts: Sequence[str]) -> None:
    """``addShard`` with the shard's replica-set seed list (proxy addresses); adding the same shard
    again is ok."""
    run_ddl(client, "admin", SON([("addShard", f"{name}/{','.join(hosts)}"), ("name", name)]))


def list_shards(client: Client) -> list[dict[str, Any]]:
    return list(client.admin.command("listShards").get("shards", []))


def enable_sharding(client: Client, database: str) -> None:
    run_ddl(client, "admin", SON([("enableSharding", database)]))


def create_collection(client: Client, database: str, coll: CollectionSpec) -> None:
    """``create`` with the validator, if any; an existing collection (code 48) is kept."""
    cmd: SON[str, Any] = SON([("create", coll.name)])
    if coll.validator is not None:
        cmd["validator"] = coll.validator
        cmd["validationLevel"] = coll.validation_level
        cmd["validationAction"] = coll.validation_action
    run_ddl(client, database, cmd, ok_codes=(48,))  # NamespaceExists


def create_indexes(client: Client, database: str, coll: CollectionSpec) -> None:
    """``createIndexes``; indexes that already exist with the same options are ok."""
    if not coll.indexes:
        return
    run_ddl(
        client,
        database,
        SON([("createIndexes", coll.name), ("indexes", [i.command_doc() for i in coll.indexes])]),
    )


def shard_collection(client: Client, database: str, coll: CollectionSpec) -> None:
    """``shardCollection``; a collection already sharded with the same key is ok."""
    assert coll.shard_key is not None
    run_ddl(
        client, "admin", SON([("shardCollection", f"{database}.{coll.name}"), ("key", dict(coll.shard_key))])
    )


def add_shard_to_zone(client: Client, shard: str, zone: str) -> None:
    """``addShardToZone``; a shard already in the zone is ok."""
    run_ddl(client, "admin", SON([("addShardToZone", shard), ("zone", zone)]))


def update_zone_key_range(
    client: Client, namespace: str, low: Mapping[str, Any], high: Mapping[str, Any], zone: str
) -> None:
    """``updateZoneKeyRange`` [low, high) to ``zone``, allowed before the collection is sharded;
    the same range to the same zone again is ok."""
    run_ddl(
        client,
        "admin",
        SON([("updateZoneKeyRange", namespace), ("min", low), ("max", high), ("zone", zone)]),
    )


def drop_collection(client: Client, database: str, name: str) -> None:
    """``drop`` with ``w: majority`` (a rolled-back drop would bring the old documents back); a
    collection that does not exist (code 26 before 7.0) is fine. On a sharded cluster the drop
    also removes the collection's chunks and zone ranges, and since 5.0 every mongos notices a
    collection recreated under the same name by itself (no flushRouterConfig)."""
    run_ddl(client, database, SON([("drop", name), ("writeConcern", {"w": "majority"})]), ok_codes=(26,))


def drop_index(client: Client, database: str, collection: str, index: str) -> None:
    """``dropIndexes`` of one index by name; one already gone (IndexNotFound, 27) is fine."""
    run_ddl(client, database, SON([("dropIndexes", collection), ("index", index)]), ok_codes=(27,))


# -- primitives for faults (scheduling them is the nemesis's job) -----------------------------


def step_down(client: Client, seconds: int = 60, catch_up_secs: int = 10) -> dict[str, Any]:
    """``replSetStepDown`` on a primary: it waits up to ``catch_up_secs`` for an electable
    secondary to catch up, steps down and is unelectable for ``seconds``. Since MongoDB 4.2 it no
    longer closes every connection (only operations that were writing are killed) and it replies
    ``ok``, so any error, a dropped connection included, reaches the caller: the outcome is then
    unknown, never assumed."""
    return client.admin.command(
        SON([("replSetStepDown", seconds), ("secondaryCatchUpPeriodSecs", catch_up_secs)])
    )


def freeze(client: Client, seconds: int) -> None:
    """``replSetFreeze``: the member will not seek election for ``seconds`` (0 unfreezes)."""
    client.admin.command("replSetFreeze", seconds)


def unfreeze(client: Client) -> None:
    """``replSetFreeze: 0`` on a member that may have become primary meanwhile. The server answers
    NotSecondary (code 95) for a primary or a member running for election; neither is frozen, so
    that one error means there was nothing to undo. Any other error is raised."""
    try:
        client.admin.command("replSetFreeze", 0)
    except OperationFailure as exc:
        if exc.code != 95:  # NotSecondary
            raise


def replset_config_now(client: Client) -> dict[str, Any]:
    """``replSetGetConfig``: the set's current config document (its ``config`` field)."""
    return dict(client.admin.command("replSetGetConfig")["config"])


def reconfig(client: Client, config: Mapping[str, Any]) -> None:
    """``replSetReconfig`` on the primary with ``config``, whose ``version`` the caller has raised
    by one from the config it read (the server refuses any other version)."""
    client.admin.command(SON([("replSetReconfig", dict(config))]))


def fail_point(
    client: Client,
    name: str,
    mode: str | Mapping[str, int] = "alwaysOn",
    data: Mapping[str, Any] | None = None,
) -> int:
    """``configureFailPoint`` (needs ``enableTestCommands``); mode ``"off"`` turns it off. Returns
    the reply's ``count``: how often the fail point had been entered before, the base for
    :func:`wait_for_fail_point`. ``stopReplProducer`` on a secondary stops it fetching the oplog:
    replication lag on demand."""
    cmd: SON[str, Any] = SON([("configureFailPoint", name), ("mode", mode)])
    if data:
        cmd["data"] = dict(data)
    return int(client.admin.command(cmd).get("count", 0))


def wait_for_fail_point(client: Client, name: str, times_entered: int, max_time_ms: int) -> None:
    """``waitForFailPoint``: returns once the server has entered fail point ``name``
    ``times_entered`` times in all (the count :func:`fail_point` returned, plus one: it has been
    hit since it was set); MaxTimeMSExpired after ``max_time_ms`` otherwise. Setting a fail point
    only arms it: the thread it stops may still be in the middle of its work until then."""
    client.admin.command(
        SON([("waitForFailPoint", name), ("timesEntered", times_entered), ("maxTimeMS", max_time_ms)])
    )
