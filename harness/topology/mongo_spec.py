"""Typed model of the ``mongo:`` section of a topology: replica set or sharded cluster, server
settings, and the platform's collections (shard keys, indexes, validators) as data.

Rules MongoDB itself enforces are checked here, before anything starts, so a bad file fails with
one clear error instead of a half-built cluster: a unique index on a sharded collection must have
the shard key's fields as its prefix (MongoDB refuses ``createIndexes`` otherwise), a hashed index
cannot be unique, delayed and hidden members cannot become primary (priority 0), a validator's
``$jsonSchema`` keywords have the types the server's parser needs (:mod:`.mongo_schema`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from harness.errors import HarnessError
from harness.specload import load_yaml_model
from harness.topology.mongo_schema import validator_problem

COLLECTIONS_DIR = Path(__file__).resolve().parent.parent.parent / "topologies" / "collections"
#: The platform's database: a collections file's default (``database``), and the default of the
#: workload's writers and readers.
DATABASE = "eventlog"

IndexDirection = Literal[1, -1, "hashed", "text", "2dsphere"]
NAME_PATTERN = r"^[a-z][a-z0-9-]{0,11}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MemberSpec(Strict):
    """One replica-set member. ``hidden`` and ``secondary_delay_secs`` members never become
    primary; an ``arbiter`` always votes and holds no data; a non-voting member (``votes: 0``)
    cannot become primary either."""

    name: str = Field(pattern=NAME_PATTERN)
    priority: float = Field(default=1, ge=0, le=1000)
    votes: Literal[0, 1] = 1
    hidden: bool = False
    secondary_delay_secs: int = Field(default=0, ge=0)
    arbiter: bool = False

    @model_validator(mode="after")
    def _check(self) -> MemberSpec:
        if (self.hidden or self.secondary_delay_secs or self.arbiter) and self.priority != 0:
            raise ValueError(
                f"member {self.name}: hidden, delayed and arbiter members must have priority 0 "
                "(MongoDB refuses the config otherwise)"
            )
        if self.arbiter and (self.hidden or self.secondary_delay_secs):
            raise ValueError(f"member {self.name}: an arbiter holds no data; it cannot be hidden or delayed")
        if self.arbiter and self.votes != 1:
            raise ValueError(
                f"member {self.name}: an arbiter always votes (MongoDB refuses an arbiter with votes: 0); "
                "drop 'votes: 0', and to keep the number of voters odd take the vote of a data-bearing "
                "member instead (votes: 0, priority: 0)"
            )
        if self.votes == 0 and self.priority != 0:
            raise ValueError(
                f"member {self.name}: a non-voting member (votes: 0) must have priority 0 "
                "(MongoDB refuses the config otherwise)"
            )
        return self

    @property
    def data_bearing(self) -> bool:
        return not self.arbiter


class ReplSetSpec(Strict):
    name: str = Field(default="rs0", pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,30}$")
    members: list[MemberSpec] = Field(min_length=1, max_length=7)
    # replSetInitiate ``settings`` (e.g. electionTimeoutMillis), passed through as given.
    settings: dict[str, int | bool] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> ReplSetSpec:
        names = [m.name for m in self.members]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"member names must be unique, repeated: {dup}")
        if not any(m.priority > 0 for m in self.members):
            raise ValueError("at least one member needs priority > 0, or no primary can be elected")
        voters = sum(m.votes for m in self.members)
        if voters % 2 == 0:
            raise ValueError(
                f"{voters} voting members: use an odd number so a majority can always be formed "
                "(give a data-bearing member votes: 0 and priority 0, or add one; an arbiter always votes)"
            )
        return self


class ShardedSpec(Strict):
    config_servers: Literal[1, 3] = 1
    shards: int = Field(default=2, ge=1, le=4)
    members_per_shard: Literal[1, 3] = 3
    mongos: int = Field(default=1, ge=1, le=2)


class MongoSettings(Strict):
    """Server options. Defaults keep ten-plus processes within 24 GiB on 2 cores."""

    wiredtiger_cache_gb: float = Field(default=0.25, ge=0.25, le=8)  # MongoDB's minimum is 0.25
    oplog_size_mb: int = Field(default=128, ge=16, le=4096)
    ttl_monitor_sleep_secs: int = Field(default=60, ge=1, le=3600)
    enable_test_commands: bool = True  # needed for fail points (configureFailPoint)
    # Further --setParameter values, passed through verbatim, one map per binary: a parameter the
    # binary does not know stops it at startup, and mongod and mongos know different ones.
    mongod_parameters: dict[str, str | int | bool] = Field(default_factory=dict)  # every mongod
    mongos_parameters: dict[str, str | int | bool] = Field(default_factory=dict)  # the routers

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "parameters" in data:
            raise ValueError(
                "'parameters' went to mongod and mongos alike, and a mongod-only parameter stops a "
                "mongos at startup: rename it to 'mongod_parameters' (every mongod: replica-set "
                "members, shards, config servers) and put router parameters in 'mongos_parameters'"
            )
        return data

    @field_validator("mongod_parameters", "mongos_parameters")
    @classmethod
    def _not_ours(cls, value: dict[str, Any]) -> dict[str, Any]:
        ours = {"enableTestCommands", "ttlMonitorSleepSecs"} & set(value)
        if ours:
            raise ValueError(f"{sorted(ours)} are set by enable_test_commands / ttl_monitor_sleep_secs")
        return value


class IndexSpec(Strict):
    key: dict[str, IndexDirection] = Field(min_length=1)
    name: str | None = None
    unique: bool = False
    expire_after_seconds: int | None = Field(default=None, ge=0)
    partial_filter: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _check(self) -> IndexSpec:
        if self.unique and "hashed" in self.key.values():
            raise ValueError(f"index {dict(self.key)}: a hashed index cannot be unique")
        if self.expire_after_seconds is not None and len(self.key) != 1:
            raise ValueError(f"index {dict(self.key)}: a TTL index must be on a single (date) field")
        return self

    @property
    def index_name(self) -> str:
        """The name it is created under (MongoDB needs one; unnamed, we derive its default)."""
        return self.name or default_index_name(self.key)

    def command_doc(self) -> dict[str, Any]:
        """The entry for ``createIndexes.indexes``."""
        doc: dict[str, Any] = {"key": dict(self.key), "name": self.index_name}
        if self.unique:
            doc["unique"] = True
        if self.expire_after_seconds is not None:
            doc["expireAfterSeconds"] = self.expire_after_seconds
        if self.partial_filter is not None:
            doc["partialFilterExpression"] = self.partial_filter
        return doc


def default_index_name(key: dict[str, Any]) -> str:
    """MongoDB's own naming: ``field_direction`` joined by ``_`` (``tenant_id_1_event_time_-1``)."""
    return "_".join(f"{field}_{direction}" for field, direction in key.items())


class CollectionSpec(Strict):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]{0,63}$")
    shard_key: dict[str, IndexDirection] | None = None
    indexes: list[IndexSpec] = Field(default_factory=list)
    validator: dict[str, Any] | None = None
    validation_level: Literal["off", "strict", "moderate"] = "strict"
    validation_action: Literal["error", "warn"] = "error"

    @field_validator("shard_key")
    @classmethod
    def _shard_key(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return value
        hashed = [f for f, d in value.items() if d == "hashed"]
        if len(hashed) > 1:
            raise ValueError("a shard key can have at most one hashed field")
        if any(d not in (1, "hashed") for d in value.values()):
            raise ValueError("shard key fields must be 1 (ranged) or 'hashed'")
        return value

    @field_validator("validator")
    @classmethod
    def _validator(cls, value: dict[str, Any] | None, info: ValidationInfo) -> dict[str, Any] | None:
        # The server would refuse ``create`` at bring-up; say so at load, naming the spot.
        problem = None if value is None else validator_problem(value)
        if problem is not None:
            raise ValueError(f"collection {info.data.get('name', '?')}: validator {problem}")
        return value

    def full_index_name(self, key: Mapping[str, Any]) -> str:
        """The name of the index on exactly ``key`` (fields, order and directions) without a partial
        filter: what a query hints. A hint by key pattern is ambiguous once a partial index shares
        the key, and the server refuses it (IndexNotFound 27, "must hint by index name")."""
        want = list(key.items())
        found = [i for i in self.indexes if list(i.key.items()) == want and i.partial_filter is None]
        if len(found) != 1:
            what = "no index" if not found else f"{len(found)} indexes"
            raise ValueError(f"collection {self.name} has {what} on {dict(key)} without a partial filter")
        return found[0].index_name

    def sharded_on(self, key: Mapping[str, Any]) -> CollectionSpec:
        """This collection sharded on ``key`` instead (a scenario's variant picks it): each unique
        index that does not start with the key's fields gets them in front (ascending, also where
        the key hashes one: MongoDB accepts ``{a: 1, ...}`` unique under ``{a: "hashed"}``), since
        MongoDB refuses any other unique index on a sharded collection. The idempotency index
        keeps its name and still rejects a resend: every added field comes with the event."""
        prefix = list(key)
        indexes = []
        for index in self.indexes:
            fields = list(index.key)
            if index.unique and fields[: len(prefix)] != prefix and fields[:1] != ["_id"]:
                moved = dict.fromkeys(prefix, 1) | {f: d for f, d in index.key.items() if f not in prefix}
                index = index.model_copy(update={"key": moved})
            indexes.append(index)
        return CollectionSpec.model_validate(
            self.model_dump() | {"shard_key": dict(key), "indexes": [i.model_dump() for i in indexes]}
        )

    def unique_index_problems(self) -> list[str]:
        """MongoDB enforces uniqueness on a sharded collection only when the unique index starts
        with the shard key's fields, and refuses to build any other unique index."""
        if self.shard_key is None:
            return []
        prefix = list(self.shard_key)
        problems = []
        for index in self.indexes:
            fields = list(index.key)
            if index.unique and fields[: len(prefix)] != prefix and fields[:1] != ["_id"]:
                problems.append(
                    f"collection {self.name}: unique index {dict(index.key)} does not start with the shard "
                    f"key fields {prefix}; MongoDB refuses it on a sharded collection. Put the shard key "
                    f"first, e.g. {dict.fromkeys(prefix, 1) | dict(index.key)}"
                )
        return problems


class PresplitSpec(Strict):
    """Initial chunks of the collections sharded on a ranged ``tenant_id`` prefix, made before
    any write (harness.topology.mongo_presplit): the tenants t00001..t<tenants> are cut into
    ``chunks_per_shard`` ranges per shard of equal tenant count, dealt to the shards in turn. A
    scenario's reset between variants uses the scenario's own tenant count instead."""

    tenants: int = Field(default=2000, ge=1, le=1_000_000)
    chunks_per_shard: int = Field(default=4, ge=1, le=64)


class CollectionsFile(Strict):
    description: str = ""
    database: str = Field(default=DATABASE, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")
    collections: list[CollectionSpec] = Field(min_length=1)
    presplit: PresplitSpec = Field(default_factory=PresplitSpec)

    def collection(self, name: str) -> CollectionSpec:
        for coll in self.collections:
            if coll.name == name:
                return coll
        raise ValueError(f"no collection {name} in the collections spec")


#: Which server runs the plane. ``auto``: mongod where it is found, else (standalone only) FerretDB.
Server = Literal["auto", "mongod", "ferretdb"]


class MongoSpec(Strict):
    mode: Literal["replset", "sharded", "standalone"]
    replset: ReplSetSpec | None = None
    sharded: ShardedSpec | None = None
    # FerretDB speaks the wire protocol on one node only: no replica set, no sharding.
    server: Server = "auto"
    settings: MongoSettings = Field(default_factory=MongoSettings)
    # A file name in topologies/collections/ (without .yaml), or the collections inline.
    collections: str | CollectionsFile = "platform"
    cpu_limit: float | None = Field(default=None, gt=0, le=64)

    @model_validator(mode="after")
    def _check(self) -> MongoSpec:
        if self.mode == "replset" and (self.replset is None or self.sharded is not None):
            raise ValueError("mode replset needs a 'replset' section (members) and no 'sharded' section")
        if self.mode == "sharded" and self.replset is not None:
            raise ValueError("mode sharded takes a 'sharded' section; remove 'replset'")
        if self.mode == "standalone" and (self.replset is not None or self.sharded is not None):
            raise ValueError("mode standalone is one server: remove the 'replset' and 'sharded' sections")
        if self.server == "ferretdb" and self.mode != "standalone":
            raise ValueError(
                f"server ferretdb runs standalone only (it has no replication or sharding); "
                f"mode {self.mode} needs mongod"
            )
        return self

    def sharding(self) -> ShardedSpec:
        return self.sharded or ShardedSpec()

    def load_collections(self) -> CollectionsFile:
        if isinstance(self.collections, CollectionsFile):
            return self.collections
        return load_collections(self.collections)


def load_collections(name: str) -> CollectionsFile:
    path = COLLECTIONS_DIR / f"{name}.yaml"
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in COLLECTIONS_DIR.glob("*.yaml")))
        raise HarnessError(f"unknown collections file '{name}' (looked for {path}); known: {known}")
    return load_yaml_model(path, CollectionsFile)
