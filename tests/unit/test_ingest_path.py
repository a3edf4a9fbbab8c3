"""The one ingest path with effects counter, as Locust's lanes use it, against a real
redis-server: the limiter sent as ``EVAL`` of its body (nothing loaded), the harness's key design
under a prefix, and each op recorded before its command can be sent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
import redis

from harness.clients.redis_router import Sent, SlotRouter
from harness.clock import RunClock
from harness.ops import OpType
from harness.workload.model.keys import KeyScheme
from harness.workload.redis_plane.ingest_path import IngestPath, RedisIngestConfig, limiter_script
from harness.workload.redis_plane.ingest_record import Effects, Limited, Packed

T0_MS = 1_700_000_040_000  # a minute boundary


class _Steps:
    """Notes each recording step and each send, in order."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.lim: Limited | None = None
        self.eff: Effects | None = None

    def invoke(self, p: Packed, sched: Sequence[int], send_ns: int, script: bool) -> None:
        self.log.append("invoke")

    def limited(self, token: Any, p: Packed, lim: Limited, script: bool) -> None:
        self.log.append("limited")
        self.lim = lim

    def invoke_effects(
        self, token: Any, p: Packed, idx: list[int] | None, sched: Sequence[int], send_ns: int
    ) -> None:
        self.log.append(f"invoke_effects {idx}")

    def effects(self, token: Any, p: Packed, eff: Effects) -> None:
        self.log.append("effects")
        self.eff = eff


class _NotingRouter(SlotRouter):
    steps: _Steps

    def send_packed(self, packed: Sequence[bytes], keys: Sequence[bytes | str], per: int = 1) -> Sent:
        self.steps.log.append(f"send {len(packed)}")
        return super().send_packed(packed, keys, per)


def test_counter_effects_by_eval_under_a_prefix(redis_port: int) -> None:
    clock = RunClock(start_ns=0)
    router = _NotingRouter([("127.0.0.1", redis_port)], cluster=False, now_ns=clock.now_ns)
    steps = router.steps = _Steps()
    path = IngestPath(
        router,
        clock,
        KeyScheme({}, prefix="lc:"),
        RedisIngestConfig(limit=2, window_ms=60_000),
        limiter_script(),
        steps,
        effects="counter",
        verb="EVAL",
    )
    p = path.packer.pack_counts(7, ["t1"] * 3, [0] * 3, [T0_MS, T0_MS + 1, T0_MS + 2], "lane-")
    assert p.event_id == ["lane-7", "lane-8", "lane-9"] and p.seq == [7, 8, 9]
    body = limiter_script().encode()
    assert p.cmd[0].startswith(b"*8\r\n$4\r\nEVAL\r\n$%d\r\n%b\r\n$1\r\n1\r\n" % (len(body), body))
    result = path.ingest(p, [0, 1, 2])
    router.close()
    assert result.allowed == [1, 1, 0] and result.counters == [1, 2, 0]
    # each op is recorded before its round is sent; round 2 is INCR and EXPIRE apart per event
    assert steps.log == ["invoke", "send 3", "limited", "invoke_effects [0, 1]", "send 4", "effects"]
    assert steps.eff is not None and steps.eff.expire == [OpType.OK, OpType.OK]
    r = redis.Redis(port=redis_port, decode_responses=True)
    assert sorted(r.keys("*")) == ["lc:counter:{t:t1}:events:2023111422:14", "lc:ratelimit:{t:t1}:events"]
    assert r.get("lc:counter:{t:t1}:events:2023111422:14") == "2"
    assert 0 < r.ttl("lc:counter:{t:t1}:events:2023111422:14") <= 600
    r.close()


def test_counter_effects_need_the_limiter_design() -> None:
    with pytest.raises(ValueError, match="design pipeline"):
        IngestPath(
            None,  # type: ignore[arg-type]
            RunClock(),
            KeyScheme({}),
            RedisIngestConfig(limit=1, window_ms=1000),
            "",
            _Steps(),
            design="script",
            effects="counter",
        )


def test_a_key_prefix_cannot_move_the_hash_tag() -> None:
    assert KeyScheme({"w": 2}, prefix="lc:run1:").counter_key("w", 1, T0_MS) == (
        "lc:run1:counter:{t:w#1}:events:2023111422:14"
    )
    with pytest.raises(ValueError, match="hash tag"):
        KeyScheme({}, prefix="lc:{run1}:")
