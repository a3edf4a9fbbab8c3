"""The sizing extrapolation (harness.metrics.sizing) checked against numbers computed by hand."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from harness.metrics.sizing import Assumptions, Measured, size

M = Measured(
    knee_events_s=10_000,
    cpu_cap_cores=0.25,
    server_cpu_us_per_event=20,
    ops_per_event=7,
    net_in_bytes_per_event=400,
    net_out_bytes_per_event=100,
    counter_key_bytes=80,
    hll_key_bytes=200,
    timeline_key_bytes=1000,
    timeline_member_bytes=50,
    limiter_key_bytes=100,
    limiter_member_bytes=40,
)


def rows(table: dict[str, Any]) -> dict[tuple[str, str], float]:
    return {(r["plane"], r["quantity"]): r["ours"] for r in table["rows"]}


def test_redis_rows_by_hand() -> None:
    got = rows(size(M))
    # knee 10,000 events/s at 0.25 core = 40,000 per core; at 0.5 utilisation 20,000 per master
    # CPU masters = ceil(100,000 / 20,000) = 5
    # server CPU = 100,000 x 20 us = 2.0 cores; commands = 100,000 x 7 = 700,000 ops/s
    assert got["redis", "server CPU"] == pytest.approx(2.0)
    assert got["redis", "commands"] == pytest.approx(700_000)
    # dataset: counters 10,000 tenants x 10 windows x 80 B                 =     8,000,000 B
    #          HLLs     10,000 tenants x 48 hours   x 200 B                =    96,000,000 B
    #          timelines 1,000,000 users x (1000 B + 100 members x 50 B)   = 6,000,000,000 B
    #          limiter  10,000 keys x 100 B + 100,000/s x 60 s x 40 B      =   241,000,000 B
    #          total                                                       = 6,345,000,000 B
    assert got["redis", "dataset"] == pytest.approx(6.345)
    # one copy with 30% fragmentation = 8.2485 GB -> ceil(8.2485 / 8 GB) = 2 masters for RAM
    # masters = max(CPU 5, RAM 2, minimum 3) = 5; nodes = 5 x (1 + 1 replica) = 10
    assert got["redis", "masters"] == 5
    assert got["redis", "nodes"] == 10
    # RAM = 8.2485 GB x 2 copies = 16.497 GB; disk = 6.345 x 2 (RDB + rewrite) x 2 copies = 25.38 GB
    assert got["redis", "RAM"] == pytest.approx(16.497)
    assert got["redis", "disk"] == pytest.approx(25.38)
    # IOPS: 10 nodes x 1 fsync/s
    assert got["redis", "IOPS"] == pytest.approx(10)
    # network: 100,000 x (400 B in x 2 (the replica gets the writes again) + 100 B out)
    #        = 90,000,000 B/s = 0.72 Gbit/s
    assert got["redis", "network"] == pytest.approx(0.72)


def test_ram_decides_the_masters_when_timelines_are_big() -> None:
    # timelines at 500 B a member: 1,000,000 x (1000 + 100 x 500) = 51 GB; dataset 51.345 GB
    # one copy x 1.3 = 66.7485 GB -> ceil(66.7485 / 8) = 9 masters (CPU still says 5)
    got = rows(size(replace(M, timeline_member_bytes=500)))
    assert got["redis", "dataset"] == pytest.approx(51.345)
    assert got["redis", "masters"] == 9
    assert got["redis", "nodes"] == 18


def test_minimum_masters_when_one_would_do() -> None:
    # a knee of 400,000 events/s per core: 100,000 / (400,000 x 0.5) -> 1 master; minimum 3
    got = rows(size(replace(M, knee_events_s=100_000)))
    assert got["redis", "masters"] == 3


def test_mongo_rows_by_hand_from_the_guides_assumptions() -> None:
    got = rows(size(M))
    # per document on disk: (1024 + 400) x 0.5 compression = 712 B
    # day-equivalents kept: 97% x 90 = 87.3 standard + 3% x 365 = 10.95 audit = 98.25
    # data = 1e9 events/day x 712 B x 98.25 = 69.954 TB; x 3 members = 209.862 TB
    assert got["mongo", "disk"] == pytest.approx(209.862)
    # write IOPS = 100,000 x 5 = 500,000; shards = ceil(500,000 / 125,000) = 4; nodes = 12
    assert got["mongo", "IOPS"] == pytest.approx(500_000)
    assert got["mongo", "shards"] == 4
    assert got["mongo", "nodes"] == 12
    # disk per node = 69.954 / 4 = 17.4885 TB
    assert got["mongo", "disk per node"] == pytest.approx(17.4885)
    # working set: 1e9 x 24/24 x 1424 B x 0.5 = 712 GB over 4 shards = 178 GB per node
    assert got["mongo", "RAM per node"] == pytest.approx(178)
    # network: 100,000 x 1024 B x 3 = 307.2 MB/s = 2.4576 Gbit/s
    assert got["mongo", "network"] == pytest.approx(2.4576)


def test_guide_figures_sit_beside_our_rows_and_every_assumption_has_a_source() -> None:
    table = size(M)
    by = {(r["plane"], r["quantity"]): r for r in table["rows"]}
    assert by["redis", "nodes"]["guide"] == 6
    assert by["mongo", "IOPS"]["guide"] == 500_000
    assert by["redis", "IOPS"]["guide"] is None  # the guide gives none: shown as such
    assert all(r["basis"] for r in table["rows"])
    names = {a["name"] for a in table["assumptions"]}
    assert {"peak_events_s", "events_per_day", "tenants", "audit_retention_days"} <= names
    assert all(a["source"] for a in table["assumptions"])
    assert table["measured"]["knee_events_s"] == 10_000


def test_assumptions_change_the_answer() -> None:
    # half the peak: CPU masters = ceil(50,000 / 20,000) = 3
    got = rows(size(M, Assumptions(peak_events_s=50_000)))
    assert got["redis", "masters"] == 3
    assert got["redis", "server CPU"] == pytest.approx(1.0)


def test_no_knee_no_sizing() -> None:
    with pytest.raises(ValueError, match="measured knee"):
        size(replace(M, knee_events_s=0))
