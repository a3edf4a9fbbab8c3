"""Pure parts of the workload and metrics: tenant mix, key design, targets, load, history files."""

from __future__ import annotations

import collections
import itertools
from pathlib import Path

import pytest
from redis.crc import key_slot

from harness.clients.outcomes import outcome_of
from harness.clock import RunClock, seeded_random
from harness.history.loader import load_history
from harness.history.recorder import HistoryRecorder
from harness.metrics.load import data_calls, imbalance_ratio, per_master_load
from harness.ops import OpType
from harness.records import RunMetrics
from harness.scenario.spec import TargetSpec
from harness.scenario.targets import evaluate
from harness.topology.redis import slot_ranges
from harness.workload.model.keys import KeyScheme, minute_bucket
from harness.workload.model.tenants import TenantMix, TenantPicker


def test_whale_gets_its_share_and_zipf_ranks_hold() -> None:
    picker = TenantPicker(TenantMix(1000, 1.0, "whale", 0.4), seeded_random(7, "t"))
    counts = collections.Counter(picker.draw(50_000))
    assert 0.38 < counts["whale"] / 50_000 < 0.42
    assert counts["t00001"] > counts["t00010"] > counts["t00100"]


def test_same_seed_same_tenants() -> None:
    mix = TenantMix(100, 1.1, "whale", 0.3)
    a = TenantPicker(mix, seeded_random(1, "t")).draw(100)
    b = TenantPicker(mix, seeded_random(1, "t")).draw(100)
    c = TenantPicker(mix, seeded_random(2, "t")).draw(100)
    assert a == b != c


def master_of(key: str) -> int:
    slot = key_slot(key.encode())
    return next(i for i, (lo, hi) in enumerate(slot_ranges(3)) if lo <= slot <= hi)


def test_unsharded_tenant_keys_share_one_slot() -> None:
    keys = KeyScheme({})
    slots = {
        key_slot(k.encode())
        for k in [
            keys.limiter_key("whale", 0),
            keys.counter_key("whale", 0, 0),
            keys.counter_key("whale", 0, 60_000),
        ]
    }
    assert len(slots) == 1


def test_twelve_shards_spread_evenly_over_three_masters() -> None:
    keys = KeyScheme({"whale": 12})
    per_master = collections.Counter(master_of(keys.limiter_key("whale", s)) for s in range(12))
    assert sorted(per_master.values()) == [4, 4, 4]
    assert keys.shard_limit("whale", 5000) == 417  # ceil(5000 / 12)


def test_slot_ranges_cover_every_slot_once() -> None:
    ranges = slot_ranges(3)
    assert ranges[0][0] == 0 and ranges[-1][1] == 16383
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(ranges))


def test_minute_bucket_format() -> None:
    assert minute_bucket(1_705_320_000_000) == "2024011512:00"


def test_imbalance_of_the_case_study() -> None:
    # Whale at 40% on one of three masters: 0.4 + 0.6/3 = 0.6 share, mean 1/3, ratio 1.8.
    assert imbalance_ratio([0.6, 0.2, 0.2]) == pytest.approx(1.8)
    assert imbalance_ratio([1 / 3] * 3) == pytest.approx(1.0)
    assert imbalance_ratio([]) is None


def test_per_master_load_uses_deltas_and_ignores_admin_commands() -> None:
    stats = {
        "cmdstat_evalsha": {"calls": 10},
        "cmdstat_zadd": {"calls": 5},
        "cmdstat_info": {"calls": 99},
        "cmdstat_config|resetstat": {"calls": 3},
    }
    assert data_calls(stats) == 15
    load = per_master_load({"a": 10, "b": 0}, {"a": 70, "b": 20}, ["a", "b"], 2.0)
    assert [m["ops"] for m in load] == [60, 20]
    assert load[0]["share"] == pytest.approx(0.75) and load[0]["ops_per_s"] == 30


def test_targets_against_threshold_and_reference() -> None:
    metrics = RunMetrics.model_validate(
        {
            "variants": {
                "before": {"imbalance_ratio": 2.0, "latency_ms": {"whale": {"p99": 10.0}}},
                "after": {"imbalance_ratio": 1.1, "latency_ms": {"whale": {"p99": 4.0}}},
            }
        }
    )
    ok = evaluate(TargetSpec(name="a", metric="after.imbalance_ratio", op="<=", threshold=1.2), metrics)
    bad = evaluate(TargetSpec(name="b", metric="before.imbalance_ratio", op="<", threshold=1.2), metrics)
    ref = evaluate(
        TargetSpec(name="c", metric="after.latency_ms.whale.p99", op="<", ref="before.latency_ms.whale.p99"),
        metrics,
    )
    missing = evaluate(
        TargetSpec(name="d", metric="after.latency_ms.others.p99", op="<", threshold=1), metrics
    )
    assert (ok.status, bad.status, ref.status, missing.status) == ("pass", "fail", "pass", "unknown")
    assert ref.threshold == 10.0 and ref.threshold_from == "before.latency_ms.whale.p99"
    assert "reason" not in ok.dump()  # written only for a target that is not judged


def test_recorder_and_loader_pair_ops_and_survive_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    with HistoryRecorder(path, RunClock()) as rec:
        a = rec.invoke("p", "incr", key="k")
        b = rec.invoke("p", "incr", key="k")
        rec.complete(b, OpType.INFO, "p", "incr", error="timeout")
        rec.complete(a, OpType.OK, "p", "incr", value=1)
        rec.invoke("p", "incr", key="k")
    with open(path, "ab") as fh:
        fh.write(b'{"id": 9, "type": "invo')  # a crash mid-write
    ops = load_history(path)
    assert [(o.id, o.outcome) for o in ops] == [(1, "ok"), (2, "info"), (3, None)]
    assert ops[0].value == 1 and ops[0].complete_ns is not None and ops[0].complete_ns >= ops[0].invoke_ns


def test_error_outcomes() -> None:
    import redis

    assert outcome_of(redis.ResponseError("MOVED 3999 127.0.0.1:6381")) == OpType.FAIL
    assert outcome_of(redis.ResponseError("CLUSTERDOWN The cluster is down")) == OpType.FAIL
    assert outcome_of(redis.TimeoutError("Timeout reading")) == OpType.INFO
    assert outcome_of(redis.ConnectionError("reset")) == OpType.INFO


def test_a_hot_tenant_surge_takes_its_share_and_ends() -> None:
    from collections import Counter

    from harness.clock import seeded_random
    from harness.workload.model.tenants import TenantMix, TenantPicker

    picker = TenantPicker(TenantMix(1000, 0.8, None, 0.0), seeded_random(3, "tenants"))
    before = Counter(picker.draw(20_000))["t00700"] / 20_000
    picker.surge("t00700", 0.3)
    during = Counter(picker.draw(20_000))["t00700"] / 20_000
    picker.end_surge("t00700")
    after = Counter(picker.draw(20_000))["t00700"] / 20_000
    assert before < 0.01 and after < 0.01
    assert 0.28 < during < 0.32  # its share jumps to about 30% while the surge lasts
