"""MongoDB on the local backend: mongod/mongos processes, replica sets and a sharded cluster.

Every process runs in its own host behind its own Toxiproxy proxy. Replica-set configs, ``addShard``
seed lists and ``mongos --configdb`` name *proxy* addresses, so replication, heartbeats, routing and
client discovery all go through Toxiproxy (a mongod recognises its own proxy address as itself by
connecting to it and comparing instance ids). The harness's own admin traffic uses each process's
direct address, so toxics and partitions never blind the observer.

Bring-up order (sharded): config replica set, shard replica sets, mongos, ``addShard`` for each
shard, ``enableSharding``, then the collections (``create`` with validators, ``createIndexes``,
``shardCollection``). Every wait polls the servers; none is a fixed sleep.

A ``standalone`` plane is one server: mongod without ``--replSet`` where mongod exists, else FerretDB
(``tools/bin/ferretdb``, built by ``make setup``). Its features are probed at bring-up
(:mod:`harness.topology.mongo_features`) and what it refuses is left out of the collections and
listed, so the report says exactly what ran.

The plane's nodes and their command lines are in :mod:`harness.topology.mongo_plane`, the waits for
health in :mod:`harness.topology.mongo_health`; callers across the harness know the nodes, the plane
and the waits they use by this module (re-exported here).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pymongo import MongoClient

from harness.clients import mongo_stats
from harness.doctor import MONGODB_BIN_DIR_ENV, find_binary, parse_ferretdb_version, parse_mongod_version
from harness.errors import HarnessError, MissingBinaryError
from harness.topology import mongo_commands as cmds
from harness.topology.lifecycle import RunResources
from harness.topology.mongo_features import probe
from harness.topology.mongo_health import bring_up_replset, poll_until
from harness.topology.mongo_health import ddl_client as ddl_client
from harness.topology.mongo_health import wait_answering as wait_answering
from harness.topology.mongo_health import wait_replset_ready as wait_replset_ready
from harness.topology.mongo_plane import Kind, _ferretdb_argv, _mongod_argv, _mongos_argv
from harness.topology.mongo_plane import MongoNode as MongoNode
from harness.topology.mongo_plane import MongoPlane as MongoPlane
from harness.topology.mongo_plane import ReplSet as ReplSet
from harness.topology.mongo_presplit import ZoneRange, zone_ranges
from harness.topology.mongo_spec import CollectionSpec, IndexSpec, MemberSpec, MongoSpec, default_index_name
from harness.topology.network import Network
from harness.topology.toxiproxy import ToxiproxyServer

MONGO_HINT = (
    "MongoDB is not installed here. Get it one of three ways: put mongod and mongos (7.0 or 8.0) on "
    "PATH; or set MONGODB_BIN_DIR to the directory holding them (e.g. an extracted "
    "mongodb-linux-x86_64 tarball's bin/); or use the Docker backend with the image mongo:7.0 on a "
    "machine with a Docker engine (that backend is not in this version yet)."
)
FERRETDB_HINT = (
    "FerretDB is the MongoDB plane's server where no mongod exists; 'make setup' builds it into "
    "tools/bin/ferretdb (needs Go >= 1.24). Or put mongod 7.0+ on PATH / in MONGODB_BIN_DIR."
)
MONGO_PORT = 27017
MIN_VERSION = (6, 0)


def mongo_binaries(need_mongos: bool) -> dict[str, str]:
    """Paths of mongod (and mongos); one clear error naming what is missing or too old and how to
    get a usable one."""
    found: dict[str, str] = {}
    for name in ["mongod", "mongos"] if need_mongos else ["mongod"]:
        path = find_binary(name)
        if path is None:
            raise MissingBinaryError(name, MONGO_HINT)
        check_version(name, path)
        found[name] = path
    return found


def resolve_server(spec: MongoSpec) -> Literal["mongod", "ferretdb"]:
    """The server the plane runs on: as the spec says, or (``auto``) mongod where it is found and,
    for a standalone plane only, FerretDB where it is not."""
    if spec.server != "auto":
        return spec.server
    if spec.mode == "standalone" and find_binary("mongod") is None and find_binary("ferretdb") is not None:
        return "ferretdb"
    return "mongod"


def plane_binaries(spec: MongoSpec) -> dict[str, str]:
    """The server binaries the plane runs (``mongod``/``mongos`` or ``ferretdb``), by name; one clear
    error naming what is missing and how to get it."""
    if resolve_server(spec) == "ferretdb":
        path = find_binary("ferretdb")
        if path is None:
            raise MissingBinaryError("ferretdb", FERRETDB_HINT)
        return {"ferretdb": path}
    return mongo_binaries(need_mongos=spec.mode == "sharded")


def check_version(name: str, path: str) -> None:
    """Refuses a mongod/mongos older than :data:`MIN_VERSION`: the harness relies on behaviour of
    6.0 and later (sharding DDL that a retried command joins, the SIGTERM quiesce parameters, a
    stepdown that keeps connections). An unrecognised version string is let through: only a
    version known to be too old is refused."""
    version = mongo_version(path)
    m = re.match(r"(\d+)\.(\d+)", version)
    if m is None or (int(m[1]), int(m[2])) >= MIN_VERSION:
        return
    mongo_dir = os.environ.get(MONGODB_BIN_DIR_ENV)
    via = " (from $MONGODB_BIN_DIR)" if mongo_dir and Path(path).parent == Path(mongo_dir).absolute() else ""
    raise HarnessError(
        f"{name} {version} at {path}{via} is too old: the harness needs MongoDB "
        f"{MIN_VERSION[0]}.{MIN_VERSION[1]} or newer (7.0 or 8.0 recommended). Install a newer one and set "
        "MONGODB_BIN_DIR to its directory (e.g. an extracted mongodb-linux-x86_64 tarball's bin/), "
        "which is searched before PATH; 'harness doctor' shows what is found where."
    )


def missing_mongo_binaries(spec: MongoSpec) -> list[str]:
    """The MongoDB server binaries this plane needs and this machine lacks (empty: it can run)."""
    if resolve_server(spec) == "ferretdb":
        return [] if find_binary("ferretdb") is not None else ["ferretdb"]
    need = ["mongod", "mongos"] if spec.mode == "sharded" else ["mongod"]
    return [name for name in need if find_binary(name) is None]


def ferretdb_available() -> bool:
    return find_binary("ferretdb") is not None


def ferretdb_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    version = parse_ferretdb_version(out)
    return version if version is not None else (out.strip() or "unknown")


def mongo_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    version = parse_mongod_version(out)
    if version is not None:
        return version
    return out.strip().splitlines()[0] if out.strip() else "unknown"


# -- layout -----------------------------------------------------------------------------------


def _layout(spec: MongoSpec) -> list[tuple[str, Kind, list[MemberSpec]]]:
    """(replica-set name, kind, members) for every replica set the spec asks for."""
    if spec.mode == "standalone":
        return []
    if spec.mode == "replset":
        assert spec.replset is not None
        return [(spec.replset.name, "replset", list(spec.replset.members))]
    sh = spec.sharding()
    sets: list[tuple[str, Kind, list[MemberSpec]]] = [
        ("cfg", "configsvr", [MemberSpec(name=f"cfg{i + 1}") for i in range(sh.config_servers)])
    ]
    for s in range(sh.shards):
        members = [
            MemberSpec(name=f"s{s + 1}m{i + 1}", priority=2 if i == 0 else 1)
            for i in range(sh.members_per_shard)
        ]
        sets.append((f"shard{s + 1}", "shardsvr", members))
    return sets


def _port(network: Network) -> int:
    return MONGO_PORT if network.kind == "netns" else network.node_ports()[0]


def plan(spec: MongoSpec, network: Network, toxi: ToxiproxyServer, run_dir: Path) -> MongoPlane:
    """Creates hosts and proxies and decides every node's addresses; starts nothing yet."""
    plane = MongoPlane(spec)

    def make(name: str, kind: Kind, replset: str | None, member: MemberSpec | None) -> MongoNode:
        host = network.add_host(name)
        port = _port(network)
        proxy = toxi.create(f"{name}-client", network.proxy_address, f"{host.address}:{port}")
        return MongoNode(
            name, kind, host, port, proxy, run_dir / "data" / name, run_dir / "logs" / f"{name}.log",
            replset=replset, member=member,
        )  # fmt: skip

    for rs_name, kind, members in _layout(spec):
        nodes = [make(m.name, kind, rs_name, m) for m in members]
        settings = dict(spec.replset.settings) if spec.replset is not None and kind == "replset" else {}
        plane.replsets.append(ReplSet(rs_name, kind, nodes, settings))
    if spec.mode == "sharded":
        plane.mongos = [make(f"mongos{i + 1}", "mongos", None, None) for i in range(spec.sharding().mongos)]
    if spec.mode == "standalone":
        plane.standalone = make("m1", "standalone", None, None)
    return plane


# -- bring-up ---------------------------------------------------------------------------------


def start(plane: MongoPlane, binaries: dict[str, str], res: RunResources) -> None:
    """Starts every mongod, or the FerretDB server (mongos start later, once the config servers
    have a primary)."""
    for node in [n for n in plane.nodes if n.kind != "mongos"]:
        node.data_dir.mkdir(parents=True, exist_ok=True)
        if "ferretdb" in binaries:
            argv = _ferretdb_argv(binaries["ferretdb"], node)
        else:
            argv = _mongod_argv(binaries["mongod"], node, plane.spec)
        node.process = node.host.spawn(node.name, argv, node.log, res)


def start_mongos(plane: MongoPlane, binaries: dict[str, str], res: RunResources) -> None:
    config = plane.replsets[0]
    for node in plane.mongos:
        argv = _mongos_argv(binaries["mongos"], node, config, plane.spec)
        node.process = node.host.spawn(node.name, argv, node.log, res)


def bring_up_sharding(plane: MongoPlane, timeout_s: float) -> None:
    """``addShard`` for each shard, ``enableSharding``, the collections, then a majority write
    through a mongos."""
    with ddl_client(plane, timeout_s) as router:
        for shard in plane.shards():
            cmds.add_shard(router, shard.name, shard.seed_list)

        def shards_listed() -> tuple[str, MongoNode | None] | None:
            listed = {s.get("_id") for s in cmds.list_shards(router)}
            missing = [s.name for s in plane.shards() if s.name not in listed]
            return (f"shards not listed by mongos: {missing}", plane.mongos[0]) if missing else None

        poll_until("every shard listed", shards_listed, timeout_s)
        colls = plane.spec.load_collections()
        cmds.enable_sharding(router, colls.database)
        plane.features = probe(router, "sharded")
        create_collections(router, plane, sharded=True)
        cmds.router_probe(router)
        plane.chunks = mongo_stats.sharded_chunks(router, colls.database)


def create_collections(
    client: MongoClient[dict[str, Any]], plane: MongoPlane, *, sharded: bool, tenants: int | None = None
) -> None:
    """The collections with their validators and indexes; sharded, each with a ranged
    ``tenant_id`` key gets its chunks spread over the shards before it is sharded, for
    ``tenants`` tenants (default: the collections file's ``presplit``; see mongo_presplit)."""
    colls = plane.spec.load_collections()
    shards = [rs.name for rs in plane.shards()]
    count = tenants if tenants is not None else colls.presplit.tenants

    def ranges(coll: CollectionSpec) -> list[ZoneRange]:
        if not sharded or coll.shard_key is None:
            return []
        return zone_ranges(coll.shard_key, shards, count, colls.presplit.chunks_per_shard)

    zones = {coll.name: ranges(coll) for coll in colls.collections}
    if any(zones.values()):
        _shard_zones(client, shards)
    for coll in colls.collections:
        _create(client, plane, colls.database, coll, zones[coll.name] if sharded else None)


def recreate_collection(
    client: MongoClient[dict[str, Any]], plane: MongoPlane, coll: CollectionSpec, zones: Sequence[ZoneRange]
) -> None:
    """Drops ``coll`` and creates it again as bring-up does, sharded (on a sharded plane) with
    ``zones`` as its initial chunks: a variant that picks its own shard key (the drop removes the
    old key's chunks and zone ranges)."""
    database = plane.spec.load_collections().database
    cmds.drop_collection(client, database, coll.name)
    if plane.sharded and zones:
        _shard_zones(client, [rs.name for rs in plane.shards()])
    _create(client, plane, database, coll, zones if plane.sharded else None)


def _shard_zones(client: MongoClient[dict[str, Any]], shards: Sequence[str]) -> None:
    for shard in shards:  # one zone per shard, named after it
        cmds.add_shard_to_zone(client, shard, shard)


def _create(
    client: MongoClient[dict[str, Any]],
    plane: MongoPlane,
    database: str,
    coll: CollectionSpec,
    zones: Sequence[ZoneRange] | None,
) -> None:
    """``create``, ``createIndexes`` and, when ``zones`` is given (a sharded plane), the zone
    ranges then ``shardCollection``."""
    coll = _supported(coll, plane)
    cmds.create_collection(client, database, coll)
    cmds.create_indexes(client, database, coll)
    if zones is not None and coll.shard_key is not None:
        for r in zones:
            cmds.update_zone_key_range(client, f"{database}.{coll.name}", r.min, r.max, r.zone)
        cmds.shard_collection(client, database, coll)


def _supported(coll: CollectionSpec, plane: MongoPlane) -> CollectionSpec:
    """``coll`` without the validator and indexes the probed server refuses, each left out noted."""
    f = plane.features
    if f is None:
        return coll
    left_out: list[str] = []
    validator = coll.validator
    if validator is not None and not f.has("validator"):
        left_out.append(f"{coll.name}: validator ({f.lacks['validator']})")
        validator = None
    kept: list[IndexSpec] = []
    for index in coll.indexes:
        needs = [
            feature
            for feature, used in (
                ("ttl_index", index.expire_after_seconds is not None),
                ("partial_index", index.partial_filter is not None),
            )
            if used and not f.has(feature)
        ]
        if needs:
            name = index.name or default_index_name(index.key)
            left_out.append(f"{coll.name}: index {name} ({f.lacks[needs[0]]})")
        else:
            kept.append(index)
    for entry in left_out:
        plane.leave_out(entry)
    return coll.model_copy(update={"validator": validator, "indexes": kept})


def bring_up(
    plane: MongoPlane, binaries: dict[str, str], res: RunResources, timeout_s: float, *, started: bool = False
) -> None:
    """Everything after planning: start the mongods (unless ``started``), initiate every replica
    set, start the mongos and build the cluster, create the collections."""
    if not started:
        start(plane, binaries, res)
    if plane.standalone is not None:
        bring_up_standalone(plane, timeout_s)
        return
    wait_answering([n for rs in plane.replsets for n in rs.nodes], timeout_s)
    for rs in plane.replsets:
        bring_up_replset(rs, timeout_s)
    if plane.sharded:
        start_mongos(plane, binaries, res)
        wait_answering(plane.mongos, timeout_s)
        bring_up_sharding(plane, timeout_s)
    else:
        with ddl_client(plane, timeout_s) as client:
            plane.features = probe(client, "replset")
            create_collections(client, plane, sharded=False)


def bring_up_standalone(plane: MongoPlane, timeout_s: float) -> None:
    """One server answering, its features probed, the collections it can hold created."""
    node = plane.standalone
    assert node is not None
    wait_answering([node], timeout_s)
    with ddl_client(plane, timeout_s) as client:
        plane.features = probe(client, "standalone")
        create_collections(client, plane, sharded=False)
