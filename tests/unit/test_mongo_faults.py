"""The MongoDB replica-set faults (harness/faults/mongo_admin.py) without mongod.

Contract tests: each member of a two-member set is a ``mockupdb`` server reached over its direct
admin path, answering ``hello`` as primary or secondary as the test says; every other command a
fault sends at apply and at heal is received here, asserted field by field and answered. Also: the
parameters refused before a run, and the not-supported messages on a server without replication
(the FerretDB features object) or without test commands.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from mockupdb import MockupDB, go

from harness.errors import HarnessError
from harness.faults import make_fault
from harness.faults.base import FaultContext, FaultError, FaultParamError
from harness.faults.nemesis import not_supported
from harness.topology.mongo import MongoNode, MongoPlane, ReplSet
from harness.topology.mongo_features import ServerFeatures
from harness.topology.mongo_spec import MemberSpec, MongoSettings, MongoSpec
from harness.topology.network import Host
from harness.topology.toxiproxy import ProxyInfo

WIRE = 21  # MongoDB 7.0
FERRET_LACKS = "refused: no such command: 'replSetGetStatus' (code 59)"


class _Running:
    """Stands in for a node's server process: running, and not stopped (our own pid)."""

    pid = os.getpid()

    def running(self) -> bool:
        return True


class Member:
    """One mock member: its hello reply says primary or secondary, as ``primary`` is set."""

    def __init__(self, primary: bool) -> None:
        self.primary = primary
        self.server = MockupDB()
        self.server.autoresponds(
            lambda req: req.command_name in ("hello", "ismaster", "isMaster") and req.ok(**self.hello())
        )
        self.server.run()

    def hello(self) -> dict[str, Any]:
        return {
            "isWritablePrimary": self.primary,
            "ismaster": self.primary,
            "secondary": not self.primary,
            "helloOk": True,
            "minWireVersion": 0,
            "maxWireVersion": WIRE,
        }

    def receive(self, name: str) -> Any:
        req = self.server.receives(timeout=10)
        assert req.command_name == name, f"expected {name}, got {req.command_name}: {req.doc}"
        assert req.namespace == "admin", f"{name} sent to {req.namespace}"
        return req


def body(req: Any) -> dict[str, Any]:
    return {k: v for k, v in req.doc.items() if not k.startswith("$") and k != "lsid"}


def _node(name: str, member: Member, i: int) -> MongoNode:
    node = MongoNode(
        name=name,
        kind="replset",
        host=Host(name, "127.0.0.1", None),
        port=member.server.port,
        proxy=ProxyInfo(f"{name}-client", "10.213.9.1", 31000 + i, f"10.213.9.{10 + i}:27017"),
        data_dir=Path("/nonexistent"),
        log=Path("/nonexistent.log"),
        replset="rs0",
        member=MemberSpec(name=name, priority=2 if i == 0 else 1),
    )
    node.process = _Running()  # type: ignore[assignment]
    return node


class MongoDep:
    """A deployment with only a MongoDB plane (the parts faults and selectors use)."""

    def __init__(self, plane: MongoPlane) -> None:
        self.mongo = plane
        self.redis: list[Any] = []

    def node_names(self) -> list[str]:
        return [n.name for n in self.mongo.nodes]

    def mongo_node(self, name: str) -> MongoNode:
        for n in self.mongo.nodes:
            if n.name == name:
                return n
        raise HarnessError(f"no MongoDB node named '{name}'")


def _spec(test_commands: bool = True) -> MongoSpec:
    return MongoSpec.model_validate(
        {
            "mode": "replset",
            "replset": {
                "name": "rs0",
                "members": [{"name": "m1", "priority": 2}, {"name": "m2"}, {"name": "m3"}],
            },
            "settings": MongoSettings(enable_test_commands=test_commands).model_dump(),
        }
    )


@pytest.fixture
def rs() -> Iterator[tuple[Member, Member, MongoDep]]:
    m1, m2 = Member(primary=True), Member(primary=False)
    nodes = [_node("m1", m1, 0), _node("m2", m2, 1)]
    plane = MongoPlane(
        _spec(),
        replsets=[ReplSet("rs0", "replset", nodes)],
        features=ServerFeatures("mongod", "7.0.14", "replset", {}),
    )
    try:
        yield m1, m2, MongoDep(plane)
    finally:
        for n in nodes:
            n.close()
        m1.server.stop()
        m2.server.stop()


def ctx_of(dep: Any) -> FaultContext:
    return FaultContext(dep=dep, rng=random.Random(1))


def ferret_dep() -> MongoDep:
    """The FerretDB stand-in as a replica-set topology gets it where no mongod exists."""
    proxy = ProxyInfo("m1-client", "10.213.9.1", 31000, "x")
    host = Host("m1", "127.0.0.1", None)
    standalone = MongoNode("m1", "standalone", host, 1, proxy, Path("/nonexistent"), Path("/nonexistent.log"))
    features = ServerFeatures("ferretdb", "1.24.2", "standalone", {"replication": FERRET_LACKS})
    spec = MongoSpec(mode="standalone", server="ferretdb")
    return MongoDep(MongoPlane(spec, standalone=standalone, features=features))


# -- contract: what each fault sends at apply and at heal ----------------------------------------


def test_stepdown_sends_replsetstepdown_and_heal_reports_the_election(
    rs: tuple[Member, Member, MongoDep],
) -> None:
    m1, m2, dep = rs
    fault, ctx = (
        make_fault("stepdown", {"seconds": 30, "secondary_catch_up_s": 5}, "primary:rs0"),
        ctx_of(dep),
    )
    future = go(fault.apply, ctx)
    req = m1.receive("replSetStepDown")
    assert body(req) == {"replSetStepDown": 30, "secondaryCatchUpPeriodSecs": 5}
    m1.primary, m2.primary = False, True  # the set elects m2
    req.ok()
    applied = future()
    assert applied == {
        "node": "m1", "replset": "rs0", "seconds": 30, "secondary_catch_up_s": 5, "reply": "ok"
    }  # fmt: skip

    future = go(fault.heal, ctx)
    since = ctx.state["since"].replace(tzinfo=None)  # the server's dates are UTC without a zone
    metrics = {
        "lastElectionReason": "stepUpRequestSkipDryRun",
        "lastElectionDate": since + timedelta(milliseconds=1500),
        "termAtElection": 2,
        "wMajorityWriteAvailabilityDate": since + timedelta(milliseconds=1750),
    }
    m2.receive("replSetGetStatus").ok(set="rs0", members=[], electionCandidateMetrics=metrics)
    healed = future()
    assert healed["primary"] == "m2" and healed["old_primary"] == "m1"
    # BSON dates keep milliseconds: within 1 ms of the reply's dates
    assert healed["election_ms"] == pytest.approx(1500, abs=1)
    assert healed["majority_writable_ms"] == pytest.approx(1750, abs=1)
    assert healed["term"] == 2 and healed["primary_seen_after_ms"] >= 0


def test_stepdown_without_a_reply_is_not_taken_for_success_nor_failure(
    rs: tuple[Member, Member, MongoDep],
) -> None:
    m1, _, dep = rs
    fault, ctx = make_fault("stepdown", {"seconds": 20, "secondary_catch_up_s": 0}, "m1"), ctx_of(dep)
    future = go(fault.apply, ctx)
    m1.receive("replSetStepDown").hangup()
    assert "may or may not have happened" in future()["reply"]
    # Heal finds the primary (still m1 here) and says no election happened since.
    future = go(fault.heal, ctx)
    m1.receive("replSetGetStatus").ok(set="rs0", members=[], electionCandidateMetrics={})
    healed = future()
    assert (
        healed["primary"] == "m1"
        and healed["election_ms"] is None
        and "no election" in healed["election_note"]
    )


def test_stepdown_refused_by_the_server_fails_the_fault(rs: tuple[Member, Member, MongoDep]) -> None:
    m1, _, dep = rs
    future = go(make_fault("stepdown", {"seconds": 20}, "m1").apply, ctx_of(dep))
    m1.receive("replSetStepDown").command_err(code=262, errmsg="No electable secondaries caught up")
    with pytest.raises(FaultError, match="No electable secondaries"):
        future()


def test_freeze_then_unfreeze(rs: tuple[Member, Member, MongoDep]) -> None:
    _, m2, dep = rs
    fault, ctx = make_fault("freeze", {"seconds": 20}, "random-secondary:rs0"), ctx_of(dep)
    future = go(fault.apply, ctx)
    req = m2.receive("replSetFreeze")
    assert body(req) == {"replSetFreeze": 20}
    req.ok()
    assert future() == {"frozen": ["m2"], "seconds": 20}
    future = go(fault.heal, ctx)
    req = m2.receive("replSetFreeze")
    assert body(req) == {"replSetFreeze": 0}
    req.ok(info="unfreezing")
    assert future() == {"unfrozen": ["m2"]}


def _config(version: int, m2: dict[str, Any]) -> dict[str, Any]:
    return {
        "_id": "rs0",
        "version": version,
        "term": 1,
        "members": [
            {"_id": 0, "host": "10.213.9.1:31000", "priority": 2.0, "hidden": False,
             "secondaryDelaySecs": 0, "votes": 1},
            {"_id": 1, "host": "10.213.9.1:31001", "votes": 1, **m2},
        ],
    }  # fmt: skip


def test_secondary_delay_reconfigures_the_member_and_heal_restores_it(
    rs: tuple[Member, Member, MongoDep],
) -> None:
    m1, _, dep = rs
    fault, ctx = make_fault("secondary-delay", {"delay_s": 30}, "m2"), ctx_of(dep)
    plain = {"priority": 1.0, "hidden": False, "secondaryDelaySecs": 0}
    delayed = {"priority": 0, "hidden": True, "secondaryDelaySecs": 30}
    future = go(fault.apply, ctx)
    m1.receive("replSetGetConfig").ok(config=_config(3, plain))
    req = m1.receive("replSetReconfig")
    assert body(req) == {"replSetReconfig": _config(4, delayed)}  # version + 1, priority 0, hidden
    req.ok()
    applied = future()
    assert applied["delayed"] == ["m2"] and applied["before"] == {"m2": plain}

    future = go(fault.heal, ctx)
    m1.receive("replSetGetConfig").ok(config=_config(4, delayed))
    req = m1.receive("replSetReconfig")
    assert body(req) == {"replSetReconfig": _config(5, plain)}
    req.ok()
    assert future() == {"restored": {"m2": plain}}


def test_secondary_delay_refuses_the_primary(rs: tuple[Member, Member, MongoDep]) -> None:
    _, _, dep = rs
    with pytest.raises(FaultError, match="m1 is primary now"):
        make_fault("secondary-delay", {}, "m1").apply(ctx_of(dep))


def test_stop_repl_producer_arms_waits_and_turns_off(rs: tuple[Member, Member, MongoDep]) -> None:
    _, m2, dep = rs
    fault, ctx = make_fault("stop-repl-producer", {"wait_ms": 4000}, "secondaries:rs0"), ctx_of(dep)
    future = go(fault.apply, ctx)
    req = m2.receive("configureFailPoint")
    assert body(req) == {"configureFailPoint": "stopReplProducer", "mode": "alwaysOn"}
    req.ok(count=4)
    req = m2.receive("waitForFailPoint")
    assert body(req) == {"waitForFailPoint": "stopReplProducer", "timesEntered": 5, "maxTimeMS": 4000}
    req.ok()
    assert future() == {"nodes": ["m2"], "fail_point": "stopReplProducer", "times_entered": {"m2": 5}}
    future = go(fault.heal, ctx)
    req = m2.receive("configureFailPoint")
    assert body(req) == {"configureFailPoint": "stopReplProducer", "mode": "off"}
    req.ok(count=9)
    assert future() == {"off": ["m2"], "fail_point": "stopReplProducer"}


def test_stop_repl_producer_never_entered_is_a_failure_and_still_turned_off(
    rs: tuple[Member, Member, MongoDep],
) -> None:
    _, m2, dep = rs
    fault, ctx = make_fault("stop-repl-producer", {}, "m2"), ctx_of(dep)
    future = go(fault.apply, ctx)
    m2.receive("configureFailPoint").ok(count=0)
    m2.receive("waitForFailPoint").command_err(code=50, errmsg="operation exceeded time limit")
    with pytest.raises(FaultError, match="did not enter stopReplProducer"):
        future()
    future = go(fault.heal, ctx)  # armed, so turned off even though it was never entered
    req = m2.receive("configureFailPoint")
    assert body(req) == {"configureFailPoint": "stopReplProducer", "mode": "off"}
    req.ok(count=0)
    assert future()["off"] == ["m2"]


def test_stop_repl_producer_with_test_commands_off(rs: tuple[Member, Member, MongoDep]) -> None:
    _, m2, dep = rs
    fault, ctx = make_fault("stop-repl-producer", {}, "m2"), ctx_of(dep)
    future = go(fault.apply, ctx)
    m2.receive("configureFailPoint").command_err(code=59, errmsg="no such command: 'configureFailPoint'")
    with pytest.raises(FaultError, match="not supported on m2: test commands are off"):
        future()
    assert fault.heal(ctx) == {"off": [], "fail_point": "stopReplProducer"}  # nothing was armed


# -- parameters, refused before anything starts ----------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "params", "target", "problem"),
    [
        ("stepdown", {"seconds": 5, "secondary_catch_up_s": 10}, "primary:rs0", "must be greater than"),
        ("stepdown", {"seconds": 5, "secondary_catch_up_s": 5}, "primary:rs0", "must be greater than"),
        ("stepdown", {"seconds": 1.5}, "primary:rs0", "'seconds' must be an integer"),
        ("stepdown", {"seconds": 0}, "primary:rs0", "'seconds' must be >= 1"),
        ("stepdown", {"secondary_catch_up_s": -1}, "primary:rs0", ">= 0"),
        ("stepdown", {}, "random-master", "target must be a member's name or primary:<replset>"),
        ("stepdown", {"force": True}, "primary:rs0", "unknown ['force']"),
        ("freeze", {"seconds": 0}, "m2", "'seconds' must be >= 1"),
        ("freeze", {"seconds": True}, "m2", "must be an integer"),
        ("secondary-delay", {"delay_s": 0}, "m2", "'delay_s' must be >= 1"),
        ("secondary-delay", {}, "master-of-slot:0", "target must be"),
        ("stop-repl-producer", {"wait_ms": 9000}, "secondaries:rs0", "'wait_ms' must be <= 8000"),
        ("stop-repl-producer", {}, "secondaries:", "expected a replica-set name"),
    ],
)
def test_bad_parameters_are_refused_when_built(
    kind: str, params: dict[str, Any], target: str, problem: str
) -> None:
    with pytest.raises(FaultParamError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        make_fault(kind, params, target)


def test_defaults_build() -> None:
    assert make_fault("stepdown").describe() == "stepdown"  # type: ignore[call-arg]
    for kind in ("freeze", "secondary-delay", "stop-repl-producer"):
        assert make_fault(kind).kind == kind


def test_a_bad_fault_in_a_scenario_is_refused_when_it_loads() -> None:
    from pydantic import ValidationError

    from harness.scenario.spec import load_scenario

    spec = load_scenario("mongo-failover")
    data = spec.model_dump(exclude_unset=True)
    data["schedule"]["steps"][2]["params"] = {"seconds": 3, "secondary_catch_up_s": 5}
    with pytest.raises(ValidationError, match=r"schedule.steps.2: fault stepdown: 'seconds' \(3\)"):
        type(spec).model_validate(data)


# -- not supported on this substrate ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["stepdown", "freeze", "secondary-delay", "stop-repl-producer"])
def test_a_server_without_replication_is_named_with_its_own_words(kind: str) -> None:
    fault = make_fault(kind)
    assert (
        fault.unsupported(ferret_dep())
        == f"{kind} not supported by ferretdb 1.24.2: no replication ({FERRET_LACKS})"
    )
    assert not_supported(fault, ferret_dep()) == fault.unsupported(ferret_dep())


def test_a_replica_set_selector_on_the_stand_in_is_not_run_for_any_fault() -> None:
    for kind, target in (
        ("kill", "primary:rs0"),
        ("isolate", "primary:rs0"),
        ("pause", "random-secondary:rs0"),
    ):
        why = not_supported(make_fault(kind, {}, target), ferret_dep())
        assert why == (
            f"{kind}: '{target}' names replica set rs0, but the MongoDB plane runs on ferretdb 1.24.2: "
            f"no replication ({FERRET_LACKS})"
        )
    assert not_supported(make_fault("kill", {}, "m1"), ferret_dep()) is None  # the server exists


def test_no_mongodb_plane_and_no_such_set(rs: tuple[Member, Member, MongoDep]) -> None:
    _, _, dep = rs
    assert not_supported(make_fault("stepdown", {}, "primary:rs9"), dep) == (
        "stepdown: 'primary:rs9': no replica set named rs9 (replica sets: rs0)"
    )
    no_mongo = MongoDep(ferret_dep().mongo)
    no_mongo.mongo = None  # type: ignore[assignment]
    assert (
        make_fault("freeze").unsupported(no_mongo)
        == "freeze not supported: this topology has no MongoDB plane"
    )


def test_test_commands_off_is_named_before_anything_is_sent(rs: tuple[Member, Member, MongoDep]) -> None:
    _, _, dep = rs
    dep.mongo.spec = _spec(test_commands=False)
    why = make_fault("stop-repl-producer").unsupported(dep)
    assert why is not None and why.startswith("stop-repl-producer not supported: test commands are off")
    assert make_fault("stepdown").unsupported(dep) is None  # no fail point needed


def test_the_nemesis_records_them_not_run_with_the_reason(tmp_path: Path) -> None:
    from harness.clock import RunClock, seeded_random
    from harness.faults.base import Capability
    from harness.faults.nemesis import Nemesis
    from harness.faults.schedule import ScheduleSpec, plan
    from harness.history.loader import load_history
    from harness.history.recorder import HistoryRecorder

    clock = RunClock()
    rec = HistoryRecorder(tmp_path / "history.jsonl", clock)
    schedule = {
        "allow_overlap": True,
        "steps": [
            {"at_s": 0.01, "duration_s": 0.05, "fault": "stop-repl-producer", "target": "secondaries:rs0"},
            {"at_s": 0.02, "duration_s": 0.05, "fault": "kill", "target": "primary:rs0"},
            {"at_s": 0.03, "duration_s": 0.05, "fault": "stepdown", "target": "primary:rs0"},
        ],
    }
    planned = plan(ScheduleSpec.model_validate(schedule), seeded_random(1, "schedule"), workload_s=1)
    caps = frozenset({Capability.KILL, Capability.MONGO_ADMIN})
    nemesis = Nemesis(planned, rec, clock, make_ctx=lambda: ctx_of(ferret_dep()), capabilities=caps)
    nemesis.start()
    while any(r.status == "pending" for r in nemesis.records) and clock.now_ns() < 5e9:
        threading_wait(0.01)
    records = nemesis.stop()
    rec.close()
    assert [r.status for r in records] == ["not_run", "not_run", "not_run"]
    assert (
        records[0].reason
        == f"stop-repl-producer not supported by ferretdb 1.24.2: no replication ({FERRET_LACKS})"
    )
    assert str(records[1].reason).startswith(
        "kill: 'primary:rs0' names replica set rs0, but the MongoDB plane"
    )
    assert str(records[2].reason).startswith("stepdown not supported by ferretdb 1.24.2: no replication")
    ops = [o for o in load_history(tmp_path / "history.jsonl") if o.process == "nemesis"]
    assert [o.f for o in ops] == ["fault-skipped"] * 3  # nothing attempted, nothing faked


def threading_wait(seconds: float) -> None:
    import threading

    threading.Event().wait(seconds)


# -- what a run on the stand-in reports ---------------------------------------------------------------


def test_checker_needs_make_checks_not_run_on_a_server_without_replication() -> None:
    from harness.records import Plane
    from harness.scenario.planes import NEEDS_PLANE, plane_skips, with_scenario_needs

    planes = {"mongodb": Plane(status="ran", server="ferretdb 1.24.2", lacks={"replication": FERRET_LACKS})}
    needs = with_scenario_needs(NEEDS_PLANE, {"acknowledged-writes-survive": "mongodb:replication"})
    skips = plane_skips(["acknowledged-writes-survive", "no-duplicates"], planes, needs)
    assert list(skips) == ["acknowledged-writes-survive"]  # no-duplicates keeps its plain need
    assert skips["acknowledged-writes-survive"].startswith(
        "mongodb plane ran on ferretdb 1.24.2 without replication"
    )
    assert plane_skips(["acknowledged-writes-survive"], {"mongodb": Plane(status="ran")}, needs) == {}


@pytest.mark.parametrize(
    ("needs", "problem"),
    [
        ({"rate-limit-holds": "mongodb:replication"}, "'rate-limit-holds' is not in checkers"),
        ({"no-duplicates": "redis"}, "the plane must be mongodb"),
        ({"no-duplicates": "mongodb:replicas"}, "unknown features"),
    ],
)
def test_checker_needs_are_checked_when_the_scenario_loads(needs: dict[str, str], problem: str) -> None:
    from pydantic import ValidationError

    from harness.scenario.spec import load_scenario

    spec = load_scenario("mongo-failover")
    with pytest.raises(ValidationError, match=problem):
        type(spec).model_validate({**spec.model_dump(exclude_unset=True), "checker_needs": needs})


def test_nothing_judged_is_not_a_pass() -> None:
    from harness.records import Invariant, RunResults, TargetResult
    from harness.scenario.judge import overall_verdict

    why = "mongodb plane ran on ferretdb 1.24.2 without replication"
    results = RunResults(
        invariants=[
            Invariant(variant="before", name="acknowledged-writes-survive", status="not_run", summary=why)
        ],
        targets=[
            TargetResult(name="election", status="not_run", reason="measured through the mongodb plane")
        ],
    )
    verdict, reason = overall_verdict(results)
    assert verdict == "not_run"
    assert reason.startswith("nothing judged here: 1 check and 1 target not run") and why in reason
    results.invariants.append(Invariant(variant="before", name="rate-limit-holds", status="valid"))
    assert overall_verdict(results)[0] == "pass"  # something was judged: the existing rules
    results.error = "boom"
    assert overall_verdict(results)[0] == "error"


def test_the_election_time_is_a_recovery_figure() -> None:
    from harness.history.loader import pair_ops
    from harness.metrics.recovery import recovery

    s = 1_000_000_000
    common = {"process": "nemesis", "fault": "stepdown", "index": 0, "variant": "after", "sched_ns": 2 * s}
    recs = [
        {"id": 1, "type": "invoke", "f": "fault-start", "time_ns": 2 * s, **common},
        {"id": 1, "type": "ok", "process": "nemesis", "f": "fault-start", "time_ns": 2 * s, "value": {}},
        {"id": 2, "type": "invoke", "f": "fault-end", "time_ns": 5 * s, **common},
        {
            "id": 2,
            "type": "ok",
            "process": "nemesis",
            "f": "fault-end",
            "time_ns": 5 * s,
            "value": {"election_ms": 812.5},
        },
    ]
    (fig,) = recovery(pair_ops(recs))
    assert fig["election_ms"] == 812.5


def test_a_schedule_with_fail_points_starts_mongod_with_test_commands() -> None:
    from harness.scenario.planes import with_fail_points
    from harness.topology.spec import load_topology

    topology = load_topology("platform-rs")
    off = topology.model_copy(
        update={
            "mongo": topology.mongo.model_copy(update={"settings": MongoSettings(enable_test_commands=False)})
        }
    )
    assert off.mongo is not None and not off.mongo.settings.enable_test_commands
    on = with_fail_points(off, {"kill", "stop-repl-producer"})
    assert on.mongo is not None and on.mongo.settings.enable_test_commands
    assert with_fail_points(off, {"stepdown"}) is off  # no fail point: the file's choice stands


def test_faults_a_workload_that_ran_nothing_never_reached_say_why_they_could_not_run(tmp_path: Path) -> None:
    """A workload that could not run here (sharded_events on the stand-in) ends at once, before any
    fault is due: each is then reported not run with the substrate's reason, not as merely late."""
    from harness.clock import RunClock, seeded_random
    from harness.faults.base import Capability
    from harness.faults.nemesis import Nemesis
    from harness.faults.schedule import ScheduleSpec, plan
    from harness.history.recorder import HistoryRecorder

    clock = RunClock()
    rec = HistoryRecorder(tmp_path / "history.jsonl", clock)
    schedule = {
        "steps": [
            {
                "at_s": 3,
                "duration_s": 8,
                "fault": "latency",
                "target": "primary:shard1",
                "params": {"ms": 100},
            },
            {"at_s": 12, "duration_s": 1, "fault": "latency", "target": "m1", "params": {"ms": 100}},
        ]
    }
    planned = plan(ScheduleSpec.model_validate(schedule), seeded_random(1, "schedule"), workload_s=14)
    caps = frozenset({Capability.TOXICS, Capability.MONGO_ADMIN})
    nemesis = Nemesis(planned, rec, clock, make_ctx=lambda: ctx_of(ferret_dep()), capabilities=caps)
    nemesis.start()
    records = nemesis.stop()  # at once: the workload ran nothing
    rec.close()
    assert [r.status for r in records] == ["not_run", "not_run"]
    assert records[0].reason == (
        "latency: 'primary:shard1' names replica set shard1, but the MongoDB plane runs on ferretdb 1.24.2: "
        f"no replication ({FERRET_LACKS})"
    )
    assert records[1].reason == "the workload ended before its start time"  # the server exists: only late
