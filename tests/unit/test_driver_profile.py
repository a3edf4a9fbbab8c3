"""The EventDriver following a rate profile against a real redis-server, with HdrHistograms:
the scheduled times are the profile's, every ok op is in the histograms, counters add up."""

from __future__ import annotations

from pathlib import Path

import redis

from harness.clients.redis_router import SlotRouter
from harness.clock import RunClock, seeded_random
from harness.history.loader import stream_ops
from harness.history.recorder import HistoryRecorder
from harness.metrics.hdr import LatencyHistograms
from harness.workload.engine.profile import steps
from harness.workload.model.keys import KeyScheme
from harness.workload.model.tenants import TenantMix, TenantPicker
from harness.workload.redis_plane.events import DriverConfig, EventDriver, limiter_script


def test_event_driver_follows_a_profile_and_fills_histograms(tmp_path: Path, redis_port: int) -> None:
    clock = RunClock()
    client = redis.Redis(port=redis_port)
    sha = str(client.script_load(limiter_script()))
    profile = steps([(0, 200), (0.1, 1000, 0.1)])  # 200/s, then a 0.1 s ramp to 1000/s
    cfg = DriverConfig(rate=1, duration_s=0.3, limit=5, window_ms=60_000, drain_s=5, profile=profile)
    router = SlotRouter([("127.0.0.1", redis_port)], cluster=False, now_ns=clock.now_ns)
    path = tmp_path / "history.jsonl"
    with HistoryRecorder(path, clock) as rec:
        driver = EventDriver(
            router,
            rec,
            clock,
            KeyScheme({}),
            TenantPicker(TenantMix(20, 0.0, "whale", 0.0), seeded_random(1, "t")),
            cfg,
            "v",
            seeded_random(1, "s"),
            sha,
        )
        driver.latency = LatencyHistograms(origin_ns=0)
        stats = driver.run()
    router.close()
    total = profile.total(0.3)  # 20 + 60 + 100
    assert stats.offered == stats.sent == total == 180
    checks = sorted((op for op in stream_ops(path) if op.f == "rate_limit"), key=lambda o: o.get("event"))
    assert [op.get("event") for op in checks] == list(range(total))
    start = checks[0].get("sched_ns")
    assert [op.get("sched_ns") - start for op in checks] == profile.schedule_ns(0, total)
    ok = {
        f: sum(1 for op in stream_ops(path) if op.f == f and op.outcome == "ok")
        for f in ("rate_limit", "incr")
    }
    summary = driver.latency.summary()
    assert summary["rate_limit"]["count"] == ok["rate_limit"] == total
    assert summary["incr"]["count"] == ok["incr"] == stats.admitted
    assert 0 < stats.admitted < total and stats.rate_limited == total - stats.admitted  # limit 5/tenant
    counters = sum(int(client.get(k) or 0) for k in driver.counter_keys)
    assert counters == stats.admitted
    client.close()
