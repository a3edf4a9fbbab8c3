"""The tenant_reads workload's parts without servers: key layouts, one read's record and figures,
and the scenario fields that only that kind reads."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from redis.crc import key_slot

from harness.clients.redis_router import Reply
from harness.clock import RunClock
from harness.history.loader import load_history
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.scenario.spec_workload import WorkloadSpec
from harness.workload.redis_plane.fanout import FanoutConfig, TenantReads, bucket_keys, bucket_picker


def test_tagged_buckets_share_one_slot_and_spread_ones_do_not() -> None:
    tagged = bucket_keys("t00007", 12, "tagged")
    spread = bucket_keys("t00007", 12, "spread")
    assert len({key_slot(k.encode()) for k in tagged}) == 1
    assert len({key_slot(k.encode()) for k in spread}) > 6  # twelve keys over 16,384 slots
    pick = bucket_picker(50, 12, "tagged")
    rng = random.Random(3)
    drawn = {pick(rng) for _ in range(500)}
    assert all(k.startswith("fan:{t:") for k in drawn) and len(drawn) > 100


class FakeRouter:
    """Answers each GET with the key's stored value from the node its slot is on (three nodes)."""

    def __init__(self, clock: RunClock, values: dict[str, int], fail_key: str | None = None) -> None:
        self.clock = clock
        self.values = values
        self.fail_key = fail_key

    def execute(self, commands: Sequence[tuple[Any, ...]], keys: Sequence[str]) -> list[Reply]:
        out = []
        for k in keys:
            node = ("10.0.0.1", 6379 + key_slot(k.encode()) * 3 // 16384)
            if k == self.fail_key:
                out.append(Reply(OpType.INFO, "TimeoutError", self.clock.now_ns(), node))
            else:
                out.append(Reply(OpType.OK, self.values.get(k), self.clock.now_ns(), node))
        return out


@pytest.mark.parametrize(("layout", "nodes"), [("tagged", 1), ("spread", 3)])
def test_a_read_records_the_total_and_the_nodes_it_asked(tmp_path: Path, layout: str, nodes: int) -> None:
    clock = RunClock()
    keys = bucket_keys("t00001", 12, layout)  # type: ignore[arg-type]
    values = {k: i + 1 for i, k in enumerate(keys[:5])}  # seven buckets never written: 0
    cfg = FanoutConfig(reads_per_s=10, duration_s=1, tenants=5, buckets=12, layout=layout, workers=1)  # type: ignore[arg-type]
    path = tmp_path / "h.jsonl"
    with HistoryRecorder(path, clock) as rec:
        reads = TenantReads([FakeRouter(clock, values)], rec, clock, cfg, "v", random.Random(1))  # type: ignore[list-item]
        reads.read(reads.routers[0], "t00001", clock.now_ns())
    (op,) = load_history(path)
    assert op.f == "tenant_read" and op.outcome == "ok"
    assert op.completion is not None and op.completion["value"] == 15 and op.completion["nodes"] == nodes
    fig = reads.stats.summary(cfg.slow_ms)
    assert fig["reads"] == 1 and fig["nodes_per_read_max"] == nodes and fig["slow_share"] == 0.0


def test_a_read_with_an_unknown_reply_is_unknown_and_counts_as_not_ok(tmp_path: Path) -> None:
    clock = RunClock()
    keys = bucket_keys("t00002", 4, "spread")
    cfg = FanoutConfig(reads_per_s=10, duration_s=1, tenants=5, buckets=4, layout="spread", workers=1)
    with HistoryRecorder(tmp_path / "h.jsonl", clock) as rec:
        reads = TenantReads([FakeRouter(clock, {}, fail_key=keys[2])], rec, clock, cfg, "v", random.Random(1))  # type: ignore[list-item]
        reads.read(reads.routers[0], "t00002", clock.now_ns() - 80_000_000)  # scheduled 80 ms ago
    (op,) = load_history(tmp_path / "h.jsonl")
    assert op.outcome == "info" and op.completion is not None and "TimeoutError" in op.completion["error"]
    fig = reads.stats.summary(cfg.slow_ms)
    assert fig["not_ok"] == 1 and fig["nodes_per_read_mean"] is None and fig["slow_share"] == 1.0


def test_workers_need_a_router_each() -> None:
    cfg = FanoutConfig(reads_per_s=10, duration_s=1, tenants=5, buckets=4, layout="tagged", workers=2)
    with pytest.raises(ValueError, match="2 workers need as many routers"):
        TenantReads([], None, RunClock(), cfg, "v", random.Random(1))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "increments", "buckets": 4}, "buckets apply to tenant_reads workloads only"),
        (
            {"kind": "events", "limit": 5, "window_ms": 10, "read_workers": 2},
            "read_workers apply to platform, tenant_reads and sharded_events",
        ),
        ({"kind": "tenant_reads"}, "needs reads_per_s > 0"),
        (
            {"kind": "tenant_reads", "read_mix": {"profile": 1}, "reads_per_s": 1},
            "read_mix apply to platform",
        ),
    ],
)
def test_tenant_reads_fields_belong_to_their_kind(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        WorkloadSpec.model_validate({"rate": 10, "duration_s": 1, **fields})


def test_the_report_states_the_reads_figures() -> None:
    from harness.records import WorkloadFigures
    from harness.report.sections import _workload_facts

    wl = WorkloadFigures.model_validate(
        {
            "tenant_reads": {
                "layout": "spread",
                "reads": 2800,
                "not_ok": 0,
                "dropped": 3,
                "nodes_per_read_mean": 3.0,
                "nodes_per_read_max": 3,
                "slow_ms": 50,
                "slow_share": 0.5682,
                "read_latency_ms": {"p50": 100.5, "p90": 101.7, "p99": 105.8, "max": 114.8},
            }
        }
    )
    ((label, fact),) = _workload_facts(wl)
    assert label == "tenant reads (spread)"
    assert "3 nodes each (at most 3)" in fact and "56.82% slower than 50 ms" in fact
    assert "p99 105.8 ms" in fact and "max" not in fact and "3 not run by the deadline" in fact


def test_a_read_of_several_commands_is_unknown_when_any_part_is() -> None:
    from harness.clients.redis_router import failed

    ok, nope, lost = (
        Reply(OpType.OK, 1, 0),
        Reply(OpType.FAIL, "refused", 0),
        Reply(OpType.INFO, "timeout", 0),
    )
    assert failed([ok, ok]) is None
    assert failed([ok, nope]) == (OpType.FAIL, "refused")
    assert failed([nope, lost]) == (OpType.INFO, "refused")  # one unknown part: the whole is unknown
