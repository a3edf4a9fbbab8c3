"""Topology and scenario files: the shipped ones load; bad ones fail naming file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import HarnessError, SpecError
from harness.scenario.spec import WriteConcernModel, available_scenarios, load_scenario
from harness.topology.spec import available_topologies, load_topology


@pytest.mark.parametrize("name", available_topologies())
def test_shipped_topologies_load(name: str) -> None:
    assert load_topology(name).name == name


@pytest.mark.parametrize("name", available_scenarios())
def test_shipped_scenarios_load(name: str) -> None:
    assert load_scenario(name).name == name


def test_cluster_topology_shape() -> None:
    spec = load_topology("redis-cluster").redis
    assert spec is not None
    assert [n.role for n in spec.nodes].count("master") == 3
    assert {n.replica_of for n in spec.nodes if n.role == "replica"} == {"r1", "r2", "r3"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "field", "problem"),
    [
        ("name: x\nredis: {mode: cluster, nodes: [{name: r1, role: boss}]}", "redis.nodes.0.role", "master"),
        ("name: x\nredis: {mode: cluster, nodes: [{name: r1, role: master}]}", "redis", "at least 3 masters"),
        (
            "name: x\nredis: {mode: replicated, nodes: [{name: r1, role: master}, "
            "{name: r2, role: replica}]}",
            "redis",
            "replica_of",
        ),
        (
            "name: x\nredis: {mode: replicated, settings: {port: 1}, nodes: [{name: r1, role: master}]}",
            "redis",
            "chosen by the harness",
        ),
        (
            "name: x\nredis: {mode: replicated, nodes: [{name: r1, role: master}]}\nextra: 1",
            "extra",
            "not permitted",
        ),
        ("name: [unclosed", "line 1", "not valid YAML"),
        ("- a\n- b", "-", "mapping"),
    ],
)
def test_bad_topology_names_file_and_field(tmp_path: Path, text: str, field: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as err:
        load_topology(path)
    assert err.value.path == str(path)
    assert err.value.field.startswith(field)
    assert problem in str(err.value)


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(HarnessError, match=r"known: .*hot-partition, "):
        load_scenario("no-such-scenario")
    with pytest.raises(HarnessError, match="redis-cluster"):
        load_topology("no-such-topology")


def test_scenario_target_must_name_a_variant(tmp_path: Path) -> None:
    good = Path(__file__).resolve().parents[2] / "scenarios" / "hot-partition.yaml"
    bad = good.read_text().replace("metric: after.imbalance_ratio", "metric: later.imbalance_ratio")
    with pytest.raises(SpecError, match="names no variant"):
        load_scenario(write(tmp_path, bad))


SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


@pytest.mark.parametrize(
    ("scenario", "old", "new", "field", "problem"),
    [
        # a variant the scenario does not have, in metric and in ref
        ("hot-partition", "metric: after.imbalance_ratio", "metric: later.imbalance_ratio",
         "targets.1.metric", "'later' names no variant; use one of before, after"),
        ("hot-partition", "ref: before.latency_ms.whale.p99", "ref: befor.latency_ms.whale.p99",
         "targets.2.ref", "'befor' names no variant"),
        # a field metrics.json does not have
        ("hot-partition", "metric: before.imbalance_ratio", "metric: before.imbalance",
         "targets.0.metric", "'before' has no 'imbalance'; use one of per_master, imbalance_ratio"),
        # a percentile the latency groups do not have
        ("hot-partition", "metric: after.latency_ms.whale.p99", "metric: after.latency_ms.whale.p95",
         "targets.2.metric", "'after.latency_ms.whale' has no 'p95'; use one of count, p50, p99"),
        # the whale group without a whale in the workload
        ("platform-steady", "metric: steady.latency_ms.others.p99", "metric: steady.latency_ms.whale.p99",
         "targets.1.metric", "has no 'whale' in this scenario (latency groups: others, and whale when"),
        # a checker the scenario does not run, a fault kind its schedule does not have
        ("redis-failover", "metric: before.invariants.acknowledged_increments_survive.lost",
         "metric: before.invariants.sessions.lost", "targets.0.metric", "has no 'sessions' in this scenario"),
        ("redis-failover", "metric: before.faults_summary.kill.errors_until_ms",
         "metric: before.faults_summary.isolate.errors_until_ms", "targets.2.metric", "has no 'isolate'"),
        # the workload's own figures outside the platform, fault figures without a schedule
        ("hot-partition", "metric: before.imbalance_ratio", "metric: before.workload.queue.shed",
         "targets.0.metric", "workloads write their own figures"),
        ("hot-partition", "metric: before.imbalance_ratio", "metric: before.faults_summary.apply_delay_ms",
         "targets.0.metric", "written only for a scenario with a fault schedule"),
        # not a single number
        ("hot-partition", "metric: before.imbalance_ratio", "metric: before.latency_ms.whale",
         "targets.0.metric", "is a group of figures, not one"),
        ("hot-partition", "metric: before.imbalance_ratio", "metric: before.per_master.r1",
         "targets.0.metric", "is a list"),
    ],
)  # fmt: skip
def test_a_target_metric_path_is_checked_against_the_metrics_model(
    tmp_path: Path, scenario: str, old: str, new: str, field: str, problem: str
) -> None:
    text = (SCENARIOS / f"{scenario}.yaml").read_text()
    assert old in text
    path = write(tmp_path, text.replace(old, new, 1))
    with pytest.raises(SpecError) as err:
        load_scenario(path)
    assert err.value.path == str(path) and err.value.field == field
    assert problem in err.value.problem
    assert str(err.value).startswith(f"{path}: field '{field}': ")


def test_open_target_paths_are_accepted_where_the_data_is_open() -> None:
    """The platform's workload figures, a checker's own totals and op types are not in the model."""
    spike = load_scenario("platform-spike")
    assert any(t.metric.startswith("before.workload.queue.") for t in spike.targets)
    links = load_scenario("mongo-link-faults")
    assert any(".invariants.no_duplicates.retried_keys" in t.metric for t in links.targets)
    assert any(".workload.mongo.audit.outcomes.info" in t.metric for t in links.targets)


def test_scenario_naming_unknown_topology_fails_on_that_field(tmp_path: Path) -> None:
    good = Path(__file__).resolve().parents[2] / "scenarios" / "hot-partition.yaml"
    bad = good.read_text().replace("topology: redis-cluster", "topology: redis-galaxy")
    with pytest.raises(SpecError) as err:
        load_scenario(write(tmp_path, bad))
    assert err.value.field == "topology"


@pytest.mark.parametrize(
    ("replace", "problem"),
    [
        ("checkers: [acknowledged-increments-survive, rate-limit-holds]", "unknown checker 'no-such'"),
        (
            "checkers: [acknowledged-increments-survive, rate-limit-holds]\n"
            "checker_params: {rate-limit-holds: {bogus: 1}}",
            "checker_params.rate-limit-holds.bogus: unknown parameter",
        ),
        (
            "checkers: [rate-limit-holds, rate-limit-holds]",
            "each checker once",
        ),
    ],
)
def test_scenario_checkers_are_validated_before_anything_starts(
    tmp_path: Path, replace: str, problem: str
) -> None:
    good = Path(__file__).resolve().parents[2] / "scenarios" / "hot-partition.yaml"
    text = good.read_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("checkers:"))
    bad = text.replace(line, replace if "no-such" not in problem else "checkers: [no-such]")
    with pytest.raises(SpecError, match=problem.replace("[", r"\[")) as err:
        load_scenario(write(tmp_path, bad))
    assert err.value.path.endswith("bad.yaml")


def test_platform_topology_runs_its_redis_plane_without_mongod(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.scenario import planes
    from harness.topology import mongo as mongo_nodes

    platform = load_topology("platform")
    monkeypatch.setattr(mongo_nodes, "find_binary", lambda name: None)
    run = planes.runnable_topology(platform)
    assert run.topology.mongo is None and run.topology.redis == platform.redis and run.mongo_note is None
    reason = run.mongo_not_run
    assert reason is not None and reason.startswith("no mongod (") and "MONGODB_BIN_DIR" in reason
    assert "make setup" in reason  # how to get FerretDB, the plane's server where mongod is missing
    with pytest.raises(HarnessError, match="only a MongoDB plane and no mongod"):
        planes.runnable_topology(load_topology("mongo-rs"))
    monkeypatch.setattr(mongo_nodes, "find_binary", lambda name: f"/opt/mongo/bin/{name}")
    assert planes.runnable_topology(platform) == planes.Runnable(platform)
    monkeypatch.setattr(
        mongo_nodes, "find_binary", lambda name: None if name in ("mongos", "ferretdb") else "/x/mongod"
    )
    assert (planes.runnable_topology(platform).mongo_not_run or "").startswith("no mongos (")


def test_without_mongod_the_mongo_plane_runs_on_ferretdb_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.scenario import planes
    from harness.topology import mongo as mongo_nodes

    only_ferretdb = {"ferretdb": "/x/ferretdb"}
    monkeypatch.setattr(mongo_nodes, "find_binary", only_ferretdb.get)
    for name in ("platform", "mongo-rs"):
        topology = load_topology(name)
        assert topology.mongo is not None
        run = planes.runnable_topology(topology)
        mongo = run.topology.mongo
        assert mongo is not None and (mongo.mode, mongo.server) == ("standalone", "ferretdb")
        assert mongo.collections == topology.mongo.collections and run.topology.redis == topology.redis
        assert run.mongo_not_run is None
        note = run.mongo_note or ""
        assert "FerretDB" in note and topology.mongo.mode in note
    standalone = load_topology("mongo-standalone")
    assert planes.runnable_topology(standalone) == planes.Runnable(standalone)  # auto: ferretdb, as asked
    assert mongo_nodes.plane_binaries(standalone.mongo) == {"ferretdb": "/x/ferretdb"}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("old", "new", "field", "problem"),
    [
        ("peak: 7500, ", "", "workload", "profile.peak: missing for a spike profile"),
        ("kind: spike,", "kind: zigzag,", "workload", "profile.kind: must be constant, steps, ramp or spike"),
        ("mode: block}", "mode: drop}", "variants.0.queue.mode", "'shed' or 'block'"),
        ("reads_per_s: 100", "reads_per_s: 100\n  read_mix: {everything: 1}", "workload.read_mix", ""),
        ("cache: mutex", "cache: lru", "variants.0.cache", "cache_aside"),
        (
            "kind: platform",
            "kind: events",
            "workload",
            "apply to platform, tenant_reads and sharded_events workloads",
        ),
        (
            "mode: block}",
            "mode: block}\n    write_concern: {w: 0}",
            "variants.0.write_concern.w",
            "w: 0 asks for unacknowledged writes",
        ),
        (
            "mode: block}",
            "mode: block}\n    write_concern: {w: -1}",
            "variants.0.write_concern.w",
            "use w: 1",
        ),
    ],
)
def test_bad_platform_scenario_names_the_field(
    tmp_path: Path, old: str, new: str, field: str, problem: str
) -> None:
    text = (Path(__file__).parents[2] / "scenarios" / "platform-spike.yaml").read_text()
    assert old in text
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(SpecError) as err:
        load_scenario(path)
    assert err.value.field.startswith(field), err.value.field
    assert problem in str(err.value)


def test_rate_override_replaces_the_profile() -> None:
    spec = load_scenario("platform-spike")
    assert spec.workload.rate_profile().peak() == 7500
    assert spec.workload.rate_profile(2000).to_dict() == {"kind": "constant", "rate": 2000}
    assert load_scenario("platform-steady").workload.rate_profile().to_dict() == {
        "kind": "constant",
        "rate": 2500,
    }


def test_acknowledged_write_concerns_load() -> None:
    for wc in ({"w": 1}, {"w": 3, "j": True}, {"w": "majority", "wtimeout_ms": 5000}):
        assert WriteConcernModel.model_validate(wc).w == wc["w"]
