"""A compact ``ingest`` history, expanded, is the op-by-op history: same records, same verdicts.

The ingestor runs against an in-memory model of ``ingest.lua`` (sliding-window limiter, counters,
HyperLogLog as an exact set, timelines), with some scripts refused (fail) and some timed out (info),
and records the same events both ways.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest

from harness.checkers import build_checkers, run_checkers
from harness.clients.redis_router import Replies, Reply, SlotRouter
from harness.clock import RunClock, seeded_random
from harness.history.ingest import EXPANDED_BASE
from harness.history.loader import iter_records, stream_ops
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.workload.model.generator import EventGenerator
from harness.workload.model.keys import KeyScheme
from harness.workload.model.tenants import TenantMix, TenantPicker
from harness.workload.redis_plane.ingest import Recording, RedisIngestConfig, RedisIngestor

CHECKERS = [
    "rate-limit-holds",
    "acknowledged-increments-survive",
    "unique-user-estimates",
    "retention",
    "counters-reconcile",
]


class ModelRouter:
    """Answers packed ``EVALSHA ingest.lua`` commands as the script would; every 17th is refused
    (NOSCRIPT) and every 23rd times out after running (info)."""

    def __init__(self, clock: RunClock) -> None:
        self.clock = clock
        self.zsets: dict[str, list[int]] = {}
        self.counters: dict[str, int] = {}
        self.hlls: dict[str, set[str]] = {}
        self.n = 0

    def send_packed(self, packed: list[bytes], keys: list[str], per: int = 1) -> Replies:
        """As SlotRouter's (this model answers on send; receive hands the answers back)."""
        return self.execute_packed(packed, keys)

    def receive(self, sent: Replies) -> Replies:
        return sent

    def abandon_in_flight(self) -> None:
        return None

    def execute_packed(
        self, packed: list[bytes], keys: list[str], while_waiting: Callable[[], object] | None = None
    ) -> Replies:
        if while_waiting is not None:  # as SlotRouter: once the batch is sent, before replies
            while_waiting()
        out = []
        for cmd in packed:
            self.n += 1
            args = cmd.split(b"\r\n")[2::2]  # the bulk strings' payloads
            k_lim, k_cnt, k_hll = (a.decode() for a in args[3:6])
            limit, window, now = int(args[7]), int(args[8]), int(args[9])
            user = args[11].decode()
            if self.n % 17 == 0:
                out.append(Reply(OpType.FAIL, "NoScriptError: No matching script.", self.clock.now_ns()))
                continue
            z = [t for t in self.zsets.get(k_lim, []) if t > now - window]
            if len(z) >= limit:
                self.zsets[k_lim] = z
                value: Any = [0, 1, 0]
            else:
                self.zsets[k_lim] = [*z, now]
                self.counters[k_cnt] = self.counters.get(k_cnt, 0) + 1
                self.hlls.setdefault(k_hll, set()).add(user)
                value = [1, limit - len(z) - 1, self.counters[k_cnt]]
            if self.n % 23 == 0:
                out.append(
                    Reply(OpType.INFO, "TimeoutError: Timeout reading from socket", self.clock.now_ns())
                )
            else:
                out.append(Reply(OpType.OK, value, self.clock.now_ns()))
        return Replies.of(out)


def record(tmp_path: Path, recording: Recording, lose_one: bool) -> Path:
    clock = RunClock(start_ns=0, start_wall=1_700_000_000.0)
    path = tmp_path / f"{recording}.jsonl"
    router = ModelRouter(clock)
    gen = EventGenerator(
        TenantPicker(TenantMix(20, 0.8, "whale", 0.5), seeded_random(3, "t")), seeded_random(3, "e")
    )
    keys = KeyScheme({"whale": 2})
    cfg = RedisIngestConfig(limit=12, window_ms=1000, tenant_limits={"t1": 3})
    with HistoryRecorder(path, clock) as rec:
        ing = RedisIngestor(
            cast(SlotRouter, router), rec, clock, keys, cfg, "v", "0" * 40, recording, design="script"
        )
        t0 = 1_700_000_000_000
        for b in range(6):
            sched = [(b * 100 + i) * 3_000_000 for i in range(100)]  # fixed, so both runs match
            ing.ingest(gen.batch(b * 100, [t0 + b * 300 + i * 3 for i in range(100)]), sched)
        for k in sorted(ing.counter_keys):
            value = router.counters.get(k)
            if lose_one and value:
                value -= 1  # a lost acknowledged increment: both histories must show it
                lose_one = False
            op = rec.invoke("final", "final_read", variant="v", key=k)
            rec.complete(op, OpType.OK, "final", "final_read", value=value, key=k)
        for k in sorted(ing.hll_keys):
            op = rec.invoke("final", "pfcount", variant="v", key=k, tenant=k.split(":")[2].rstrip("}"))
            rec.complete(op, OpType.OK, "final", "pfcount", value=len(router.hlls.get(k, ())))
        assert ing.stats.rejected > 0 and ing.stats.outcomes["fail"] > 0 and ing.stats.outcomes["info"] > 0
    return path


def _norm(op: Any) -> tuple[Any, ...]:
    strip = {"id"}
    inv = {k: v for k, v in op.invoke.items() if k not in strip and k != "time_ns"}
    comp = (
        None
        if op.completion is None
        else {k: v for k, v in op.completion.items() if k not in strip | {"time_ns"}}
    )
    return (op.f, op.outcome, repr(sorted(inv.items())), repr(sorted(comp.items())) if comp else None)


def test_compact_ops_are_recorded_once_per_event(tmp_path: Path) -> None:
    path = record(tmp_path, "compact", lose_one=False)
    fs = {r["f"] for r in iter_records(path)}
    assert fs == {"ingest", "final_read", "pfcount"}
    expanded = [op for op in stream_ops(path) if op.process == "ingest"]
    assert {op.f for op in expanded} == {"rate_limit", "incr", "pfadd", "ttl_write"}
    assert all(op.id >= EXPANDED_BASE for op in expanded)
    assert len({op.id for op in expanded}) == len(expanded) == 4 * 600
    assert not any(op.f == "ingest" for op in stream_ops(path))
    assert {op.f for op in stream_ops(path, expand=False)} == {"ingest", "final_read", "pfcount"}


def test_expansion_gives_the_op_by_op_records(tmp_path: Path) -> None:
    compact = sorted(_norm(op) for op in stream_ops(record(tmp_path, "compact", lose_one=False)))
    by_op = sorted(_norm(op) for op in stream_ops(record(tmp_path, "ops", lose_one=False)))
    assert compact == by_op


@pytest.mark.parametrize("lose_one", [False, True])
def test_checkers_judge_both_histories_alike(tmp_path: Path, lose_one: bool) -> None:
    verdicts = {}
    for recording in ("compact", "ops"):
        path = record(tmp_path, recording, lose_one)
        verdicts[recording] = [
            (v.name, v.status, v.violations, v.summary)
            for v in run_checkers(build_checkers(CHECKERS), stream_ops(path))
        ]
    assert verdicts["compact"] == verdicts["ops"]
    status = {name: s for name, s, _, _ in verdicts["compact"]}
    assert status["rate-limit-holds"] == status["unique-user-estimates"] == "valid"
    assert status["acknowledged-increments-survive"] == ("invalid" if lose_one else "valid")


def test_an_op_merely_named_ingest_passes_through_untouched() -> None:
    from harness.history.ingest import expand_compact
    from harness.history.loader import Op

    foreign = [
        Op(1, "p", "ingest", 0, "ok", 5, {"tenant": "a"}, {"tenants": ["a"]}),
        Op(2, "p", "ingest_rl", 0, "ok", 5, {"keys": "not a list", "value": {}}, {"value": 3}),
        Op(3, "p", "ingest", 0, "ok", 5, {"keys": ["a", "b", "c", "d"], "value": {}}, {"value": "x"}),
    ]
    assert list(expand_compact(iter(foreign))) == foreign
