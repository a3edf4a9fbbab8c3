"""A capacity run's figures and report from saved results alone (no server): the per-event
figures, the comparison with the pipe, the sizing inputs, and the page for a run that found a
knee, one that did not, one that errored and one not run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.bench.capacity import figures
from harness.clients.redis_stats import member_fit
from harness.report.capacity import render_capacity


def _step(n: int, offered: float, achieved: float, p99: float, cpu: float) -> dict[str, Any]:
    per = {"ops": 11.0, "net_in_bytes": 660.0, "net_out_bytes": 46.0, "server_cpu_us": 21.0,
           "memory_bytes": 400.0, "new_keys": 0.4}  # fmt: skip
    return {"step": n, "offered": offered, "achieved": achieved, "p50_ms": 1.0, "p99_ms": p99,
            "server_cpu_cores": cpu, "events": int(achieved * 2), "seconds": 2.0, "unsent": 0, "errors": 0,
            "max_lag_ms": 1.0, "workers": 2, "load_cpu_us_per_event": 25.0, "per_event": per}  # fmt: skip


def _results() -> dict[str, Any]:
    from harness.metrics.knee import Step, judge_knee

    steps = [_step(1, 4000, 4000, 5, 0.1), _step(2, 8000, 8000, 20, 0.2), _step(3, 12000, 9000, 300, 0.25),
             _step(4, 16000, 9100, 400, 0.25)]  # fmt: skip
    knee = judge_knee([Step.from_dict(s) for s in steps], slo_p99_ms=50, cpu_cap_cores=0.25)
    zset = {"keys_sampled": 10, "type": "zset", "bytes_per_key": 500.0, "members_per_key": 3.0,
            "bytes_per_member": 100.0, "key_bytes": 200.0, "fitted": True}  # fmt: skip
    return {
        "kind": "capacity", "run_id": "capacity-x", "plane": "redis", "status": "ran",
        "command": "harness capacity --plane redis", "server": "redis-server 7.0.15",
        "capacity": {"cpu_limit": 0.25, "applied": True, "reason": None},
        "machine": {"cpus": 2, "loadavg_start": [1.0, 1.0, 1.0], "loadavg_end": [1.5, 1.2, 1.0]},
        "settings": {"cpu_limit": 0.25, "workers": 2, "seed": 1},
        "address": "direct", "stream": "the ingest path",
        "steps": steps, "knee": knee.to_dict(),
        "memory": {"counter": {"keys_sampled": 10, "type": "string", "bytes_per_key": 88.0},
                   "hll": {"keys_sampled": 10, "type": "string", "bytes_per_key": 160.0},
                   "timeline": zset, "limiter": dict(zset), "dataset": {"used_memory": 1000, "keys": 10}},
        "pipe": {"status": "ran", "events": 60000, "runs_events_per_s": [8500.0, 8600.0, 8700.0],
                 "events_per_s": 8600.0, "server_cpu_us_per_event": 20.0},
        "plan": {"max_rate": 16000, "step_seconds": 2.0, "slo_p99_ms": 50.0, "cpu_cap_cores": 0.25,
                 "coarse_steps": 4, "refine_steps": 0, "warmup_s": 1.0},
    }  # fmt: skip


def test_figures_from_saved_steps() -> None:
    res = _results()
    assert res["knee"]["status"] == "found" and res["knee"]["knee_rate"] == 8000
    fig = figures.per_event(res)
    assert fig["ops"] == 11.0 and fig["memory_bytes_per_key"] == 100.0
    # 400 B/event over every step, weighted by events: still 400
    assert fig["memory_bytes_per_event_all_steps"] == 400.0
    cmp_ = figures.comparison(res)
    # 8000 / 8600 = 0.930: within 10%
    assert cmp_["ratio"] == 0.93 and cmp_["met"] is True
    load = figures.load_ceiling(res, cpus=2)
    # 25 us/event -> 40,000 events/s a core; 2 - 0.25 = 1.75 cores for 2 workers -> 70,000
    assert load["ceiling_events_per_s"] == 70_000 and load["load_bound"] is False
    sz = figures.sizing(res, fig)
    assert sz["status"] == "ran"
    assert sz["measured"]["knee_events_s"] == 8000 and sz["measured"]["timeline_key_bytes"] == 200.0


def test_no_knee_no_comparison_nor_sizing() -> None:
    res = _results()
    res["knee"] = {**res["knee"], "status": "not_reached", "knee_rate": 16000}
    assert figures.comparison(res) == {"status": "not_run", "reason": "no knee was found", "target": 0.1}
    assert figures.sizing(res, figures.per_event(res))["reason"] == "no knee was found"


def test_a_pipe_that_got_error_replies_is_not_the_ceiling() -> None:
    # what fooled the comparison once: refused (OOM) commands cost less, so the erroring pipe ran
    # 20% faster and the knee looked 0.79 of a ceiling that was not the stream's
    res = _results()
    res["pipe"] |= {
        "errors_free": False,
        "first_errors": ["OOM command not allowed when used memory > 'maxmemory'."],
    }
    cmp_ = figures.comparison(res)
    assert cmp_["status"] == "not_run" and "met" not in cmp_
    assert "error replies (OOM command not allowed" in cmp_["reason"]
    res["pipe"] |= {"errors_free": True, "first_errors": []}
    assert figures.comparison(res)["met"] is True


def test_sizing_needs_every_key_class() -> None:
    res = _results()
    res["memory"]["hll"] = {"keys_sampled": 0}
    assert figures.sizing(res, figures.per_event(res)) == {
        "status": "not_run",
        "reason": "no keys of hll to measure",
    }


def test_member_fit() -> None:
    # usage = 200 + 100 x members exactly
    assert member_fit([1, 2, 3, 5], [300, 400, 500, 700]) == {"bytes_per_member": 100.0, "key_bytes": 200.0,
                                                              "fitted": True}  # fmt: skip
    # one member count: everything charged to the members
    assert member_fit([2, 2], [500, 500]) == {"bytes_per_member": 250.0, "key_bytes": 0.0, "fitted": False}
    # a free fit below zero a key (sizes that step with allocations): through the origin, said so
    fit = member_fit([1, 2, 3, 4], [100, 100, 100, 500])  # free: 120 a member, -100 a key
    assert (fit["bytes_per_member"], fit["key_bytes"]) == (86.7, 0.0)  # 2600 / 30
    assert "the free fit gave -100.0 B a key" in fit["note"]


def test_report_of_a_run_with_a_knee(tmp_path: Path) -> None:
    res = _results()
    res["per_event"] = figures.per_event(res)
    res["load"] = figures.load_ceiling(res, 2)
    res["comparison"] = figures.comparison(res)
    res["sizing"] = figures.sizing(res, res["per_event"])
    (tmp_path / "results.json").write_text(json.dumps(res))
    html = render_capacity(tmp_path).read_text()
    assert "WITHIN 10%" in html and html.count("<svg") == 3
    assert "8,000 events/s offered (found)" in html
    assert "Redis Cluster: 6 nodes (3M+3R)" in html  # the guide's estimate beside ours
    assert "peak_events_s" in html  # every assumption listed
    assert "yes: its rate passed a majority of 1 run(s)" in html


def test_report_of_a_pipe_with_errors_is_not_compared(tmp_path: Path) -> None:
    res = _results()
    res["pipe"] |= {"errors_free": False, "first_errors": ["OOM command not allowed"]}
    res["comparison"] = figures.comparison(res)
    res["keyspace"] = {"filler": {"keys": 4200, "used_memory": 500_000, "settled": True,
                                  "tables": {"main": {"buckets": 8192}}}, "grew": True,
                       "note": "the main table grew from 8,192 to 16,384 buckets during the run"}  # fmt: skip
    (tmp_path / "results.json").write_text(json.dumps(res))
    html = render_capacity(tmp_path).read_text()
    assert "NOT COMPARED" in html and "WITHIN 10%" not in html and "OFF TARGET" not in html
    assert "not compared: redis-cli --pipe had error replies (OOM command not allowed)" in html
    assert "4,200 filler keys (0.5 MB), tables 8,192 buckets, settled; the main table grew" in html
    # whether the tables doubled unknown (another version's MEMORY STATS): never 'not doubled'
    res["keyspace"] |= {"grew": None, "note": ""}
    (tmp_path / "results.json").write_text(json.dumps(res))
    html = render_capacity(tmp_path).read_text()
    assert "whether it doubled during the run is unknown" in html and "not doubled" not in html
    res["keyspace"]["grew"] = False
    (tmp_path / "results.json").write_text(json.dumps(res))
    assert "settled; not doubled during the run" in render_capacity(tmp_path).read_text()


def test_report_says_when_the_knee_was_not_confirmed(tmp_path: Path) -> None:
    res = _results()
    res["knee"] |= {"confirmed": False, "confirm_runs": 3, "unconfirmed": [{"offered": 8000, "missing": 2}]}
    (tmp_path / "results.json").write_text(json.dumps(res))
    assert "no: 8,000/s short of 3 runs" in render_capacity(tmp_path).read_text()


def test_report_of_runs_that_did_not_get_far(tmp_path: Path) -> None:
    for res, badge in (
        ({"status": "error", "error": "HarnessError: boom", "plane": "redis"}, "ERROR"),
        ({"status": "not_run", "reason": "not built yet: mongo", "plane": "mongo"}, "NOT RUN"),
    ):
        (tmp_path / "results.json").write_text(json.dumps(res))
        html = render_capacity(tmp_path).read_text()
        assert badge in html and (res.get("error") or res.get("reason")) in html
    (tmp_path / "results.json").write_text("{torn")
    assert "results.json unreadable" in render_capacity(tmp_path).read_text()


def test_locust_scaling_figures_by_hand() -> None:
    dist: dict[str, Any] = {
        "status": "ran",
        "cpu_limit": 1.0,
        "rows": [
            {
                "workers": 1,
                "achieved": 3000.0,
                "load_cpu_cores": 0.75,
                "server_cpu_cores": 0.2,
                "efficiency": 1.0,
            },
            {
                "workers": 2,
                "achieved": 5100.0,
                "load_cpu_cores": 1.5,
                "server_cpu_cores": 0.4,
                "efficiency": 0.85,
            },
        ],
    }
    f = figures.scaling(dist)
    # per load core: 3000 / 0.75 = 4000; 5100 / 1.5 = 3400 -> core efficiency 0.85
    assert [r["per_load_core"] for r in dist["rows"]] == [4000.0, 3400.0]
    assert dist["rows"][1]["core_efficiency"] == 0.85
    # server: 0.2 cores / 3000 events/s = 66.7 us per event
    assert dist["rows"][0]["server_cpu_us_per_event"] == 66.7
    # 100,000 / (3000 x 0.85 = 2550) = 39.2 -> 40 workers; 100,000 / 3400 = 29.4 -> 30 load cores
    assert (f["workers_for_peak"], f["load_cores_for_peak"], f["met"]) == (40, 30, True)
    assert "extrapolated" in f["note"]
    # a worker count at which the server, not the load, was the bound does not count against it
    dist["rows"][1] |= {"efficiency": 0.5, "server_cpu_cores": 0.9}
    assert figures.scaling(dist)["met"] is True
    dist["rows"][1]["server_cpu_cores"] = 0.4
    assert figures.scaling(dist)["met"] is False
    assert figures.scaling({"status": "not_run", "reason": "no locust"})["reason"] == "no locust"
