"""A variant's MongoDB data paths (read-your-writes modes, the session fallback): which plane its
checkers need, their not_run verdicts when that plane did not run (at run time and when re-judged),
the platform driver refusing to play a MongoDB mode on Redis, and the spec validation."""

from __future__ import annotations

import json
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any, get_args

import pytest

from harness.clock import RunClock, seeded_random
from harness.errors import SpecError
from harness.records import Plane, RunMetrics, RunResults
from harness.scenario.judge import check_variant, checking_config, recheck_record
from harness.scenario.planes import plane_skips, variant_planes
from harness.scenario.spec import MONGO_RYW_MODES, TargetSpec, VariantSpec, load_scenario
from harness.workload.engine.openloop import DriverStats
from harness.workload.model.generator import EventGenerator
from harness.workload.model.tenants import TenantMix, TenantPicker
from harness.workload.platform import ryw
from harness.workload.platform.driver import MongoRywMode, PlatformConfig, PlatformDriver

NO_MONGO = {"redis": {"status": "ran"}, "mongodb": {"status": "not_run", "reason": "no mongod (get it)"}}


def planes(raw: dict[str, Any]) -> dict[str, Plane]:
    """``results.json``'s planes, as the judge reads them."""
    return {name: Plane.model_validate(p) for name, p in raw.items()}


JUDGED = ["read-your-writes", "monotonic-reads", "sessions", "rate-limit-holds"]


def variant(**fields: Any) -> VariantSpec:
    return VariantSpec(name="v", description="d", **fields)


def test_mongodb_modes_are_one_list_everywhere() -> None:
    assert MONGO_RYW_MODES == ryw.MODES == get_args(MongoRywMode)


@pytest.mark.parametrize(
    ("fields", "skipped"),
    [
        ({}, set()),
        ({"ryw_mode": "replica"}, set()),
        ({"ryw_mode": "causal"}, {"read-your-writes", "monotonic-reads"}),
        ({"ryw_mode": "secondary"}, {"read-your-writes", "monotonic-reads"}),
        ({"session_store": "fallback"}, {"sessions"}),
        (
            {"ryw_mode": "write_through", "session_store": "fallback"},
            {"read-your-writes", "monotonic-reads", "sessions"},
        ),
    ],
)
def test_checkers_of_a_mongodb_data_path_need_that_plane(fields: dict[str, Any], skipped: set[str]) -> None:
    needs = variant_planes(variant(**fields))
    skip = plane_skips(JUDGED, planes(NO_MONGO), needs)
    assert set(skip) == skipped
    assert all(reason == "mongodb plane not run: no mongod (get it)" for reason in skip.values())
    # The plane ran: nothing is skipped, whatever the variant chose.
    assert plane_skips(JUDGED, planes({"mongodb": {"status": "ran"}}), needs) == {}


def test_a_mongodb_mode_variant_without_the_plane_reports_its_checkers_not_run(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    history.write_text("")  # nothing was played: judging it would be a pass that proves nothing
    v = variant(ryw_mode="causal", session_store="fallback")
    verdicts = check_variant(
        history, "v", JUDGED, {}, skip=plane_skips(JUDGED, planes(NO_MONGO), variant_planes(v))
    )
    status = {x.name: (x.status, x.summary) for x in verdicts}
    for name in ("read-your-writes", "monotonic-reads", "sessions"):
        assert status[name] == ("not_run", "mongodb plane not run: no mongod (get it)")
    assert status["rate-limit-holds"][0] != "not_run"  # judged (here: no evidence, so unknown)


def test_a_saved_run_is_rejudged_with_each_variants_planes(tmp_path: Path) -> None:
    base = load_scenario("platform-steady")
    spec = base.model_copy(
        update={
            "variants": [
                variant(ryw_mode="secondary").model_copy(update={"name": "before"}),
                variant(ryw_mode="master").model_copy(update={"name": "after"}),
            ],
            "checkers": ["read-your-writes"],
            "checker_params": {},
            "targets": [],
        }
    )
    config = checking_config(spec)
    assert list(config.needs_plane) == ["before"]  # only where the variant's choice matters
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    # "after" played its Redis read-your-writes step; "before" (a MongoDB mode) could not.
    step = [
        {
            "id": 1,
            "process": "query",
            "f": "write",
            "type": "invoke",
            "time_ns": 1000,
            "key": "p",
            "session": "s",
        },
        {"id": 1, "process": "query", "f": "write", "type": "ok", "time_ns": 2000, "value": 1},
        {
            "id": 2,
            "process": "query",
            "f": "read",
            "type": "invoke",
            "time_ns": 3000,
            "key": "p",
            "session": "s",
        },
        {"id": 2, "process": "query", "f": "read", "type": "ok", "time_ns": 4000, "value": 1},
    ]
    lines = [json.dumps({**r, "variant": "after"} if r["type"] == "invoke" else r) for r in step]
    (run_dir / "history.jsonl").write_text("\n".join(lines) + "\n")
    results = {
        "scenario": "x",
        "planes": NO_MONGO,
        "variants": [{"name": "before"}, {"name": "after"}],
        "checking": config.dump(),
    }
    (run_dir / "results.json").write_text(json.dumps(results))
    out = recheck_record(run_dir)
    assert [(i.variant, i.status) for i in out.invariants] == [
        ("before", "not_run"),
        ("after", "valid"),
    ]


# -- the platform driver -------------------------------------------------------------------------


class FakeProfiles:
    def __init__(self) -> None:
        self.steps: list[tuple[str, str, int]] = []

    def step(self, tenant: str, user: str, sched_ns: int) -> bool:
        self.steps.append((tenant, user, sched_ns))
        return True


def driver(cfg: PlatformConfig, profiles: FakeProfiles | None) -> PlatformDriver:
    mix = TenantMix(5, 1.0, None, 0.0)
    picker = TenantPicker(mix, seeded_random(1, "t"))
    ingestor: Any = SimpleNamespace(stats=DriverStats())  # ingestion does not run here
    queries: Any = SimpleNamespace(sched_ns=None)  # a Redis profile step would fail on it
    return PlatformDriver(
        clock=RunClock(),
        generator=EventGenerator(picker, seeded_random(1, "e")),
        ingestor=ingestor,
        cfg=cfg,
        queries=queries,
        read_picker=picker,
        read_rng=random.Random(1),
        profiles=profiles,
    )


def test_a_mongodb_mode_is_never_played_on_redis() -> None:
    cfg = PlatformConfig(rate=1, duration_s=1, reads_per_s=10, ryw_mode="causal", read_mix={"profile": 1})
    with pytest.raises(ValueError, match="ryw_mode causal reads through MongoDB"):
        driver(cfg, None)
    # Without profile reads in the mix there is nothing to refuse.
    driver(
        PlatformConfig(rate=1, duration_s=1, reads_per_s=10, ryw_mode="causal", read_mix={"counters": 1}),
        None,
    )
    profiles = FakeProfiles()
    d = driver(cfg, profiles)
    assert d._read("profile", "t1", "user_2", 42) is True
    assert profiles.steps == [("t1", "user_2", 42)]


# -- spec validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("ryw_mode: causal", "variants.0.ryw_mode: 'causal' is a MongoDB mode; it applies to platform"),
        ("ryw_mode: write_through", "variants.0.ryw_mode: 'write_through' is a MongoDB mode"),
        ("session_store: fallback", "variants.0.session_store: applies to platform workloads only"),
    ],
)
def test_mongodb_data_paths_on_another_workload_kind_name_the_field(
    tmp_path: Path, line: str, problem: str
) -> None:
    text = (Path(__file__).parents[2] / "scenarios" / "hot-partition.yaml").read_text()
    old = "  - name: before\n"
    assert old in text
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace(old, f"{old}    {line}\n", 1))
    with pytest.raises(SpecError) as err:
        load_scenario(path)
    assert err.value.field == "variants"
    assert problem in str(err.value)


def test_platform_variants_take_the_mongodb_data_paths(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "scenarios" / "platform-steady.yaml").read_text()
    old = "    ryw_mode: master\n"
    assert old in text
    good = tmp_path / "good.yaml"
    good.write_text(text.replace(old, "    ryw_mode: causal\n    session_store: fallback\n"))
    [v] = load_scenario(good).variants
    assert (v.ryw_mode, v.session_store) == ("causal", "fallback")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace(old, "    ryw_mode: eventually\n"))
    with pytest.raises(SpecError) as err:
        load_scenario(bad)
    assert err.value.field == "variants.0.ryw_mode" and "'causal'" in str(err.value)
    bad.write_text(text.replace(old, "    session_store: memcached\n"))
    with pytest.raises(SpecError) as err:
        load_scenario(bad)
    assert err.value.field == "variants.0.session_store"


# -- a MongoDB plane on a server without a feature (FerretDB) -------------------------------------

FERRET = {
    "redis": {"status": "ran"},
    "mongodb": {
        "status": "ran",
        "server": "ferretdb 1.24.2",
        "lacks": {
            "replication": "refused: no such command: 'replSetGetStatus' (code 59)",
            "causal_consistency": "no operationTime in replies",
            "mongodb_server": "FerretDB 1.24.2 on SQLite stands in for MongoDB",
        },
    },
}


@pytest.mark.parametrize(
    ("mode", "skipped"),
    [("secondary", True), ("causal", True), ("primary", False), ("write_through", False)],
)
def test_a_mode_that_needs_replication_is_not_run_on_a_server_without_it(mode: str, skipped: bool) -> None:
    needs = variant_planes(variant(ryw_mode=mode))
    skip = plane_skips(JUDGED, planes(FERRET), needs)
    assert (set(skip) == {"read-your-writes", "monotonic-reads"}) is skipped
    for reason in skip.values():
        assert reason.startswith("mongodb plane ran on ferretdb 1.24.2 without replication")
        assert "replSetGetStatus" in reason  # the server's own words
    # The same variant on a server that has the feature is judged.
    assert plane_skips(JUDGED, planes({"mongodb": {"status": "ran", "lacks": {}}}), needs) == {}


def test_a_target_measured_through_a_stand_in_is_shown_not_judged() -> None:
    from harness.scenario.judge import evaluate_targets, overall_verdict
    from harness.scenario.spec import TargetSpec

    t = TargetSpec(
        name="keeps up",
        metric="v.throughput_ratio",
        op=">=",
        threshold=0.95,
        measured_through="mongodb:mongodb_server",
    )
    metrics = RunMetrics.model_validate({"variants": {"v": {"throughput_ratio": 0.5}}})
    (ferret,) = evaluate_targets([t], metrics, planes(FERRET))
    assert ferret.status == "not_run" and ferret.value == 0.5  # the figure is still shown
    assert str(ferret.reason).startswith("measured through the mongodb plane on ferretdb 1.24.2")
    # On mongod, and where the MongoDB plane did not run at all, the same target is judged.
    (mongod,) = evaluate_targets(
        [t], metrics, planes({"mongodb": {"status": "ran", "server": "mongod 7.0", "lacks": {}}})
    )
    (alone,) = evaluate_targets([t], metrics, planes(NO_MONGO))
    assert mongod.status == alone.status == "fail"
    valid = [{"variant": "v", "name": "x", "status": "valid"}]
    verdict, reason = overall_verdict(
        RunResults.model_validate({"invariants": valid, "targets": [ferret.dump()]})
    )
    assert verdict == "pass" and "1 target not judged (measured through a stand-in)" in reason
    mongod_run = RunResults.model_validate({"invariants": valid, "targets": [mongod.dump()]})
    assert overall_verdict(mongod_run)[0] == "fail"


def test_mongodb_queries_are_drawn_on_the_read_schedule_and_run_on_their_own_thread() -> None:
    picker = TenantPicker(TenantMix(5, 1.0, None, 0.0), seeded_random(1, "t"))
    asked: list[tuple[str, int]] = []
    counted: list[str] = []

    class Reader:
        def query(self, tenant: str, user: str, rng: random.Random, sched_ns: int) -> None:
            asked.append((tenant, sched_ns))

    class Queries:
        sched_ns = None

        def counters_last5(self, tenant: str, now_ms: int) -> int:
            counted.append(tenant)
            return 1

    ingestor: Any = SimpleNamespace(stats=DriverStats())
    cfg = PlatformConfig(rate=1, duration_s=1, reads_per_s=30, read_mix={"counters": 1, "mongo": 1})
    d = PlatformDriver(
        clock=RunClock(),
        generator=EventGenerator(picker, seeded_random(1, "e")),
        ingestor=ingestor,
        cfg=cfg,
        queries=Queries(),  # type: ignore[arg-type]
        read_picker=picker,
        read_rng=random.Random(1),
        mongo_reader=Reader(),
    )
    d._reads(list(range(1, 41)))  # the one schedule draws both kinds; MongoDB ones are handed over
    handed = 40 - len(counted)
    assert 0 < handed < 40 and not asked and d.read_stats.by_kind == {"counters": len(counted)}
    d._mongo_q.put(None)
    d._run_mongo_reads(deadline_ns=d.clock.now_ns() + 10**12)
    assert len(asked) == handed and [s for _, s in asked] == sorted(s for _, s in asked)  # in order
    assert d.read_stats.by_kind["mongo"] == handed and d.read_stats.mongo_dropped == 0
    # Past the run's deadline a query still waiting is not run, and counted.
    d._mongo_q.put(("t1", "u", 99))
    d._mongo_q.put(None)
    d._run_mongo_reads(deadline_ns=d.clock.now_ns() - 1)
    assert d.read_stats.mongo_dropped == 1 and len(asked) == handed
    with pytest.raises(AssertionError, match="not on this schedule"):
        d._read("mongo", "t1", "u", 0)


def test_a_target_whose_plane_never_ran_has_no_figure_and_is_not_run_not_unknown() -> None:
    """An election time measured through the MongoDB plane, when that plane did not run at all: no
    figure exists, and that is not an unknown (a fail) but a check not run, with the plane's reason.
    A figure that does exist is judged as usual (the plane was only on its way)."""
    from harness.scenario.judge import evaluate_targets

    t = TargetSpec(
        name="election", metric="v.faults_summary.stepdown.election_ms", op="<=", threshold=15000,
        measured_through="mongodb:replication",
    )  # fmt: skip
    absent = planes({"mongodb": {"status": "not_run", "reason": "no mongo image (no registry)"}})
    (none,) = evaluate_targets([t], RunMetrics.model_validate({"variants": {"v": {}}}), absent)
    assert (
        none.status == "not_run"
        and none.reason == "the mongodb plane did not run: no mongo image (no registry)"
    )
    # A figure missing while the plane ran is still unknown: the plane cannot excuse it.
    ran = planes({"mongodb": {"status": "ran", "server": "mongod 7.0", "lacks": {}}})
    (missing,) = evaluate_targets([t], RunMetrics.model_validate({"variants": {"v": {}}}), ran)
    assert missing.status == "unknown"
