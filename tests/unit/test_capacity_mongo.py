"""The MongoDB-plane and platform capacity runs from saved figures alone (no server): which server
answered (from its own buildInfo, never a flag), its counters and the kernel's, the per-event
figures (each sourced, or not measured), the comparison with the flat-out ceiling, the sizing's
label, and the report's page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.bench.capacity import figures_mongo, mongo_plane
from harness.clients.mongo_stats import identify, server_counters, storage
from harness.clients.proc_stats import parse_cpu_s, parse_io
from harness.metrics.knee import Step, judge_knee
from harness.report.capacity import render_capacity

FERRET_BUILDINFO = {"version": "7.0.42", "gitVersion": "unknown", "ferretdbVersion": "v1.24.2", "ok": 1.0}
MONGOD_BUILDINFO = {"version": "7.0.14", "gitVersion": "ce59cfc6a3c5e5c067dca0d30697edd68d4f5188", "ok": 1.0}
FERRET_STATUS = {
    "host": "vm", "version": "7.0.42", "process": "ferretdb", "pid": 1,
    "metrics": {"commands": {"insert": {"total": 120, "failed": 0}, "find": {"total": 2, "failed": 0}}},
    "ferretdbVersion": "v1.24.2", "ok": 1.0,
}  # fmt: skip
MONGOD_STATUS = {
    "version": "7.0.14", "process": "mongod",
    "opcounters": {"insert": 5000, "query": 3, "update": 0, "delete": 0, "getmore": 0, "command": 40},
    "network": {"bytesIn": 6_000_000, "bytesOut": 20_000, "numRequests": 60},
    "metrics": {"commands": {"insert": {"total": 50, "failed": 0}}},
    "storageEngine": {"name": "wiredTiger"},
}  # fmt: skip


def test_ferretdb_is_named_from_its_own_buildinfo_not_its_emulated_version() -> None:
    ident = identify(FERRET_BUILDINFO, sqlite_files=True)
    # buildInfo.version says 7.0.42 (what FerretDB emulates): never the label
    assert ident.server == "ferretdb" and ident.version == "1.24.2" and not ident.is_mongodb
    assert ident.label == "FerretDB 1.24.2 on SQLite, not MongoDB"
    assert "MongoDB 7.0" not in ident.label


def test_ferretdb_without_sqlite_files_does_not_claim_sqlite() -> None:
    ident = identify(FERRET_BUILDINFO, sqlite_files=False)
    assert "SQLite" not in ident.backend and ident.label.endswith("not MongoDB")


def test_a_mongod_is_named_with_its_engine() -> None:
    ident = identify(MONGOD_BUILDINFO, sqlite_files=False, engine="wiredTiger")
    assert ident.is_mongodb and ident.label == "MongoDB 7.0.14 (mongod, wiredTiger)"


def test_ferretdb_counters_it_does_not_give_are_none_never_zero() -> None:
    c = server_counters(FERRET_STATUS)
    assert c == {"insert_commands": 120, "docs_inserted": None, "net_in_bytes": None, "net_out_bytes": None}
    assert server_counters(MONGOD_STATUS) == {
        "insert_commands": 50,
        "docs_inserted": 5000,
        "net_in_bytes": 6_000_000,
        "net_out_bytes": 20_000,
    }


def test_collstats_sizes() -> None:
    got = storage(
        {"ns": "eventlog.events", "size": 4096, "count": 10, "storageSize": 8192, "totalIndexSize": 512}
    )
    assert got == {"count": 10, "data_bytes": 4096, "storage_bytes": 8192, "index_bytes": 512}
    assert storage({})["data_bytes"] is None


def test_proc_stat_cpu_with_a_name_holding_spaces_and_parentheses() -> None:
    fields = ["S"] + ["0"] * 10 + ["250", "150"] + ["0"] * 30  # utime 250, stime 150 ticks
    line = "4242 (weird (name) x) " + " ".join(fields)
    assert parse_cpu_s(line, clk_tck=100) == pytest.approx(4.0)


def test_proc_io() -> None:
    text = "rchar: 10\nwchar: 20\nsyscr: 3\nsyscw: 4\nread_bytes: 0\nwrite_bytes: 8192\n"
    assert parse_io(text)["write_bytes"] == 8192 and parse_io(text)["syscw"] == 4


def test_delta_keeps_not_measured_as_none() -> None:
    before = {"cpu_s": 1.0, "insert_commands": 10, "net_in_bytes": None}
    after = {"cpu_s": 3.0, "insert_commands": 30, "net_in_bytes": None}
    d = mongo_plane.delta(after, before)
    assert d == {"cpu_s": 2.0, "insert_commands": 20, "net_in_bytes": None}
    pe = mongo_plane.per_event(d | {"docs_inserted": None, "net_out_bytes": None, "write_bytes": 4000,
                                    "write_syscalls": None}, 1000)  # fmt: skip
    assert pe["server_cpu_us"] == 2000 and pe["insert_commands"] == 0.02 and pe["write_bytes"] == 4.0
    assert pe["net_in_bytes"] is None and pe["write_syscalls"] is None


def test_server_choice_and_neither_server() -> None:
    assert mongo_plane.choose_server(lambda n: "/x/mongod" if n == "mongod" else "/x/ferretdb")[0] == "mongod"
    assert mongo_plane.choose_server(lambda n: "/x/ferretdb" if n == "ferretdb" else None)[0] == "ferretdb"
    server, why = mongo_plane.choose_server(lambda n: None)
    assert server is None and "no mongod" in why and "no FerretDB" in why


def _step(
    n: int, offered: float, achieved: float, p99: float, cpu: float, platform: bool = False
) -> dict[str, Any]:
    mongo = {"insert_commands": 0.05, "docs_inserted": None, "net_in_bytes": None, "net_out_bytes": None,
             "server_cpu_us": 400.0, "write_bytes": 50000.0, "write_syscalls": 20.0}  # fmt: skip
    s: dict[str, Any] = {
        "step": n, "offered": offered, "achieved": achieved, "p50_ms": 5.0, "p99_ms": p99,
        "server_cpu_cores": cpu, "events": int(achieved * 4), "seconds": 4.0, "unsent": 0, "errors": 0,
        "max_lag_ms": 1.0, "workers": 2, "load_cpu_us_per_event": 300.0, "load_starved": 0.05,
        "load_busy": 0.05, "per_event": mongo,
    }  # fmt: skip
    if platform:
        redis = {"ops": 7.0, "net_in_bytes": 600.0, "net_out_bytes": 40.0, "server_cpu_us": 20.0,
                 "memory_bytes": 100.0, "new_keys": 0.3}  # fmt: skip
        s["per_event"] = {"redis": redis, "mongo": mongo}
        s["servers"] = {
            "redis": {"cpu_cores": cpu / 10, "cap": 0.25},
            "mongo": {"cpu_cores": cpu, "cap": 0.25},
        }
    return s


def results(plane: str = "mongo", ident: dict[str, Any] | None = None) -> dict[str, Any]:
    platform = plane == "platform"
    steps = [_step(1, 200, 200, 30, 0.1, platform), _step(2, 400, 398, 60, 0.2, platform),
             _step(3, 600, 560, 300, 0.245, platform), _step(4, 800, 600, 900, 0.246, platform)]  # fmt: skip
    knee = judge_knee([Step.from_dict(s) for s in steps], slo_p99_ms=100, cpu_cap_cores=0.25)
    ident = ident or {"server": "ferretdb", "version": "1.24.2", "backend": "SQLite",
                      "label": "FerretDB 1.24.2 on SQLite, not MongoDB", "is_mongodb": False}  # fmt: skip
    res: dict[str, Any] = {
        "kind": "capacity", "run_id": "capacity-m", "plane": plane, "status": "ran",
        "command": f"harness capacity --plane {plane}", "server": ident["label"], "identity": ident,
        "capacity": {"cpu_limit": 0.25, "applied": True, "reason": None},
        "machine": {"cpus": 2, "loadavg_start": [1.0, 1.0, 1.0], "loadavg_end": [1.5, 1.2, 1.0]},
        "settings": {"cpu_limit": 0.25, "workers": 2, "seed": 1},
        "address": "direct", "stream": "insert_many",
        "tick_ms": 30.0, "steps": steps, "knee": knee.to_dict(),
        "storage": {"collection": {"count": 1000, "data_bytes": 4_000_000, "storage_bytes": 4_000_000,
                                   "index_bytes": 400_000},
                    "data_dir_bytes": 5_000_000, "sqlite_bytes": 5_000_000},
        "ceiling": {"status": "ran", "events_per_s": 500.0, "runs_events_per_s": [490.0, 510.0],
                    "server_bound": True, "how": "closed loop"},
        "plan": {"max_rate": 800, "step_seconds": 4.0, "slo_p99_ms": 100.0, "cpu_cap_cores": 0.25,
                 "coarse_steps": 4, "refine_steps": 0, "warmup_s": 1.0},
    }  # fmt: skip
    if platform:
        from harness.metrics.bottleneck import first_saturated

        res["caps"] = {"redis": 0.25, "mongo": 0.25}
        res["servers"] = {"redis": "redis-server 7.0.15", "mongo": ident["label"]}
        res["bottleneck"] = first_saturated(steps, res["caps"])
    return res | figures_mongo.figures(res, cpus=2)


def test_per_event_rows_are_sourced_or_not_measured() -> None:
    res = results()
    assert res["knee"]["status"] == "found" and res["knee"]["knee_rate"] == 400
    rows = {r["figure"]: r for r in res["per_event"]["rows"]}
    assert rows["server CPU"]["value"] == 400.0 and "/proc/<pid>/stat" in rows["server CPU"]["source"]
    assert rows["bytes in"]["value"] is None and rows["bytes in"]["source"].startswith("not measured")
    assert rows["documents inserted"]["source"].startswith("not measured")
    assert rows["memory"]["value"] is None
    # 4,000,000 + 400,000 bytes over 1,000 documents
    assert (
        rows["stored: data + indexes"]["value"] == 4400.0 and rows["stored: SQLite files"]["value"] == 5000.0
    )
    assert all(r["server"] == "FerretDB 1.24.2 on SQLite, not MongoDB" for r in rows.values())


def test_knee_against_the_ceiling() -> None:
    cmp_ = results()["comparison"]
    # achieved at the knee 398 / 500
    assert cmp_["ratio"] == 0.796 and cmp_["ceiling_server_bound"] is True
    assert cmp_["highest_step_achieved"] == 600 and cmp_["ceiling_beaten_by_a_step"] is True
    assert cmp_["note"].startswith("not a ceiling")  # a step achieved 600 > 500 flat out


def test_a_ceiling_no_step_beat_is_the_servers() -> None:
    res = results()
    res["ceiling"]["events_per_s"] = 610.0  # 600 is within 2% of it
    cmp_ = figures_mongo.comparison(res)
    assert cmp_["ceiling_beaten_by_a_step"] is False and "no step achieved more" in cmp_["note"]
    res["ceiling"]["server_bound"] = False
    assert figures_mongo.comparison(res)["note"].startswith("the ceiling is the load's")


def test_sizing_label_comes_from_the_identity_the_server_gave() -> None:
    res = results()
    assert res["sizing"]["title"].startswith("Sizing from FerretDB 1.24.2 on SQLite, not MongoDB")
    # a results file whose headline claims MongoDB still sizes as FerretDB: only the server's answer counts
    res2 = results()
    res2["server"] = "MongoDB 7.0.42"
    fig = figures_mongo.per_event(res2)
    assert figures_mongo.sizing(res2, fig)["label"] == "FerretDB 1.24.2 on SQLite, not MongoDB"


def test_a_platform_run_is_not_sized_and_names_its_bottleneck() -> None:
    res = results("platform")
    assert res["sizing"]["status"] == "not_run"
    assert res["bottleneck"]["server"] == "mongo"
    rows = res["per_event"]["rows"]
    assert {r["server"] for r in rows} == {"redis", "FerretDB 1.24.2 on SQLite, not MongoDB"}


def test_report_puts_the_ferretdb_label_at_the_top(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps(results()))
    html = render_capacity(tmp_path).read_text()
    top = html.index("FerretDB 1.24.2 on SQLite, not MongoDB")
    assert top < html.index("<h1>") and top < html.index("<h2>Knee</h2>")
    assert "not MongoDB sizing" in html and "not measured" in html
    assert "<svg" in html and "flat-out ceiling" in html


def test_report_of_a_mongod_run_has_no_ferretdb_banner(tmp_path: Path) -> None:
    ident = {"server": "mongod", "version": "7.0.14", "backend": "wiredTiger",
             "label": "MongoDB 7.0.14 (mongod, wiredTiger)", "is_mongodb": True}  # fmt: skip
    (tmp_path / "results.json").write_text(json.dumps(results(ident=ident)))
    html = render_capacity(tmp_path).read_text()
    assert "FerretDB" not in html and "MongoDB-plane sizing from MongoDB 7.0.14" in html


def test_platform_report_names_the_server_that_saturated_first(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text(json.dumps(results("platform")))
    html = render_capacity(tmp_path).read_text()
    assert "Which server saturated first" in html and "mongo saturated first" in html
    assert "redis CPU" in html and "mongo CPU" in html  # each server's CPU drawn


def test_a_not_run_mongo_page(tmp_path: Path) -> None:
    res = {"kind": "capacity", "plane": "mongo", "status": "not_run", "reason": "no mongod and no FerretDB"}
    (tmp_path / "results.json").write_text(json.dumps(res))
    html = render_capacity(tmp_path).read_text()
    assert "NOT RUN" in html and "no mongod and no FerretDB" in html


def test_a_mongo_run_that_errored_still_gets_a_page(tmp_path: Path) -> None:
    res = {
        "kind": "capacity",
        "plane": "platform",
        "status": "error",
        "error": "ServerSelectionTimeoutError: x",
    }
    (tmp_path / "results.json").write_text(json.dumps(res))
    html = render_capacity(tmp_path).read_text()
    assert "ERROR" in html and "ServerSelectionTimeoutError" in html


def test_exit_codes_and_headline(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli_capacity import _outcome

    res = results()
    assert _outcome(res) == 0
    out = capsys.readouterr().out
    assert "server: FerretDB 1.24.2 on SQLite, not MongoDB" in out and "sizing: Sizing from FerretDB" in out
    res["knee"]["status"] = "not_reached"
    assert _outcome(res) == 1
    assert _outcome({"status": "not_run", "plane": "mongo"}) == 3


def test_caps_of_each_server() -> None:
    from harness.bench.capacity.platform_plane import caps

    assert caps(0.5, 2) == {"redis": 0.5, "mongo": 0.5}
    assert caps(None, 2) == {"redis": 1.0, "mongo": 2.0}  # uncapped: one Redis thread, every core
    assert mongo_plane.cap_cores(None) >= 1 and mongo_plane.cap_cores(0.5) == 0.5
