"""``harness capacity --plane redis`` end to end, very short, on a standalone redis-server capped at
a tenth of a core: the structure and sanity of what it writes, never its timings (those are
measurements: README "Capacity validation")."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from harness.bench.capacity import locust_scaling, mongo_plane
from harness.bench.capacity.redis_plane import PIPE_RUNS, RedisCapacity
from harness.bench.capacity.run import run
from harness.bench.capacity.search import SearchPlan
from harness.topology.cgroups import cpu_limits_supported
from harness.topology.lifecycle import RunResources
from tests.conftest import needs_servers
from tests.live.leftovers import assert_nothing_left

_ok, _reason = cpu_limits_supported()
pytestmark = [
    pytest.mark.live,
    needs_servers,
    pytest.mark.skipif(not _ok, reason=f"needs cgroup CPU limits: {_reason}"),
]


def test_short_capacity_search_on_a_capped_server(tmp_path: Path) -> None:
    # 0.1 core takes a few thousand events/s: 8,000 offered is past it on any machine of our kind
    plan = SearchPlan(
        max_rate=8000,
        step_seconds=1.0,
        slo_p99_ms=50,
        cpu_cap_cores=0.1,
        coarse_steps=4,
        refine_steps=1,
        warmup_s=0.5,
    )
    lines: list[str] = []
    # 4,200 filler keys (past 4,096: both tables at 8,192 buckets), where the default's 1.1M would
    # take a minute at a tenth of a core
    opts = RedisCapacity(0.1, 2, 1, plan, prefill_keys=4_200)
    run_dir, res = run("redis", opts, tmp_path, "test", lines.append)
    assert res["status"] == "ran" and res["capacity"]["applied"] is True
    saved = json.loads((run_dir / "results.json").read_text())
    assert saved["knee"] == res["knee"]
    assert (run_dir / "index.html").read_text().count("<svg") == 3
    steps = res["steps"]
    assert steps and all(s["events"] > 0 for s in steps)
    assert any(line.startswith("step 1: offered 2,000/s, achieved") for line in lines)  # progress
    offered = [s["offered"] for s in steps]
    assert max(offered) <= 8000
    knee = res["knee"]
    if knee["knee_rate"] is not None:
        assert knee["knee_rate"] <= max(offered)
    # the knee's rate and each failure below it repeated until each has its runs (or said not)
    runs = {v["offered"]: v["runs"] for v in knee["verdicts"]}
    assert sum(runs.values()) == len(steps)
    if knee["status"] == "found":
        assert knee["confirmed"] is (not knee["unconfirmed"])
        if knee["confirmed"]:
            assert runs[knee["knee_rate"]] >= plan.confirm_runs
        else:
            assert "not confirmed" in knee["note"]
    for s in steps:
        pe = s["per_event"]
        assert pe["ops"] > 0 and pe["net_in_bytes"] > 0 and pe["server_cpu_us"] > 0
    assert all(res["memory"][k]["keys_sampled"] > 0 for k in ("counter", "hll", "timeline", "limiter"))
    filler, end = res["keyspace"]["filler"], res["keyspace"]["end"]
    assert filler["keys"] == 4_200 and filler["settled"] is True
    # the dataset is the workload's own (counted before the pipe's runs added theirs): no filler
    assert 0 < res["memory"]["dataset"]["keys"] <= end["keys"] - 4_200
    # 50k keys here: the table doubled, and the results say so
    assert res["keyspace"]["grew"] is (end["tables"]["main"]["buckets"] > 8_192)
    assert ("--prefill-keys" in res["keyspace"]["note"]) is res["keyspace"]["grew"]
    pipe = res["pipe"]
    assert pipe["status"] == "ran" and pipe["events_per_s"] > 0 and pipe["errors_free"] is True
    assert len(pipe["runs_events_per_s"]) == PIPE_RUNS
    assert res["comparison"]["status"] in ("ran", "not_run")
    assert res["load"]["load_cpu_us_per_event"] > 0
    # torn down: servers, cgroups, load processes, data
    left = RunResources.load(run_dir / "resources.json")
    assert_nothing_left(left)
    assert not any(Path(g).exists() for g in left.cgroups)
    assert not multiprocessing.active_children()
    assert not (run_dir / "data").exists()


def test_a_plane_without_its_server_is_reported_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mongo_plane, "find_binary", lambda _name: None)
    plan = SearchPlan(max_rate=1000, step_seconds=1.0, slo_p99_ms=50, cpu_cap_cores=1.0)
    run_dir, res = run("mongo", RedisCapacity(None, 1, 1, plan), tmp_path, "test", lambda _m: None)
    assert res["status"] == "not_run" and "no mongod and no FerretDB" in res["reason"]
    assert "NOT RUN" in (run_dir / "index.html").read_text()


def test_locust_workers_run_under_their_own_cpu_cap(tmp_path: Path) -> None:
    # one worker capped at 0.2 core, offered far more than that can send: it runs flat out, so the
    # CPU it used over the window shows the cap held (a window need not line up with the quota's
    # 20 ms periods: up to one period's quota more can fall into it)
    if locust_scaling.locust_binary() is None:
        pytest.fail("no locust command: pip install -e '.[dev]' (a dev dependency)")
    lines: list[str] = []
    dist = locust_scaling.measure(tmp_path, "locust-cap-test", 1.0, 1, 1.5, log=lines.append, worker_cpu=0.2)
    assert dist["status"] == "ran" and dist["worker_cpu_limit"] == 0.2
    row = dist["rows"][0]
    assert row["achieved"] > 0 and 0 < row["load_cpu_cores"] <= 0.2 * 1.25
    assert lines and lines[0].startswith("locust 1 worker(s): ")
    left = RunResources.load(tmp_path / "resources.json")
    assert any("locust-1w0" in g for g in left.cgroups)  # recorded before it was made
    assert_nothing_left(left)
    assert not any(Path(g).exists() for g in left.cgroups)
