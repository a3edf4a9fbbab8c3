"""The growth workload's parts without servers: what a write records, refusals at maxmemory, the
retention reads, and the figures computed from the memory samples."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.clients.redis_router import Reply
from harness.clock import RunClock
from harness.history.loader import load_history
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.workload.redis_plane.growth import (
    CHECK_KEYS,
    GrowthConfig,
    GrowthDriver,
    GrowthStats,
    MemorySample,
    growth_summary,
)

OOM = "OutOfMemoryError: command not allowed when used memory > 'maxmemory'."


class FakeRouter:
    """Stores SETs until ``capacity`` keys, then refuses them as Redis does at maxmemory."""

    def __init__(self, clock: RunClock, capacity: int) -> None:
        self.clock = clock
        self.capacity = capacity
        self.store: dict[str, tuple[Any, ...]] = {}
        self.commands: list[tuple[Any, ...]] = []

    def execute(self, commands: Sequence[tuple[Any, ...]], keys: Sequence[str]) -> list[Reply]:
        out = []
        for cmd in commands:
            self.commands.append(cmd)
            if cmd[0] == "SET" and len(self.store) >= self.capacity:
                out.append(Reply(OpType.FAIL, OOM, self.clock.now_ns()))
            elif cmd[0] == "SET":
                self.store[cmd[1]] = cmd[2:]
                out.append(Reply(OpType.OK, "OK", self.clock.now_ns()))
            else:
                out.append(Reply(OpType.OK, int(cmd[1] in self.store), self.clock.now_ns()))
        return out


@pytest.mark.parametrize("expire", [True, False])
def test_writes_record_the_retention_class_and_say_whether_the_ttl_was_sent(
    tmp_path: Path, expire: bool
) -> None:
    clock = RunClock()
    router = FakeRouter(clock, capacity=3)
    cfg = GrowthConfig(rate=10, duration_s=1, tenants=5, retention_ms=3000, expire=expire, payload_bytes=4)
    with HistoryRecorder(tmp_path / "h.jsonl", clock) as rec:
        d = GrowthDriver(router, rec, clock, cfg, "v", random.Random(1))  # type: ignore[arg-type]
        d._send(0, [clock.now_ns()] * 5, [])
        d.read_keys(router, d.first_keys(), "final_keys")  # type: ignore[arg-type]
    sets = [c for c in router.commands if c[0] == "SET"]
    assert all((c[3:] == ("PX", 3000)) is expire and c[2] == b"xxxx" for c in sets)
    ops = load_history(tmp_path / "h.jsonl")
    writes = [o for o in ops if o.f == "ttl_write"]
    assert [o.outcome for o in writes] == ["ok"] * 3 + ["fail"] * 2
    assert all(o.invoke["ttl_ms"] == 3000 and o.invoke["expire"] is expire for o in writes)
    assert d.growth.stored == 3 and d.growth.oom_refusals == 2 and d.stats.admitted == 3
    (final,) = [o for o in ops if o.f == "final_keys"]
    assert final.completion is not None and sorted(final.completion["value"]) == sorted(d.first_keys())


def test_the_checker_reads_each_key_once_after_its_retention(tmp_path: Path) -> None:
    clock = RunClock()
    router = FakeRouter(clock, capacity=100)
    cfg = GrowthConfig(
        rate=10, duration_s=1, tenants=5, retention_ms=1, expire=False, grace_ms=0, check_every_s=0.01
    )
    with HistoryRecorder(tmp_path / "h.jsonl", clock) as rec:
        d = GrowthDriver(router, rec, clock, cfg, "v", random.Random(1))  # type: ignore[arg-type]
        d._send(0, [clock.now_ns()] * 4, [])
        stop = threading.Event()
        t = threading.Thread(target=d.check_loop, args=(router, stop))
        t.start()
        deadline = time.monotonic() + 10
        while d.written:  # every key past its retention is taken for a read
            assert time.monotonic() < deadline, "the checker did not take the keys"
            stop.wait(0.01)
        stop.set()
        t.join(timeout=10)
    reads = [o for o in load_history(tmp_path / "h.jsonl") if o.f == "key_read"]
    read_keys = [k for o in reads for k in o.invoke["keys"]]
    assert sorted(read_keys) == sorted(d.first_keys())  # each once
    assert all(o.completion is not None and o.completion["value"] == o.invoke["keys"] for o in reads)


def test_the_checker_samples_the_oldest_keys_of_what_came_due(tmp_path: Path) -> None:
    """More keys due than one read takes: the oldest CHECK_KEYS are read, the rest are not kept."""
    clock = RunClock()
    router = FakeRouter(clock, capacity=1000)
    cfg = GrowthConfig(rate=10, duration_s=1, tenants=5, retention_ms=1, expire=False, grace_ms=0)
    with HistoryRecorder(tmp_path / "h.jsonl", clock) as rec:
        d = GrowthDriver(router, rec, clock, cfg, "v", random.Random(1))  # type: ignore[arg-type]
        d._send(0, [clock.now_ns()] * (CHECK_KEYS + 10), [])
        stop = threading.Event()
        t = threading.Thread(target=d.check_loop, args=(router, stop))
        t.start()
        deadline = time.monotonic() + 10
        while d.written:
            assert time.monotonic() < deadline, "the checker did not take the keys"
            stop.wait(0.01)
        stop.set()
        t.join(timeout=10)
    (read,) = [o for o in load_history(tmp_path / "h.jsonl") if o.f == "key_read"]
    assert read.invoke["keys"] == d.first_keys()[:CHECK_KEYS]


def test_figures_from_the_samples() -> None:
    g = GrowthStats(stored=300, oom_refusals=7)
    # 1,000 bytes a key, 100 keys a second, then flat once maxmemory is reached
    g.samples = [MemorySample(float(t), 5_000 + 100_000 * min(t, 4), 100 * min(t, 4)) for t in range(9)]
    out = growth_summary(g, retention_ms=3000, expire=False)
    assert out["bytes_per_key"] == 1000.0
    assert out["used_memory_peak"] == 405_000 and out["keys_peak"] == 400
    assert out["slope_bytes_per_s_second_half"] == 0.0  # samples 4..8: flat
    assert out["oom_refusals"] == 7 and len(out["series"]) == 9
    assert "bytes_per_key" not in growth_summary(GrowthStats(), retention_ms=1, expire=True)
