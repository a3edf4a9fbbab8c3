"""The MongoDB-plane sizing (harness.metrics.sizing_mongo) against numbers computed by hand, and its
label: sized from FerretDB it says so, and cannot be titled as MongoDB."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from harness.metrics.sizing_mongo import MongoMeasured, size_mongo

FERRET = MongoMeasured(
    label="FerretDB 1.24.2 on SQLite, not MongoDB",
    is_mongodb=False,
    knee_events_s=500,
    cpu_cap_cores=0.25,
    server_cpu_us_per_event=400,
    stored_bytes_per_event=4000,
    write_bytes_per_event=50_000,
    write_syscalls_per_event=20,
)


def rows(table: dict[str, Any]) -> dict[str, Any]:
    return {r["quantity"]: r["ours"] for r in table["rows"]}


def test_rows_by_hand() -> None:
    got = rows(size_mongo(FERRET))
    # CPU: 100,000 x 400 us = 40 cores; 500 events/s at 0.25 core = 2,000 per core;
    # primaries = ceil(100,000 / (2,000 x 32 cores x 0.5)) = ceil(3.125) = 4
    assert got["server CPU"] == pytest.approx(40)
    assert got["primaries for CPU"] == 4
    # storage: 1e9 x 4,000 B = 4 TB/day; 90 d = 360 TB; x 3 = 1,080 TB; 365 d x 3 = 4,380 TB
    assert got["bytes per event"] == 4000
    assert got["storage per day"] == pytest.approx(4)
    assert got["disk 90 d, one copy"] == pytest.approx(360)
    assert got["disk 90 d, 3 members"] == pytest.approx(1080)
    assert got["disk 365 d, 3 members"] == pytest.approx(4380)
    # retention mix: 0.97 x 90 + 0.03 x 365 = 87.3 + 10.95 = 98.25 day-equivalents
    # one copy 4 TB x 98.25 = 393 TB; x 3 = 1,179 TB; disk shards ceil(393 / 20) = 20
    assert got["disk, retention mix, 3 members"] == pytest.approx(1179)
    assert got["shards"] == 20  # max(CPU 4, disk 20)
    assert got["nodes"] == 60
    assert got["disk per node"] == pytest.approx(19.65)
    # RAM: 1e9 x 24/24 x 4,000 B x 0.5 / 20 shards = 100 GB per node
    assert got["RAM per node"] == pytest.approx(100)
    # IOPS: 100,000 x 20 write calls = 2,000,000; / 20 shards = 100,000 per primary
    assert got["IOPS"] == pytest.approx(2_000_000)
    assert got["IOPS per primary"] == pytest.approx(100_000)
    # disk writes: 100,000 x 50,000 B = 5,000 MB/s
    assert got["disk writes"] == pytest.approx(5000)


def test_a_figure_the_server_did_not_give_is_not_measured_never_filled_from_the_guide() -> None:
    table = size_mongo(replace(FERRET, write_bytes_per_event=None, write_syscalls_per_event=None))
    by = {r["quantity"]: r for r in table["rows"]}
    for q in ("network", "IOPS", "IOPS per primary", "disk writes"):
        assert by[q]["ours"] is None and by[q]["basis"].startswith("not measured"), q
    assert by["network"]["guide"] == 3.2  # the guide's own figure stays beside it, as the guide's


def test_network_from_a_mongod_by_hand() -> None:
    mongod = replace(
        FERRET,
        label="MongoDB 7.0.14 (mongod, wiredTiger)",
        is_mongodb=True,
        net_in_bytes_per_event=1200,
        net_out_bytes_per_event=100,
    )
    # 100,000 x (1,200 x 3 members + 100) B = 370 MB/s = 2.96 Gbit/s
    t = size_mongo(mongod)
    assert rows(t)["network"] == pytest.approx(2.96)
    assert t["title"] == "MongoDB-plane sizing from MongoDB 7.0.14 (mongod, wiredTiger)"


def test_ferretdb_sizing_says_so_in_its_title_and_assumptions() -> None:
    t = size_mongo(FERRET)
    assert t["title"].startswith("Sizing from FerretDB 1.24.2 on SQLite, not MongoDB")
    assert "not MongoDB sizing" in t["title"]
    server = t["assumptions"][0]
    assert server["value"] == FERRET.label and "not MongoDB's" in server["source"]
    assert all(r["basis"].startswith(FERRET.label) for r in t["rows"] if r["quantity"] == "server CPU")


def test_a_label_contradicting_the_server_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="contradicts"):
        size_mongo(replace(FERRET, is_mongodb=True))  # FerretDB's label sized as MongoDB
    with pytest.raises(ValueError, match="contradicts"):
        size_mongo(replace(FERRET, label="MongoDB 7.0.42 (mongod, wiredTiger)"))  # the reverse


def test_no_knee_no_sizing() -> None:
    with pytest.raises(ValueError):
        size_mongo(replace(FERRET, knee_events_s=0))
