"""The MongoDB plane's processes as the harness knows them: each mongod, mongos or FerretDB server
(:class:`MongoNode`) with its proxy and its direct admin path, the replica sets, the whole plane, and
the command line each server is started with."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from harness.topology.mongo_features import ServerFeatures
from harness.topology.mongo_spec import MemberSpec, MongoSpec
from harness.topology.network import Host
from harness.topology.processes import ServerProcess
from harness.topology.toxiproxy import ProxyInfo

# The SIGTERM quiesce: 1 s, not 15, or a restart fault becomes a 15 s outage.
QUIESCE_MS = 1000
QUIESCE_PARAMETER = {
    "mongod": "shutdownTimeoutMillisForSignaledShutdown",
    "mongos": "mongosShutdownTimeoutMillisForSignaledShutdown",
}
Kind = Literal["replset", "configsvr", "shardsvr", "mongos", "standalone"]


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


def _is_primary(node: MongoNode) -> bool:
    try:
        return bool(node.admin().admin.command("hello").get("isWritablePrimary"))
    except PyMongoError:
        return False


# -- command lines ----------------------------------------------------------------------------


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
