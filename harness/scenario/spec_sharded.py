"""The scenario rules for a variant's own shard key (``variants[].shard_key``, the ``sharded_events``
workload) and for topologies without a Redis plane, checked before anything starts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from harness.topology.mongo_spec import CollectionSpec
from harness.topology.spec import TopologySpec

SHARDED_KIND = "sharded_events"
#: What an ``events`` document carries that a shard key may use.
KEY_FIELDS = ("tenant_id", "event_time", "event_id", "shard_suffix")
SUFFIX = "shard_suffix"


class ShardChoices(Protocol):
    @property
    def shard_key(self) -> Mapping[str, Any] | None: ...

    @property
    def whale_shards(self) -> int: ...

    @property
    def redis_settings(self) -> Mapping[str, Any]: ...


def key_problem(key: Mapping[str, Any]) -> str | None:
    """What is wrong with a variant's shard key for ``events``, or None."""
    unknown = [f for f in key if f not in KEY_FIELDS]
    if not key or unknown:
        return f"{dict(key)}: use fields of the events document ({', '.join(KEY_FIELDS)})"
    try:
        CollectionSpec(name="events", shard_key=dict(key))
    except ValidationError as exc:
        return f"{dict(key)}: {exc.errors()[0]['msg'].removeprefix('Value error, ')}"
    if SUFFIX in key and list(key.items())[:2] != [("tenant_id", 1), (SUFFIX, 1)]:
        return (
            f"{dict(key)}: a write-sharding suffix goes right after a ranged tenant_id "
            "({tenant_id: 1, shard_suffix: 1, ...}), so the tenant still leads the key"
        )
    return None


def variant_problems(
    kind: str | None, variants: Sequence[ShardChoices], whale: str | None
) -> list[tuple[str, str]]:
    """(field, problem) for each variant whose shard key or suffix count does not fit the workload."""
    problems: list[tuple[str, str]] = []
    for i, v in enumerate(variants):
        key = v.shard_key
        if key is not None and kind != SHARDED_KIND:
            problems.append((f"variants.{i}.shard_key", f"applies to {SHARDED_KIND} workloads only"))
            continue
        if kind != SHARDED_KIND:
            continue
        if key is not None and (problem := key_problem(key)) is not None:
            problems.append((f"variants.{i}.shard_key", problem))
        suffixed = key is not None and SUFFIX in key
        if suffixed and (whale is None or v.whale_shards < 2):
            problems.append(
                (
                    f"variants.{i}.whale_shards",
                    "a shard key with shard_suffix spreads the whale (workload.whale) over whale_shards "
                    "suffixes: give both, whale_shards at least 2",
                )
            )
        elif not suffixed and v.whale_shards > 1:
            problems.append(
                (
                    f"variants.{i}.whale_shards",
                    "in a sharded_events workload the whale's suffixes need shard_suffix in the shard key",
                )
            )
    return problems


def topology_problems(
    kind: str, variants: Sequence[ShardChoices], topology: TopologySpec
) -> list[tuple[str, str]]:
    """(field, problem) for what the scenario asks of a topology that cannot give it: a shard key or
    the sharded_events workload without a sharded MongoDB plane, Redis settings without Redis."""
    mongo = topology.mongo
    sharded = mongo is not None and mongo.mode == "sharded"
    what = "no MongoDB plane" if mongo is None else f"a MongoDB plane in mode {mongo.mode}"
    fix = "mongo.mode: sharded, e.g. mongo-sharded or platform"
    problems: list[tuple[str, str]] = []
    if kind == SHARDED_KIND and not sharded:
        problems.append(
            (
                "workload.kind",
                f"{SHARDED_KIND} needs a sharded MongoDB plane ({fix}); '{topology.name}' has {what}",
            )
        )
    for i, v in enumerate(variants):
        if v.shard_key is not None and not sharded and kind == SHARDED_KIND:
            problems.append(
                (f"variants.{i}.shard_key", f"topology '{topology.name}' has {what}: nothing to shard")
            )
        if v.redis_settings and topology.redis is None:
            problems.append(
                (
                    f"variants.{i}.redis_settings",
                    f"topology '{topology.name}' has no Redis plane to set them on",
                )
            )
    return problems


def spec_errors(problems: Sequence[tuple[str, str]]) -> list[InitErrorDetails]:
    """``(dotted field, problem)`` pairs as pydantic errors at those places, so a spec error names
    the field (``variants.2.whale_shards``)."""
    return [
        InitErrorDetails(
            type=PydanticCustomError("sharded", "{problem}", {"problem": problem}),
            loc=tuple(int(p) if p.isdigit() else p for p in where.split(".")),
            input=None,
        )
        for where, problem in problems
    ]
