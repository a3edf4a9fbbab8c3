"""Which shards a query goes to, in mongos's own words: the ``explain`` of a ``find`` at verbosity
``queryPlanner`` (planned, not run, so asking costs the shards no scan).

What mongos answers for a sharded collection (``cluster_explain.cpp`` in the server's source,
``getStageNameForReadOp`` and ``buildPlannerInfo``; the same shape from 6.0 to 8.0):
``queryPlanner.winningPlan`` is mongos's own stage, ``SINGLE_SHARD`` when it targets one shard,
``SHARD_MERGE`` when it sends the query to several and merges what they return, or
``SHARD_MERGE_SORT`` when the query sorts and the merge keeps that order; beside it ``shards``,
one entry per shard targeted, each with ``shardName``, ``connectionString``, ``serverInfo`` and
that shard's own planner fields (its ``winningPlan`` is ``{stage, inputStage...}`` on the classic
engine and ``{queryPlan, slotBasedPlan}`` on the slot-based one, the 7.0 default). Only the stage and
the shard names are read here: the shard's own plan differs by engine and version.

A reply that is not that (an unsharded server's plan, no shard names, a stage that contradicts its
shard count) is an :class:`ExplainError`, never a guess at a number of shards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bson import SON
from pymongo.database import Database

SINGLE_SHARD = "SINGLE_SHARD"
MERGE_STAGES = frozenset({"SHARD_MERGE", "SHARD_MERGE_SORT"})


class ExplainError(ValueError):
    """The explain reply does not say which shards the query targets."""


@dataclass(frozen=True)
class Targeting:
    """mongos's plan for one query: its stage and the shards it sends the query to."""

    stage: str
    shards: tuple[str, ...]

    @property
    def targeted(self) -> bool:
        """One shard: the shard key in the query led mongos to it (not a scatter-gather)."""
        return len(self.shards) == 1


def explain_find(db: Database[dict[str, Any]], find: Mapping[str, Any]) -> dict[str, Any]:
    """``explain`` of the ``find`` command document ``find`` (its first field ``find``), verbosity
    ``queryPlanner``, sent to ``db`` (through mongos)."""
    return db.command(SON([("explain", SON(find)), ("verbosity", "queryPlanner")]))


def targeting(reply: Mapping[str, Any]) -> Targeting:
    """The stage and shards of a sharded ``find``'s explain reply; :class:`ExplainError` when the
    reply does not say, or says two things at once."""
    planner = reply.get("queryPlanner")
    plan = planner.get("winningPlan") if isinstance(planner, Mapping) else None
    if not isinstance(plan, Mapping):
        raise ExplainError("no queryPlanner.winningPlan in the reply")
    stage, shards = plan.get("stage"), plan.get("shards")
    if not isinstance(shards, list) or not shards:
        raise ExplainError(
            f"queryPlanner.winningPlan has no shards (stage {stage!r}): not a sharded collection's "
            "plan through mongos"
        )
    names = [s.get("shardName") if isinstance(s, Mapping) else None for s in shards]
    if not all(isinstance(n, str) and n for n in names):
        raise ExplainError(f"a targeted shard without a shardName: {names}")
    if len(set(names)) != len(names):
        raise ExplainError(f"a shard listed twice: {names}")
    if stage == SINGLE_SHARD and len(names) != 1:
        raise ExplainError(f"stage {SINGLE_SHARD} with {len(names)} shards: {names}")
    if stage in MERGE_STAGES and len(names) < 2:
        raise ExplainError(f"stage {stage} merging one shard's results: {names}")
    if stage != SINGLE_SHARD and stage not in MERGE_STAGES:
        raise ExplainError(f"stage {stage!r} is not mongos's plan for a read")
    return Targeting(str(stage), tuple(str(n) for n in names))
