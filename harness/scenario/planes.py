"""The plane rules in one place: what of a topology this machine can bring up, what a plane that
did not run (or ran on a stand-in) means for a scenario's data paths, and what the MongoDB
read-your-writes modes need of the server.

The checker side of the same rules (which checker needs which plane for a variant, and which
checkers and targets are not judged when a plane did not run) is in :mod:`harness.scenario.judge`
and :mod:`harness.scenario.targets`, over the ``planes`` of ``results.json``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.doctor import find_binary
from harness.errors import HarnessError
from harness.topology import mongo as mongo_nodes
from harness.topology.deployment import Deployment
from harness.topology.mongo_features import FEATURES
from harness.topology.mongo_spec import MongoSpec
from harness.topology.spec import TopologySpec

#: Read-your-writes modes played on the MongoDB plane (harness.workload.platform.ryw); the others on Redis.
#: The MongoDB read-your-writes modes and the server features each needs to mean anything: reads
#: from secondaries need replication; a causal session needs the cluster time it waits for.
MONGO_RYW_NEEDS: dict[str, tuple[str, ...]] = {
    "secondary": ("replication",),
    "primary": (),
    "causal": ("replication", "causal_consistency"),
    "write_through": (),
}
MONGO_RYW_MODES = tuple(MONGO_RYW_NEEDS)


@dataclass(frozen=True)
class Runnable:
    """What of a topology this machine can bring up."""

    topology: TopologySpec
    mongo_not_run: str | None = None  # why the MongoDB plane is left out
    mongo_note: str | None = None  # what stands in for the topology's MongoDB servers, and what that means


def runnable_topology(topology: TopologySpec) -> Runnable:
    """The part of ``topology`` this machine can bring up. Without the mongod (and mongos) it asks
    for, the MongoDB plane runs on one FerretDB server where ``make setup`` built it (and says so:
    what needs replication or sharding is then not_run), else it is left out with the reason, and
    a scenario on ``platform`` still runs its Redis plane."""
    if topology.mongo is None:
        return Runnable(topology)
    missing = mongo_nodes.missing_mongo_binaries(topology.mongo)
    if not missing:
        return Runnable(topology)
    if missing != ["ferretdb"] and mongo_nodes.ferretdb_available():
        mongo = topology.mongo
        ferret = MongoSpec(
            mode="standalone", server="ferretdb", collections=mongo.collections, cpu_limit=mongo.cpu_limit
        )
        note = (
            f"no {missing[0]}: the topology's {mongo.mode} MongoDB runs as one FerretDB server; "
            "checks that need replication, sharding or the TTL monitor are not_run"
        )
        return Runnable(topology.model_copy(update={"mongo": ferret}), mongo_note=note)
    reason = (
        f"no {missing[0]} (put mongod/mongos 7.0+ on PATH or set MONGODB_BIN_DIR, or run 'make setup' to "
        "build FerretDB; see 'harness doctor')"
    )
    if topology.redis is None:
        raise HarnessError(f"topology '{topology.name}' has only a MongoDB plane and {reason}")
    return Runnable(topology.model_copy(update={"mongo": None}), mongo_not_run=reason)


def mongo_plane_facts(dep: Deployment, note: str | None) -> dict[str, Any]:
    """The MongoDB plane as results.json reports it once it ran: the server (never FerretDB called
    MongoDB), what it lacks and what of the collections it refused, in the server's words."""
    assert dep.mongo is not None
    features = dep.mongo.features
    facts: dict[str, Any] = {"status": "ran", "reason": None}
    if features is not None:
        facts |= {"server": features.name, "substrate": features.describe(), "lacks": dict(features.lacks)}
    if dep.mongo.left_out:
        facts["left_out"] = list(dep.mongo.left_out)
    if note:
        facts["note"] = note
    return facts


def plane_reason(plane: str, declared: str) -> str:
    """Why a plane does not run: a missing server binary first (what a user can fix), then the
    scenario's own reason."""
    if plane == "mongodb" and find_binary("mongod") is None:
        return f"no mongod; {declared}"
    return declared


def mongo_path_blocked(dep: Deployment, needs: Sequence[str] = ()) -> str | None:
    """Why a MongoDB data path cannot be played here (no plane, or a server without a feature it
    needs, in the server's words), or None."""
    if dep.mongo is None:
        return "the MongoDB plane did not run"
    features = dep.mongo.features
    missing = [n for n in needs if features is not None and not features.has(n)]
    if features is None or not missing:
        return None
    return f"{features.name} lacks {FEATURES[missing[0]]} ({features.lacks[missing[0]]})"
