"""The sharded_events kind: what its checks need, what a scenario may ask of it (each refusal names
the field), the shipped scenarios' shape, the report's facts of its figures, and, where the MongoDB
plane cannot shard, a variant that runs nothing, opens nothing and says why in the server's words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.clients.mongo_explain import Targeting
from harness.clock import RunClock
from harness.errors import SpecError
from harness.history.recorder import HistoryRecorder
from harness.scenario.context import VariantContext
from harness.scenario.kinds import KINDS, kind_of
from harness.scenario.planes import NEEDS_PLANE
from harness.scenario.spec import VariantSpec, load_scenario
from harness.topology.mongo import MongoNode, MongoPlane
from harness.topology.mongo_features import ServerFeatures
from harness.topology.mongo_spec import MongoSpec
from harness.topology.network import Host
from harness.topology.spec import load_topology
from harness.topology.toxiproxy import ProxyInfo
from harness.workload.engine.profile import constant
from harness.workload.mongo_plane.shard_load import load_figures
from harness.workload.mongo_plane.shard_reads import ReadStats, explain_figures

SHARDS = ["shard1", "shard2"]
NO_SHARDS = "refused: no such command: 'listShards' (code 59)"


# -- the kind's rules -----------------------------------------------------------------------------


def test_every_check_of_the_kind_needs_sharding() -> None:
    needs = KINDS["sharded_events"].checker_planes(VariantSpec(name="v", description="d"))
    for name in ("acknowledged-writes-survive", "no-duplicates", "tenant-isolation"):
        assert needs[name] == "mongodb:sharding"
    assert {k: v for k, v in needs.items() if k in NEEDS_PLANE and v != "mongodb:sharding"} == {
        k: v for k, v in NEEDS_PLANE.items() if k not in needs or needs[k] == v
    }
    kind = KINDS["sharded_events"]
    assert kind.counted_ops == kind.latency_ops == frozenset({"insert"})


def _write(tmp_path: Path, base: str, old: str, new: str) -> Path:
    text = (Path(__file__).parents[2] / "scenarios" / f"{base}.yaml").read_text()
    assert old in text, old
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


HP, CS = "hot-partition-mongo", "cross-shard-query-mongo"
KEY0 = "shard_key: {tenant_id: 1}\n"
KEY2 = "shard_key: {tenant_id: 1, shard_suffix: 1, event_time: 1}"
WHALE = "  whale: {tenant: whale, share: 0.4}\n"


@pytest.mark.parametrize(
    ("base", "old", "new", "field", "problem"),
    [
        # A shard key on a workload that has no such collection.
        (
            "cross-shard-query",
            "    key_layout: spread",
            "    key_layout: spread\n    shard_key: {tenant_id: 1}",
            "variants.0.shard_key",
            "applies to sharded_events workloads only",
        ),
        (HP, KEY0, "shard_key: {tenant: 1}\n", "variants.0.shard_key", "use fields of the events document"),
        (
            HP,
            KEY0,
            "shard_key: {tenant_id: hashed, event_id: hashed}\n",
            "variants.0.shard_key",
            "at most one hashed",
        ),
        (
            HP,
            KEY2,
            "shard_key: {shard_suffix: 1, tenant_id: 1}",
            "variants.2.shard_key",
            "right after a ranged",
        ),
        (HP, "    whale_shards: 10\n", "\n", "variants.2.whale_shards", "at least 2"),
        (HP, WHALE, "\n", "variants.2.whale_shards", "spreads the whale"),
        (
            HP,
            KEY0,
            KEY0 + "    whale_shards: 4\n",
            "variants.0.whale_shards",
            "need shard_suffix in the shard key",
        ),
        # The topology must be a sharded cluster; a Mongo-only one has no Redis to set.
        (
            HP,
            "topology: mongo-sharded",
            "topology: mongo-rs",
            "workload.kind",
            "needs a sharded MongoDB plane",
        ),
        (CS, "topology: mongo-sharded", "topology: redis-cluster", "workload.kind", "has no MongoDB plane"),
        (
            HP,
            KEY0,
            KEY0 + "    redis_settings: {maxmemory: 1mb}\n",
            "variants.0.redis_settings",
            "no Redis plane",
        ),
        # A whale on a workload with a rate limiter still needs its limit.
        ("hot-partition", "share: 0.4, limit: 5000}", "share: 0.4}", "workload", "whale.limit"),
    ],
)
def test_a_bad_sharded_scenario_names_the_field(
    tmp_path: Path, base: str, old: str, new: str, field: str, problem: str
) -> None:
    with pytest.raises(SpecError) as err:
        load_scenario(_write(tmp_path, base, old, new))
    assert err.value.field.startswith(field), err.value.field
    assert problem in str(err.value)


def test_the_shipped_sharded_scenarios_measure_every_target_through_sharding() -> None:
    for name in ("hot-partition-mongo", "cross-shard-query-mongo"):
        spec = load_scenario(name)
        assert spec.workload.kind == "sharded_events" and spec.topology == "mongo-sharded"
        assert spec.targets and all(t.measured_through == "mongodb:sharding" for t in spec.targets)
        assert spec.checker_needs == dict.fromkeys(spec.checkers, "mongodb:sharding")
        assert spec.case_study and spec.title and spec.description


def test_the_report_says_what_each_shard_took_and_why_a_figure_is_withheld() -> None:
    from harness.records.metrics import ShardedFigures
    from harness.report.sharded import sharded_facts

    hot = ShardedFigures.model_validate(
        {
            "shard_key": {"tenant_id": 1},
            "chunks": {"shard1": 4, "shard2": 4},
            **load_figures({"shard1": 3300, "shard2": 6700}, SHARDS, sent=10_000),
            "insert_latency_ms": {"p50": 2.5, "p99": 40.0},
            "explain": explain_figures([("whale", Targeting("SINGLE_SHARD", ("shard2",)))], 2, "whale"),
            "reads": ReadStats(reads=4, slow=1, latency_ms=[1.0, 2.0, 3.0, 90.0]).summary(50),
        }
    )
    facts = dict(sharded_facts(hot))
    load = facts["events sharded on {tenant_id: 1}"]
    assert "shard2 6,700 (67.0%)" in load and "busiest shard2 at 67.0%, imbalance 1.34" in load
    assert "chunks per shard after presplitting: shard1 4, shard2 4" in load and "p99 40 ms" in load
    assert "100.0% targeted" in facts["dashboard query, as mongos plans it"]
    assert "the whale's query: 1 shards" in facts["dashboard query, as mongos plans it"]
    assert facts["dashboard reads"].startswith("4 reads: 25.0% slower than 50 ms")

    withheld = ShardedFigures.model_validate(
        {"shard_key": {"event_id": "hashed"}, **load_figures({"shard1": 10}, SHARDS, 100)}
        | {"explain": explain_figures([("t1", "ExplainError: no shards")], 2)}
    )
    facts = dict(sharded_facts(withheld))
    assert "shares withheld: no counters from shard2" in facts["events sharded on {event_id: hashed}"]
    assert facts["dashboard query, as mongos plans it"] == "not told: ExplainError: no shards"


class _Dep:
    """What the kind reads of a deployment: its topology and its MongoDB plane."""

    def __init__(self, plane: MongoPlane | None, topology: str = "mongo-sharded") -> None:
        self.topology = load_topology(topology)
        self.mongo = plane
        self.redis: list[Any] = []
        self.clients = 0

    def mongo_client(self, **_: Any) -> Any:
        self.clients += 1
        raise AssertionError("the kind opened a client on a plane it cannot run on")


def ferret_plane() -> MongoPlane:
    node = MongoNode(
        "m1",
        "standalone",
        Host("m1", "127.0.0.1", None),
        1,
        ProxyInfo("m1-client", "10.213.9.1", 31000, "x"),
        Path("/nonexistent"),
        Path("/nonexistent.log"),
    )
    features = ServerFeatures("ferretdb", "1.24.2", "standalone", {"sharding": NO_SHARDS})
    return MongoPlane(MongoSpec(mode="standalone", server="ferretdb"), standalone=node, features=features)


@pytest.mark.parametrize("plane", [ferret_plane(), None], ids=["ferretdb", "no-mongodb-plane"])
def test_the_kind_runs_nothing_where_the_plane_cannot_shard(
    plane: MongoPlane | None, recorder: HistoryRecorder
) -> None:
    spec = load_scenario("cross-shard-query-mongo")
    dep = _Dep(plane)
    logs: list[str] = []
    ctx = VariantContext(
        dep,
        spec,
        spec.variants[0],
        recorder,
        RunClock(),
        1,
        1.0,
        constant(10),
        logs.append,  # type: ignore[arg-type]
    )
    workload = kind_of("sharded_events").build(ctx)
    stats = workload.run(lambda *_: None)
    assert (stats.offered, stats.sent, stats.admitted) == (0, 0, 0)
    assert workload.final_reads() == 0
    why = (
        f"ferretdb 1.24.2 lacks sharding (shard keys, chunks, mongos routing) ({NO_SHARDS})"
        if plane is not None
        else "the MongoDB plane did not run"
    )
    assert workload.summary(0.0) == {"not_run": {"sharded_events": why}}
    assert logs == [f"before: sharded_events not run: {why}"]
    workload.close()
    assert dep.clients == 0  # nothing opened, nothing sent
    recorder.close()
    assert recorder.path.read_text() == ""  # not one op: nothing was played on the stand-in
