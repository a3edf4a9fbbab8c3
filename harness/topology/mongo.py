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
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from harness.clients import mongo_stats
from harness.doctor import MONGODB_BIN_DIR_ENV, find_binary, parse_ferretdb_version, parse_mongod_version
from harness.errors import HarnessError, MissingBinaryError, NotHealthyError
from harness.topology import mongo_commands as cmds
from harness.topology.lifecycle import RunResources
from harness.topology.mongo_features import ServerFeatures, probe
from harness.topology.mongo_presplit import ZoneRange, zone_ranges
from harness.topology.mongo_spec import CollectionSpec, IndexSpec, MemberSpec, MongoSpec, default_index_name
from harness.topology.network import Host, Network
from harness.topology.processes import ServerProcess, log_tail
from harness.topology.toxiproxy import ProxyInfo, ToxiproxyServer

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
# The SIGTERM quiesce: 1 s, not 15, or a restart fault becomes a 15 s outage.
QUIESCE_MS = 1000
QUIESCE_PARAMETER = {
    "mongod": "shutdownTimeoutMillisForSignaledShutdown",
    "mongos": "mongosShutdownTimeoutMillisForSignaledShutdown",
}
Kind = Literal["replset", "configsvr", "shardsvr", "mongos", "standalone"]
Poll = Callable[[], tuple[str, "MongoNode | None"] | None]


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


@dataclass
class MongoNode:
    """One mongod (a replica-set member) or mongos, with its proxy and its direct admin path."""

    name: str
    kind: Kind
    host: Host
    port: int
    proxy: ProxyInfo
    data_dir: Path
    log: Path
    replset: str | None = None
    member: MemberSpec | None = None
    process: ServerProcess | None = None
    _admin: MongoClient[dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def direct(self) -> str:
        return f"{self.host.address}:{self.port}"

    @property
    def proxied(self) -> str:
        """The address the cluster (and clients) know this node by."""
        return self.proxy.address

    def admin(self) -> MongoClient[dict[str, Any]]:
        """A direct connection that bypasses the proxy (observer path), with short timeouts: for
        quick commands only, DDL goes through :func:`ddl_client`."""
        if self._admin is None:
            self._admin = MongoClient(
                self.direct,
                directConnection=True,
                serverSelectionTimeoutMS=2000,
                connectTimeoutMS=2000,
                socketTimeoutMS=10_000,
                appname="harness-admin",
            )
        return self._admin

    def running(self) -> bool:
        return self.process is not None and self.process.running()

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None


@dataclass
class ReplSet:
    name: str
    kind: Kind
    nodes: list[MongoNode]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def seed_list(self) -> list[str]:
        return [n.proxied for n in self.nodes if n.member is not None and not n.member.arbiter]

    def uri(self) -> str:
        hosts = ",".join(n.proxied for n in self.nodes)
        return f"mongodb://{hosts}/?replicaSet={self.name}"


@dataclass
class MongoPlane:
    spec: MongoSpec
    replsets: list[ReplSet] = field(default_factory=list)
    mongos: list[MongoNode] = field(default_factory=list)
    standalone: MongoNode | None = None
    versions: dict[str, str] = field(default_factory=dict)
    # Found out at bring-up: the server and what it lacks, and the collection options (validators,
    # indexes) it refused, each with the server's message.
    features: ServerFeatures | None = None
    left_out: list[str] = field(default_factory=list)
    # Chunks per shard of each sharded collection ("db.coll" -> shard -> chunks) after bring-up.
    chunks: dict[str, dict[str, int]] = field(default_factory=dict)

    def leave_out(self, entry: str) -> None:
        """Notes a collection option the server refused (once: the reset between variants builds
        the collections again)."""
        if entry not in self.left_out:
            self.left_out.append(entry)

    @property
    def nodes(self) -> list[MongoNode]:
        alone = [self.standalone] if self.standalone is not None else []
        return [n for rs in self.replsets for n in rs.nodes] + self.mongos + alone

    @property
    def sharded(self) -> bool:
        return self.spec.mode == "sharded"

    def uri(self) -> str:
        """The connection string clients use: mongos proxies, the replica set's proxies, or the one
        server's proxy."""
        if self.standalone is not None:
            return f"mongodb://{self.standalone.proxied}/?directConnection=true"
        if self.sharded:
            return "mongodb://" + ",".join(m.proxied for m in self.mongos) + "/"
        return self.replsets[0].uri()

    def primary(self, replset: str) -> MongoNode | None:
        """The member of ``replset`` that is primary now (asked over each member's direct path)."""
        for rs in self.replsets:
            if rs.name == replset:
                return next((n for n in rs.nodes if n.member is not None and _is_primary(n)), None)
        raise KeyError(replset)

    def shards(self) -> list[ReplSet]:
        return [rs for rs in self.replsets if rs.kind == "shardsvr"]

    def close(self) -> None:
        for n in self.nodes:
            n.close()


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


def _ferretdb_argv(binary: str, node: MongoNode) -> list[str]:
    return [
        binary,
        "--listen-addr", f"{node.host.address}:{node.port}",
        "--data-dir", str(node.data_dir),
        "--log-level", "warn",
    ]  # fmt: skip


def _mongod_argv(binary: str, node: MongoNode, spec: MongoSpec) -> list[str]:
    s = spec.settings
    argv = [
        binary,
        *(["--replSet", node.replset] if node.replset else []),
        "--port", str(node.port),
        "--bind_ip", node.host.address,
        "--dbpath", str(node.data_dir),
        "--nounixsocket",  # no socket files in /tmp: everything of a run stays in its run dir
        "--wiredTigerCacheSizeGB", f"{s.wiredtiger_cache_gb:g}",
        "--oplogSize", str(s.oplog_size_mb),
        "--setParameter", f"ttlMonitorSleepSecs={s.ttl_monitor_sleep_secs}",
        "--setParameter", "diagnosticDataCollectionEnabled=false",  # FTDC costs CPU we do not have
    ]  # fmt: skip
    if node.kind == "configsvr":
        argv.append("--configsvr")
    elif node.kind == "shardsvr":
        argv.append("--shardsvr")
    return argv + _set_parameters(spec, "mongod")


def _mongos_argv(binary: str, node: MongoNode, config: ReplSet, spec: MongoSpec) -> list[str]:
    return [
        binary,
        "--configdb", f"{config.name}/{','.join(config.seed_list)}",
        "--port", str(node.port),
        "--bind_ip", node.host.address,
        "--nounixsocket",
        *_set_parameters(spec, "mongos"),
    ]  # fmt: skip


def _set_parameters(spec: MongoSpec, binary: Literal["mongod", "mongos"]) -> list[str]:
    """``--setParameter`` options for one binary: only its own map (see MongoSettings), after a
    short SIGTERM quiesce (a topology's own map may replace it)."""
    s = spec.settings
    out: list[str] = []
    if s.enable_test_commands:
        out += ["--setParameter", "enableTestCommands=1"]
    # Since 5.0 a SIGTERMed secondary (or a primary after its step-down attempt) and a mongos stay
    # in a quiesce period of 15 s before exiting; each binary has its own parameter for it.
    params: dict[str, str | int | bool] = {QUIESCE_PARAMETER[binary]: QUIESCE_MS}
    params.update(s.mongod_parameters if binary == "mongod" else s.mongos_parameters)
    for key, value in params.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        out += ["--setParameter", f"{key}={text}"]
    return out


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
        node.process = ServerProcess(node.name, node.host.wrap(argv), node.log, res)


def start_mongos(plane: MongoPlane, binaries: dict[str, str], res: RunResources) -> None:
    config = plane.replsets[0]
    for node in plane.mongos:
        argv = _mongos_argv(binaries["mongos"], node, config, plane.spec)
        node.process = ServerProcess(node.name, node.host.wrap(argv), node.log, res)


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


def _is_primary(node: MongoNode) -> bool:
    try:
        return bool(node.admin().admin.command("hello").get("isWritablePrimary"))
    except PyMongoError:
        return False


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
        for shard in shards:  # one zone per shard, named after it
            cmds.add_shard_to_zone(client, shard, shard)
    for coll in colls.collections:
        coll = _supported(coll, plane)
        cmds.create_collection(client, colls.database, coll)
        cmds.create_indexes(client, colls.database, coll)
        if sharded and coll.shard_key is not None:
            for r in zones[coll.name]:
                cmds.update_zone_key_range(client, f"{colls.database}.{coll.name}", r.min, r.max, r.zone)
            cmds.shard_collection(client, colls.database, coll)


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
