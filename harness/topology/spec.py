"""Typed model of ``topologies/*.yaml``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.errors import SpecError
from harness.specload import load_yaml_model, names_in, resolve_spec
from harness.topology.mongo_spec import COLLECTIONS_DIR, MongoSpec

TOPOLOGY_DIR = Path(__file__).resolve().parent.parent.parent / "topologies"

RedisSetting = str | int | bool


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RedisNodeSpec(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9]{0,7}$", description="short node name, e.g. r1")
    role: Literal["master", "replica"]
    replica_of: str | None = None


class RedisSpec(Strict):
    mode: Literal["cluster", "replicated"]
    # redis.conf directives for every node; values written verbatim (booleans as yes/no).
    settings: dict[str, RedisSetting] = Field(default_factory=dict)
    nodes: list[RedisNodeSpec] = Field(min_length=1)
    cpu_limit: float | None = Field(
        default=None, gt=0, le=64, description="cores each node may use (cgroup quota); none = unlimited"
    )

    @model_validator(mode="after")
    def _check_roles(self) -> RedisSpec:
        names = [n.name for n in self.nodes]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"node names must be unique, repeated: {sorted(dup)}")
        masters = {n.name for n in self.nodes if n.role == "master"}
        for node in self.nodes:
            if node.role == "replica" and node.replica_of not in masters:
                raise ValueError(
                    f"node {node.name}: a replica needs replica_of naming a master ({sorted(masters)})"
                )
            if node.role == "master" and node.replica_of is not None:
                raise ValueError(f"node {node.name}: a master cannot have replica_of")
        if self.mode == "cluster" and len(masters) < 3:
            raise ValueError("a Redis Cluster needs at least 3 masters to elect failovers")
        if self.mode == "replicated" and len(masters) != 1:
            raise ValueError("mode replicated has exactly one master (the primary)")
        forbidden = {
            "port",
            "bind",
            "dir",
            "daemonize",
            "cluster-enabled",
            "cluster-announce-ip",
            "cluster-announce-port",
            "cluster-announce-bus-port",
            "cluster-port",
            "replicaof",
            "logfile",
            "cluster-config-file",
        }
        bad = forbidden & set(self.settings)
        if bad:
            raise ValueError(f"settings {sorted(bad)} are chosen by the harness, remove them")
        return self


class TopologySpec(Strict):
    name: str
    description: str = ""
    redis: RedisSpec | None = None
    mongo: MongoSpec | None = None

    @model_validator(mode="after")
    def _needs_something(self) -> TopologySpec:
        if self.redis is None and self.mongo is None:
            raise ValueError("a topology needs at least one plane (redis, mongo)")
        return self


def available_topologies() -> list[str]:
    return names_in(TOPOLOGY_DIR)


def load_topology(name_or_path: str | Path) -> TopologySpec:
    """Loads a topology by name (``redis-cluster``) or by path to a YAML file."""
    path = resolve_spec(name_or_path, TOPOLOGY_DIR, "topology")
    spec = load_yaml_model(path, TopologySpec)
    check_collections(spec, path)
    return spec


def check_collections(spec: TopologySpec, path: Path) -> None:
    """Loads the MongoDB collections the topology names and checks what MongoDB would refuse,
    so a bad shard key / unique index pair fails here, not halfway through bring-up."""
    if spec.mongo is None:
        return
    where = (
        str(path)
        if not isinstance(spec.mongo.collections, str)
        else str(COLLECTIONS_DIR / f"{spec.mongo.collections}.yaml")
    )
    colls = spec.mongo.load_collections()
    if spec.mongo.mode == "sharded":
        for coll in colls.collections:
            problems = coll.unique_index_problems()
            if problems:
                raise SpecError(where, f"collections.{coll.name}.indexes", problems[0])
