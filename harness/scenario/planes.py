"""The plane rules in one place: what of a topology this machine can bring up, what a plane that
did not run (or ran on a stand-in) means for a scenario's data paths, what the MongoDB
read-your-writes modes need of the server, which plane each checker's evidence needs for a
variant, and which checkers and targets are not judged when a plane did not run or ran on a
server lacking what they need (over the ``planes`` of ``results.json``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from harness.checkers import (
    acknowledged_writes,
    audit_trail,
    monotonic_reads,
    no_duplicates,
    read_your_writes,
    sessions,
)
from harness.doctor import find_binary
from harness.errors import HarnessError
from harness.records import Plane
from harness.topology import docker_mongo
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


class VariantChoices(Protocol):
    """The data paths a variant chooses that decide which plane its checkers need."""

    @property
    def ryw_mode(self) -> str: ...

    @property
    def session_store(self) -> str: ...


@dataclass(frozen=True)
class Runnable:
    """What of a topology this machine can bring up."""

    topology: TopologySpec
    mongo_not_run: str | None = None  # why the MongoDB plane is left out
    mongo_note: str | None = None  # what stands in for the topology's MongoDB servers, and what that means


def runnable_topology(topology: TopologySpec, backend: str = "local") -> Runnable:
    """The part of ``topology`` this machine can bring up. Without the mongod (and mongos) it asks
    for, the MongoDB plane runs on one FerretDB server where ``make setup`` built it (and says so:
    what needs replication or sharding is then not_run), else it is left out with the reason, and
    a scenario on ``platform`` still runs its Redis plane."""
    if topology.mongo is None:
        return Runnable(topology)
    if backend == "docker":
        return _runnable_on_docker(topology)
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


def _runnable_on_docker(topology: TopologySpec) -> Runnable:
    """On the docker backend the MongoDB servers come from images: without a mongo image the
    plane is not run, with why (a Redis plane beside it still runs)."""
    assert topology.mongo is not None
    try:
        binaries = docker_mongo.plane_binaries(topology.mongo)
    except HarnessError as exc:
        if topology.redis is None:
            raise HarnessError(f"topology '{topology.name}' has only a MongoDB plane and {exc}") from exc
        return Runnable(topology.model_copy(update={"mongo": None}), mongo_not_run=str(exc))
    if "ferretdb" in binaries and topology.mongo.server == "auto":
        note = "no mongo image: the standalone MongoDB plane runs as a FerretDB container"
        ferret = topology.mongo.model_copy(update={"server": "ferretdb"})
        return Runnable(topology.model_copy(update={"mongo": ferret}), mongo_note=note)
    return Runnable(topology)


#: Fault kinds that set fail points, so mongod must run with test commands on.
FAIL_POINT_FAULTS = frozenset({"stop-repl-producer"})


def with_fail_points(topology: TopologySpec, fault_kinds: set[str]) -> TopologySpec:
    """``topology`` with mongod started with ``--setParameter enableTestCommands=1`` when the
    scenario's schedule sets fail points, whatever the file says (it is on by default)."""
    mongo = topology.mongo
    if mongo is None or not fault_kinds & FAIL_POINT_FAULTS or mongo.settings.enable_test_commands:
        return topology
    settings = mongo.settings.model_copy(update={"enable_test_commands": True})
    return topology.model_copy(update={"mongo": mongo.model_copy(update={"settings": settings})})


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


#: Checkers whose evidence only one plane produces: when that plane did not run they are reported
#: ``not_run`` with its reason (judging an empty history would be a pass that proves nothing).
#: Counters-reconcile judges the Redis side alone when MongoDB did not run, and says so.
NEEDS_PLANE: dict[str, str] = {
    acknowledged_writes.NAME: "mongodb",
    no_duplicates.NAME: "mongodb",
    audit_trail.NAME: "mongodb",
}


def needed_planes(*, ryw_plane: str | None = None, sessions_plane: str | None = None) -> dict[str, str]:
    """:data:`NEEDS_PLANE` plus the checkers whose evidence comes from the plane a variant's data
    path runs on: read-your-writes and monotonic-reads judge the profile reads (``ryw_plane``:
    ``mongodb`` for the MongoDB read-your-writes modes), sessions judges the session store
    (``sessions_plane``: ``mongodb`` for the MongoDB fallback store)."""
    needs = dict(NEEDS_PLANE)
    if ryw_plane is not None:
        needs[read_your_writes.NAME] = needs[monotonic_reads.NAME] = ryw_plane
    if sessions_plane is not None:
        needs[sessions.NAME] = sessions_plane
    return needs


def variant_planes(variant: VariantChoices) -> dict[str, str]:
    """The plane each checker needs for this variant: the static :data:`NEEDS_PLANE` plus the
    data paths the variant chose (a MongoDB read-your-writes mode, with the server features it
    needs as ``mongodb:<feature>,...``; the MongoDB session fallback)."""
    ryw_needs = MONGO_RYW_NEEDS.get(str(variant.ryw_mode))
    return needed_planes(
        ryw_plane=None if ryw_needs is None else requirement("mongodb", ryw_needs),
        sessions_plane="mongodb" if variant.session_store == "fallback" else None,
    )


def requirement(plane: str, features: Sequence[str] = ()) -> str:
    """``mongodb`` or ``mongodb:replication,causal_consistency``: a plane that must have run, on a
    server with these features (:data:`harness.topology.mongo_features.FEATURES`)."""
    return f"{plane}:{','.join(features)}" if features else plane


def requirement_problem(text: str) -> str | None:
    """What is wrong with a scenario's ``checker_needs`` value (``mongodb`` or
    ``mongodb:<feature>,...`` with features of :data:`FEATURES`), or None."""
    plane, _, features = text.partition(":")
    if plane != "mongodb":
        return f"'{text}': the plane must be mongodb"
    unknown = [f for f in features.split(",") if features and f not in FEATURES]
    if unknown or (features and not all(features.split(","))):
        return f"'{text}': unknown features {unknown or [features]}; known: {', '.join(FEATURES)}"
    return None


def with_scenario_needs(needs: Mapping[str, str], scenario: Mapping[str, str]) -> dict[str, str]:
    """A variant's checker planes with the scenario's own ``checker_needs`` over them."""
    return {**needs, **scenario}


def plane_skips(
    checkers: Sequence[str], planes: Mapping[str, Plane], needs: Mapping[str, str] = NEEDS_PLANE
) -> dict[str, str]:
    """Checkers whose plane (``needs``, by default :data:`NEEDS_PLANE`) did not run (``results.json``
    ``planes``), or ran on a server that lacks a feature the requirement names
    (``mongodb:replication``: the plane's ``lacks``), with the reason."""
    skipped: dict[str, str] = {}
    for name in checkers:
        if name not in needs:
            continue
        plane_name, _, features = needs[name].partition(":")
        plane = planes.get(plane_name)
        if plane is None:
            continue
        if plane.status != "ran":
            skipped[name] = f"{plane_name} plane not run: {plane.reason or 'unknown reason'}"
            continue
        missing = [f for f in features.split(",") if f and f in plane.lacks]
        if missing:
            why = "; ".join(f"{FEATURES.get(f, f)}: {plane.lacks[f]}" for f in missing)
            skipped[name] = f"{plane_name} plane ran on {plane.server or 'a server'} without {why}"
    return skipped


def stand_in(measured_through: str | None, planes: Mapping[str, Plane]) -> str | None:
    """Why a target measured through ``<plane>:<feature>`` is not judged: that plane ran on a server
    lacking the feature (``results.json`` ``planes``), or None."""
    if measured_through is None:
        return None
    plane_name, _, feature = measured_through.partition(":")
    plane = planes.get(plane_name)
    if plane is None or plane.status != "ran":
        return None  # the plane is not in the measurement at all
    why = plane.lacks.get(feature)
    return None if why is None else f"measured through the {plane_name} plane on {plane.server}: {why}"


def plane_absent(measured_through: str | None, planes: Mapping[str, Plane]) -> str | None:
    """Why a target measured through a plane has no figure: that plane did not run at all (a figure
    it never produced is not judged, where one the plane merely passed through is), or None."""
    if measured_through is None:
        return None
    plane_name = measured_through.partition(":")[0]
    plane = planes.get(plane_name)
    if plane is None or plane.status == "ran":
        return None
    return f"the {plane_name} plane did not run: {plane.reason or 'unknown reason'}"
