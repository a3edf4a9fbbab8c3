"""The sharded case studies live.

Against a real sharded cluster (mongo-sharded, wherever mongod and mongos exist; skipped with
``no mongod`` otherwise): the events collection created again on each shard key the scenarios use,
its chunks on both shards, mongos's own plan of the dashboard query (targeted with tenant_id
leading the key, every shard with a hashed event_id), the whale's inserts on one shard or spread
by its suffixes, counted by the shard primaries, and every event read back.

On the FerretDB stand-in (where no mongod exists; skipped where one does, since mongo-sharded would
then run it): both scenarios end ``not_run`` (exit 3) within seconds, each reason the server's own,
and leave nothing running.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.clock import RunClock
from harness.doctor import find_binary
from harness.history.recorder import HistoryRecorder
from harness.topology import mongo as mongo_nodes
from harness.topology.deployment import Deployment
from harness.topology.lifecycle import RunResources
from harness.topology.local import run_id_now
from harness.topology.spec import load_topology
from harness.workload.engine.profile import constant
from harness.workload.model.generator import EventGenerator
from harness.workload.model.tenants import TenantMix, TenantPicker
from harness.workload.mongo_plane.shard_reads import ReadConfig
from harness.workload.mongo_plane.sharded_events import ShardedConfig, ShardedEvents
from tests.conftest import needs_ferretdb, needs_mongod, needs_servers
from tests.live.backend import deploy
from tests.live.leftovers import assert_nothing_left

ROOT = Path(__file__).resolve().parents[2]
HINT = "tenant_id_1_event_time_-1"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    run_id = run_id_now("test-")
    run_dir = tmp_path_factory.mktemp("sharded") / run_id
    with deploy(load_topology("mongo-sharded"), run_dir, run_id, timeout_s=180) as dep:
        yield dep
    assert_nothing_left(RunResources.load(run_dir / "resources.json"))


def play(
    dep: Deployment, tmp_path: Path, key: dict[str, Any], hot: dict[str, int]
) -> tuple[dict[str, Any], int]:
    """4 s of the kind's load (300 events/s, a whale at 40%, dashboard reads) on ``key``; its
    summary and how many tenants' events could not be read back."""
    plane = dep.mongo
    assert plane is not None
    spec = plane.spec.load_collections().collection("events").sharded_on(key)
    cfg = ShardedConfig(
        profile=constant(300),
        duration_s=4,
        spec=spec,
        tenants=200,
        chunks_per_shard=4,
        hot=hot,
        whale="whale",
        max_batch=100,
        write_workers=2,
        drain_s=10,
        reads=ReadConfig(reads_per_s=20, duration_s=4, workers=4, slow_ms=200, hint=HINT),
        explain_tenants=("t00001", "t00150", "whale"),
    )
    gen = EventGenerator(TenantPicker(TenantMix(200, 0.0, "whale", 0.4), random.Random(1)), random.Random(2))
    clients = [dep.mongo_client(serverSelectionTimeoutMS=10_000) for _ in range(2)]
    with HistoryRecorder(tmp_path / "history.jsonl", RunClock()) as rec:
        load = ShardedEvents(plane, (clients[0], clients[1]), rec, rec.clock, cfg, "v", gen, lambda: "t00002")
        with mongo_nodes.ddl_client(plane, 60.0) as ddl:
            load.prepare(ddl)
        load.run()
        unread = load.final_reads()
        summary = load.summary()
    for c in clients:
        c.close()
    return summary, unread


@pytest.mark.live
@needs_servers
@needs_mongod
def test_a_tenant_key_pins_the_whale_to_one_shard_and_targets_its_query(
    cluster: Deployment, tmp_path: Path
) -> None:
    got, unread = play(cluster, tmp_path, {"tenant_id": 1}, {})
    assert unread == 0 and got["insert_outcomes"]["fail"] == 0
    assert set(got["chunks"]) == {"shard1", "shard2"}  # presplit: both shards hold chunks
    assert "unjudged" not in got, got.get("unjudged")  # the counters covered what was sent
    assert got["busiest_share"] >= 0.6  # 0.4 + half of the rest, by the counters
    ex = got["explain"]
    assert (ex["shards_per_query_max"], ex["targeted_share"], ex["stages"]) == (1, 1.0, {"SINGLE_SHARD": 3})
    assert got["reads"]["not_ok"] == 0


@pytest.mark.live
@needs_servers
@needs_mongod
def test_the_suffix_spreads_the_whale_and_its_query_gathers(cluster: Deployment, tmp_path: Path) -> None:
    got, unread = play(cluster, tmp_path, {"tenant_id": 1, "shard_suffix": 1, "event_time": 1}, {"whale": 10})
    assert unread == 0 and got["insert_outcomes"]["fail"] == 0
    assert got["imbalance_ratio"] <= 1.2
    assert got["explain"]["whale_shards"] == 2
    assert got["chunks"]["shard1"] >= 5 and got["chunks"]["shard2"] >= 5  # the whale's suffixes, dealt


@pytest.mark.live
@needs_servers
@needs_mongod
def test_a_hashed_event_id_makes_every_dashboard_a_scatter_gather(
    cluster: Deployment, tmp_path: Path
) -> None:
    got, unread = play(cluster, tmp_path, {"event_id": "hashed"}, {})
    assert unread == 0
    ex = got["explain"]
    assert (ex["shards_per_query_mean"], ex["scatter_share"]) == (2, 1.0)
    assert set(ex["stages"]) == {"SHARD_MERGE_SORT"}
    assert got["imbalance_ratio"] <= 1.2  # a hashed key spreads the whale too: its cost is the reads
    assert got["reads"]["reads"] > 0 and got["reads"]["not_ok"] == 0


def harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.mark.live
@needs_servers
@needs_ferretdb
@pytest.mark.parametrize("name", ["hot-partition-mongo", "cross-shard-query-mongo"])
def test_on_the_stand_in_both_scenarios_end_not_run_with_the_servers_reasons(
    name: str, tmp_path: Path
) -> None:
    if find_binary("mongod") is not None:
        pytest.skip("mongod is on this machine: mongo-sharded would run it, not FerretDB")
    out = harness("scenario", name, "--reports-dir", str(tmp_path))
    assert out.returncode == 3, out.stdout + out.stderr
    text = " ".join((out.stdout + out.stderr).split())  # the summary table wraps long reasons
    assert "verdict: not_run" in text and "refused: no such command: 'listShards'" in text
    assert "plane redis: not_run (topology mongo-sharded has no Redis plane)" in text
    run_dir = tmp_path / name / "latest"
    results = json.loads((run_dir / "results.json").read_text())
    assert results["verdict"] == "not_run" and results["planes"]["mongodb"]["server"].startswith("ferretdb")
    assert results["invariants"] and all(i["status"] == "not_run" for i in results["invariants"])
    assert all("without sharding" in i["summary"] for i in results["invariants"])
    assert results["targets"] and all(t["status"] == "not_run" for t in results["targets"])
    assert all("listShards" in t["reason"] for t in results["targets"])
    assert all(
        f["status"] == "not_run" and "names replica set shard1" in f["reason"] for f in results["faults"]
    )
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for v in metrics["variants"].values():
        assert "lacks sharding" in v["workload"]["not_run"]["sharded_events"]
    assert "lacks sharding" in (run_dir / "index.html").read_text()
    assert results["duration_s"] < 60  # nothing to play: bring-up, one check per variant, teardown
    assert_nothing_left(RunResources.load(run_dir / "resources.json"))
