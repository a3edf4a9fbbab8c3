"""MongoDB replica-set faults, sent over each member's admin path (direct, bypassing proxies and
partitions, as the Redis admin faults are). Field names follow the server manual's command pages;
the commands themselves are :mod:`harness.topology.mongo_commands`.

- ``stepdown``: ``replSetStepDown`` on a set's primary (it waits up to ``secondary_catch_up_s`` for
  an electable secondary to catch up, then steps down and may not stand again for ``seconds``);
  heal waits, polling the members, until the set has a primary again and reports the election
  time from the new primary's own ``electionCandidateMetrics``.
- ``freeze``: ``replSetFreeze`` on members: they do not seek election for ``seconds``; heal sends
  ``replSetFreeze: 0``.
- ``secondary-delay``: replication lag by ``replSetReconfig``: the member applies the oplog
  ``delay_s`` seconds late (``secondaryDelaySecs``; MongoDB 5+ wants a delayed member priority 0
  and hidden, so it is made both); heal puts its old member fields back with a second reconfig.
- ``stop-repl-producer``: the ``stopReplProducer`` fail point (``configureFailPoint``, mode
  ``alwaysOn``; ``off`` at heal) on syncing members, confirmed with ``waitForFailPoint``. The fail
  point sits in a member's oplog fetcher (MongoDB's own ``stopServerReplication`` test helper sets it
  on the secondaries): set on a primary it is never entered. Needs mongod started with
  ``--setParameter enableTestCommands=1`` (the topology's ``enable_test_commands``, on by default).

Each asks the server behind the plane first (:meth:`Fault.unsupported`): on a server without
replication (FerretDB, a standalone mongod) the fault is recorded as not run with the reason.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from pymongo import MongoClient
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

from harness.faults import params as check
from harness.faults.base import Capability, Fault, FaultContext, FaultError, FaultParamError, register
from harness.faults.selectors import REPLSET_SELECTORS, Selector, mongo_primary, parse_selector
from harness.topology import mongo_commands as cmds

if TYPE_CHECKING:
    from harness.topology.deployment import Deployment
    from harness.topology.mongo import MongoNode

FAIL_POINT = "stopReplProducer"
COMMAND_NOT_FOUND = 59  # what a mongod without test commands answers configureFailPoint with
TEST_COMMANDS_OFF = (
    "test commands are off (configureFailPoint needs mongod started with --setParameter "
    "enableTestCommands=1: the topology's mongo settings enable_test_commands)"
)
#: The member fields secondary-delay changes, saved before and put back at heal.
DELAY_FIELDS = ("priority", "hidden", "secondaryDelaySecs")
NEEDS: frozenset[Capability] = frozenset({Capability.MONGO_ADMIN})


def replication_gap(kind: str, dep: Deployment | None) -> str | None:
    """Why ``kind`` cannot run on this deployment's MongoDB plane (no plane, a server without
    replication in its own words, no replica set), or None."""
    if dep is None:
        return None
    plane = dep.mongo
    if plane is None:
        return f"{kind} not supported: this topology has no MongoDB plane"
    features = plane.features
    if features is not None and not features.has("replication"):
        return f"{kind} not supported by {features.name}: no replication ({features.lacks['replication']})"
    if not plane.replsets:
        return f"{kind} not supported: the MongoDB plane has no replica set"
    return None


def _target(kind: str, target: Any) -> Selector:
    sel = parse_selector(target, kind)
    if sel.kind not in ("node", *REPLSET_SELECTORS):
        forms = ", ".join(f"{s}:<replset>" for s in REPLSET_SELECTORS)
        raise FaultParamError(f"fault {kind}: target must be a member's name or {forms}, got {target!r}")
    return sel


def _integer(kind: str, name: str, value: Any, minimum: int, maximum: int) -> int:
    return int(check.number(kind, name, value, minimum=minimum, maximum=maximum, integer=True))


def _member(ctx: FaultContext, name: str) -> MongoNode:
    node = ctx.dep.mongo_node(name)
    if node.replset is None or node.member is None or node.member.arbiter:
        raise FaultError(f"{name} is not a data-bearing replica-set member")
    return node


def _now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def _direct(node: MongoNode, socket_timeout_s: float) -> Iterator[MongoClient[dict[str, Any]]]:
    """A direct client of ``node`` for one command that may take a while (the admin path's socket
    timeout is short)."""
    client: MongoClient[dict[str, Any]] = MongoClient(
        node.direct,
        directConnection=True,
        serverSelectionTimeoutMS=2000,
        connectTimeoutMS=2000,
        socketTimeoutMS=int(socket_timeout_s * 1000),
        appname="harness-fault",
    )
    try:
        yield client
    finally:
        client.close()


def wait_primary(dep: Deployment, replset: str, timeout_s: float) -> str:
    """Readiness: polls the members (``hello``) until one reports itself primary; its name."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return mongo_primary(dep, replset)
        except FaultError as exc:
            if time.monotonic() >= deadline:
                raise FaultError(f"{replset} had no primary within {timeout_s:g}s: {exc}") from exc
        time.sleep(0.05)


def election_facts(node: MongoNode, since: datetime) -> dict[str, Any]:
    """The primary's own account of its election (``replSetGetStatus``
    ``electionCandidateMetrics``): ``election_ms`` from ``since`` to ``lastElectionDate`` (None when
    its last election came before: no election happened since), and when majority writes were
    available again."""
    try:
        metrics = cmds.replset_status(node.admin()).get("electionCandidateMetrics") or {}
    except PyMongoError as exc:
        return {"election_ms": None, "election_note": f"replSetGetStatus: {exc}"}

    def after(key: str) -> float | None:
        when = metrics.get(key)
        if not isinstance(when, datetime):
            return None
        when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
        ms = (when - since).total_seconds() * 1000
        return round(ms, 3) if ms >= 0 else None

    out: dict[str, Any] = {
        "election_ms": after("lastElectionDate"),
        "majority_writable_ms": after("wMajorityWriteAvailabilityDate"),
    }
    if "termAtElection" in metrics:
        out["term"] = metrics["termAtElection"]
    if out["election_ms"] is None:
        out["election_note"] = "no election since the fault started (electionCandidateMetrics)"
    return out


@register
class StepDown(Fault):
    """``replSetStepDown`` on a replica set's primary: an election; heal waits for a primary again."""

    kind = "stepdown"
    needs: ClassVar[frozenset[Capability]] = NEEDS

    def __init__(
        self,
        target: str = "primary:rs0",
        seconds: int = 60,
        secondary_catch_up_s: int = 10,
        wait_s: float = 60.0,
    ) -> None:
        self.target = _target(self.kind, target)
        self.seconds = _integer(self.kind, "seconds", seconds, 1, 86_400)
        self.secondary_catch_up_s = _integer(self.kind, "secondary_catch_up_s", secondary_catch_up_s, 0, 3600)
        if self.seconds <= self.secondary_catch_up_s:
            raise FaultParamError(
                f"fault stepdown: 'seconds' ({self.seconds}) must be greater than 'secondary_catch_up_s' "
                f"({self.secondary_catch_up_s}): the server refuses a step-down period within the catch-up"
            )
        self.wait_s = check.number(self.kind, "wait_s", wait_s, above=0, maximum=600)

    def unsupported(self, dep: Deployment | None) -> str | None:
        return replication_gap(self.kind, dep)

    def apply(self, ctx: FaultContext) -> dict[str, Any]:
        names = self.target.resolve(ctx)
        if len(names) != 1:
            raise FaultError(f"stepdown: '{self.target}' names {names}; one primary at a time")
        node = _member(ctx, names[0])
        ctx.state.update(node=node.name, replset=node.replset, t0=time.monotonic(), since=_now())
        try:
            with _direct(node, self.secondary_catch_up_s + 10) as client:
                cmds.step_down(client, self.seconds, self.secondary_catch_up_s)
            reply = "ok"
        except ConnectionFailure as exc:  # the outcome is unknown; heal finds out who is primary
            reply = f"no reply ({type(exc).__name__}: {exc}): the step-down may or may not have happened"
        except OperationFailure as exc:
            raise FaultError(f"replSetStepDown on {node.name}: {exc}") from exc
        return {
            "node": node.name,
            "replset": node.replset,
            "seconds": self.seconds,
            "secondary_catch_up_s": self.secondary_catch_up_s,
            "reply": reply,
        }

    def heal(self, ctx: FaultContext) -> dict[str, Any]:
        """Nothing to undo (the old primary stands again when its ``seconds`` are over); waits
        until the set has a primary and reports the election."""
        st = ctx.state
        if "replset" not in st:
            return {"waited": False}
        primary = wait_primary(ctx.dep, st["replset"], self.wait_s)
        seen_ms = round((time.monotonic() - st["t0"]) * 1000, 3)
        facts = election_facts(ctx.dep.mongo_node(primary), st["since"])
        return {"primary": primary, "old_primary": st["node"], "primary_seen_after_ms": seen_ms, **facts}


@register
class Freeze(Fault):
    """``replSetFreeze`` on members: none of them seeks election for ``seconds``; heal unfreezes."""

    kind = "freeze"
    needs: ClassVar[frozenset[Capability]] = NEEDS

    def __init__(self, target: str = "random-secondary:rs0", seconds: int = 60) -> None:
        self.target = _target(self.kind, target)
        self.seconds = _integer(self.kind, "seconds", seconds, 1, 86_400)

    def unsupported(self, dep: Deployment | None) -> str | None:
        return replication_gap(self.kind, dep)

    def apply(self, ctx: FaultContext) -> dict[str, Any]:
        frozen: list[str] = ctx.state.setdefault("frozen", [])
        for name in self.target.resolve(ctx):
            node = _member(ctx, name)
            try:
                cmds.freeze(node.admin(), self.seconds)
            except OperationFailure as exc:  # a primary cannot be frozen (NotSecondary)
                raise FaultError(f"replSetFreeze on {name}: {exc}") from exc
            frozen.append(name)
        return {"frozen": list(frozen), "seconds": self.seconds}

    def heal(self, ctx: FaultContext) -> dict[str, Any]:
        unfrozen, errors = [], {}
        for name in ctx.state.pop("frozen", []):
            try:
                cmds.unfreeze(ctx.dep.mongo_node(name).admin())
                unfrozen.append(name)
            except PyMongoError as exc:
                errors[name] = f"{type(exc).__name__}: {exc}"
        if errors:
            raise FaultError(f"freeze: could not unfreeze {errors} (unfrozen {unfrozen})")
        return {"unfrozen": unfrozen}


def _entry(config: dict[str, Any], node: MongoNode) -> dict[str, Any]:
    """The member document of ``node`` in a replica-set config (members are named by proxy address)."""
    for member in config.get("members", []):
        if member.get("host") == node.proxied:
            return dict(member)
    raise FaultError(f"{node.name} ({node.proxied}) is not in the config of {config.get('_id')}")


def _reconfig(dep: Deployment, node: MongoNode, fields: dict[str, Any], wait_s: float) -> dict[str, Any]:
    """Reads the config from the set's primary, sets ``fields`` on ``node``'s member document (a
    None value removes the field), raises the version by one and sends ``replSetReconfig``.
    Returns the member's fields in :data:`DELAY_FIELDS` as they were."""
    assert node.replset is not None
    primary = dep.mongo_node(wait_primary(dep, node.replset, wait_s))
    try:
        config = cmds.replset_config_now(primary.admin())
        entry = _entry(config, node)
        before = {k: entry.get(k) for k in DELAY_FIELDS}
        for key, value in fields.items():
            if value is None:
                entry.pop(key, None)
            else:
                entry[key] = value
        config["members"] = [entry if m.get("host") == node.proxied else m for m in config["members"]]
        config["version"] = int(config["version"]) + 1
        with _direct(primary, wait_s + 10) as client:
            cmds.reconfig(client, config)
    except PyMongoError as exc:
        raise FaultError(f"replSetReconfig of {node.name} on {primary.name}: {exc}") from exc
    return before


@register
class SecondaryDelay(Fault):
    """Replication lag by ``replSetReconfig``: the member applies the oplog ``delay_s`` late."""

    kind = "secondary-delay"
    needs: ClassVar[frozenset[Capability]] = NEEDS

    def __init__(self, target: str = "random-secondary:rs0", delay_s: int = 30, wait_s: float = 30.0) -> None:
        self.target = _target(self.kind, target)
        self.delay_s = _integer(self.kind, "delay_s", delay_s, 1, 86_400)
        self.wait_s = check.number(self.kind, "wait_s", wait_s, above=0, maximum=600)

    def unsupported(self, dep: Deployment | None) -> str | None:
        return replication_gap(self.kind, dep)

    def apply(self, ctx: FaultContext) -> dict[str, Any]:
        saved: dict[str, dict[str, Any]] = ctx.state.setdefault("saved", {})
        for name in self.target.resolve(ctx):
            node = _member(ctx, name)
            assert node.replset is not None
            if mongo_primary(ctx.dep, node.replset) == name:
                raise FaultError(
                    f"secondary-delay: {name} is primary now; a delayed member must be a secondary"
                )
            # MongoDB 5+: a delayed member must be priority 0 and hidden.
            fields = {"priority": 0, "hidden": True, "secondaryDelaySecs": self.delay_s}
            saved[name] = _reconfig(ctx.dep, node, fields, self.wait_s)
        return {"delayed": sorted(saved), "delay_s": self.delay_s, "before": dict(saved)}

    def heal(self, ctx: FaultContext) -> dict[str, Any]:
        restored, errors = {}, {}
        for name, old in ctx.state.pop("saved", {}).items():
            try:
                _reconfig(ctx.dep, ctx.dep.mongo_node(name), old, self.wait_s)
                restored[name] = old
            except FaultError as exc:
                errors[name] = str(exc)
        if errors:
            raise FaultError(f"secondary-delay: could not restore {errors} (restored {sorted(restored)})")
        return {"restored": restored}


@register
class StopReplProducer(Fault):
    """The ``stopReplProducer`` fail point on syncing members: they fetch no oplog until heal."""

    kind = "stop-repl-producer"
    needs: ClassVar[frozenset[Capability]] = NEEDS

    def __init__(self, target: str = "secondaries:rs0", wait_ms: int = 5000) -> None:
        self.target = _target(self.kind, target)
        # Within the admin path's socket timeout (10 s), so the server's own limit answers first.
        self.wait_ms = _integer(self.kind, "wait_ms", wait_ms, 1, 8000)

    def unsupported(self, dep: Deployment | None) -> str | None:
        gap = replication_gap(self.kind, dep)
        plane = None if dep is None else dep.mongo
        if gap is None and plane is not None and not plane.spec.settings.enable_test_commands:
            return f"{self.kind} not supported: {TEST_COMMANDS_OFF}"
        return gap

    def apply(self, ctx: FaultContext) -> dict[str, Any]:
        armed: list[str] = ctx.state.setdefault("armed", [])
        entered: dict[str, int] = {}
        for name in self.target.resolve(ctx):
            admin = _member(ctx, name).admin()
            try:
                count = cmds.fail_point(admin, FAIL_POINT, "alwaysOn")
            except OperationFailure as exc:
                why = TEST_COMMANDS_OFF if exc.code == COMMAND_NOT_FOUND else str(exc)
                raise FaultError(f"{self.kind} not supported on {name}: {why}") from exc
            armed.append(name)  # heal turns it off even if the wait below fails
            try:
                cmds.wait_for_fail_point(admin, FAIL_POINT, count + 1, self.wait_ms)
            except OperationFailure as exc:
                raise FaultError(
                    f"{name} did not enter {FAIL_POINT} within {self.wait_ms} ms (is it syncing?): {exc}"
                ) from exc
            entered[name] = count + 1
        return {"nodes": list(armed), "fail_point": FAIL_POINT, "times_entered": entered}

    def heal(self, ctx: FaultContext) -> dict[str, Any]:
        off, errors = [], {}
        for name in ctx.state.pop("armed", []):
            try:
                cmds.fail_point(ctx.dep.mongo_node(name).admin(), FAIL_POINT, "off")
                off.append(name)
            except PyMongoError as exc:
                errors[name] = f"{type(exc).__name__}: {exc}"
        if errors:
            raise FaultError(f"{self.kind}: could not turn {FAIL_POINT} off on {errors} (off on {off})")
        return {"off": off, "fail_point": FAIL_POINT}
