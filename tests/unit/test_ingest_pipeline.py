"""Design pipeline (limiter script, then the admitted events' side effects pipelined): its compact
``ingest_rl``/``ingest_fx`` history, expanded, is its op-by-op history, and the checkers judge both
alike, including refused and timed-out limiter calls, side effects that failed or are unknown one
by one, and admitted events whose side effects were never sent (``admitted-request-lost``).

The router is an in-memory model of ``ratelimit.lua`` and of the six plain commands.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
import redis

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
from harness.workload.redis_plane.ingest import EFFECTS, Recording, RedisIngestConfig, RedisIngestor

CHECKERS = [
    "rate-limit-holds",
    "acknowledged-increments-survive",
    "unique-user-estimates",
    "retention",
    "counters-reconcile",
]


class Died(Exception):
    """The driver process died between the two rounds."""


def _commands(chunk: bytes) -> list[list[bytes]]:
    """The RESP arrays of bulk strings in ``chunk``, each as its list of arguments."""
    lines = chunk.split(b"\r\n")
    out, i = [], 0
    while i < len(lines) and lines[i]:
        n = int(lines[i][1:])
        out.append(lines[i + 2 : i + 2 + 2 * n : 2])
        i += 1 + 2 * n
    return out


class PipelineModelRouter:
    """Answers the limiter (every 17th refused, every 23rd timed out after running) and the six
    side-effect commands (every 11th group's connection breaks after it ran, every 7th has PFADD
    refused, every 9th has ZADD refused while the rest ran)."""

    def __init__(self, clock: RunClock) -> None:
        self.clock = clock
        self.zsets: dict[str, list[int]] = {}
        self.counters: dict[str, int] = {}
        self.hlls: dict[str, set[str]] = {}
        self.n = self.g = 0

    def send_packed(self, packed: list[bytes], keys: list[str], per: int = 1) -> Replies:
        """As SlotRouter's (this model answers on send; receive hands the answers back)."""
        return self.execute_packed(packed, keys, per)

    def receive(self, sent: Replies) -> Replies:
        return sent

    def abandon_in_flight(self) -> None:
        return None

    def execute_packed(
        self,
        packed: list[bytes],
        keys: list[str],
        per: int = 1,
        while_waiting: Callable[[], object] | None = None,
    ) -> Replies:
        if while_waiting is not None:  # as SlotRouter: once the batch is sent, before replies
            while_waiting()
        return Replies.of([self._limiter(c) if per == 1 else self._effects(c) for c in packed])

    def _limiter(self, cmd: bytes) -> Reply:
        self.n += 1
        args = cmd.split(b"\r\n")[2::2]
        assert args[0] == b"EVALSHA" and args[2] == b"1"
        k_lim, limit, window, now = args[3].decode(), int(args[4]), int(args[5]), int(args[6])
        if self.n % 17 == 0:
            return Reply(OpType.FAIL, "NoScriptError: No matching script.", self.clock.now_ns())
        z = [t for t in self.zsets.get(k_lim, []) if t > now - window]
        if len(z) >= limit:
            self.zsets[k_lim] = z
            value: Any = [0, 1]
        else:
            self.zsets[k_lim] = [*z, now]
            value = [1, limit - len(z) - 1]
        if self.n % 23 == 0:
            return Reply(OpType.INFO, "TimeoutError: Timeout reading from socket", self.clock.now_ns())
        return Reply(OpType.OK, value, self.clock.now_ns())

    def _effects(self, chunk: bytes) -> Reply:
        self.g += 1
        cmds = _commands(chunk)
        assert [c[0] for c in cmds] == [b"INCR", b"EXPIRE", b"PFADD", b"ZADD", b"ZREMRANGEBYRANK", b"EXPIRE"]
        assert len(cmds) == EFFECTS and cmds[4][2:] == [b"0", b"-101"] and cmds[5][2] == b"86400"
        k_cnt, k_hll, user = cmds[0][1].decode(), cmds[2][1].decode(), cmds[2][2].decode()
        self.counters[k_cnt] = self.counters.get(k_cnt, 0) + 1
        values: list[Any] = [self.counters[k_cnt], 1, 1, 1, 0, 1]
        if self.g % 7 == 0:
            values[2] = redis.exceptions.OutOfMemoryError(
                "command not allowed when used memory > 'maxmemory'."
            )
        else:
            self.hlls.setdefault(k_hll, set()).add(user)
        if self.g % 9 == 0:
            values[3] = redis.exceptions.ReadOnlyError("You can't write against a read only replica.")
        if self.g % 11 == 0:
            return Reply(OpType.INFO, "ConnectionError: Connection reset by peer", self.clock.now_ns())
        return Reply(OpType.OK, values, self.clock.now_ns())


def record(tmp_path: Path, recording: Recording, die_in: int | None = None, stream: bool = False) -> Path:
    clock = RunClock(start_ns=0, start_wall=1_700_000_000.0)
    path = tmp_path / f"{recording}{'-stream' if stream else ''}.jsonl"
    router = PipelineModelRouter(clock)
    gen = EventGenerator(
        TenantPicker(TenantMix(20, 0.8, "whale", 0.5), seeded_random(3, "t")), seeded_random(3, "e")
    )
    keys = KeyScheme({"whale": 2})
    cfg = RedisIngestConfig(limit=12, window_ms=1000, tenant_limits={"t1": 3})
    with HistoryRecorder(path, clock) as rec:
        ing = RedisIngestor(
            cast(SlotRouter, router), rec, clock, keys, cfg, "v", "0" * 40, recording, design="pipeline"
        )
        effects = ing.path._effects
        t0 = 1_700_000_000_000
        if stream:  # the pipelined form: batch b+1's limiter round goes out before b's effects are read
            batches = [
                (gen.batch(b * 100, [t0 + b * 300 + i * 3 for i in range(100)]),
                 [(b * 100 + i) * 3_000_000 for i in range(100)])
                for b in range(6)
            ]  # fmt: skip
            results = list(ing.ingest_stream(batches))
            assert [len(r.outcomes) for r in results] == [100] * 6
        for b in range(0 if stream else 6):
            if b == die_in:

                def died(*args: Any, **kw: Any) -> None:
                    raise Died

                ing.path._effects = died  # type: ignore[method-assign]
            sched = [(b * 100 + i) * 3_000_000 for i in range(100)]
            with contextlib.suppress(Died):
                ing.ingest(gen.batch(b * 100, [t0 + b * 300 + i * 3 for i in range(100)]), sched)
            ing.path._effects = effects  # type: ignore[method-assign]
        for k in sorted(ing.counter_keys):
            op = rec.invoke("final", "final_read", variant="v", key=k)
            rec.complete(op, OpType.OK, "final", "final_read", value=router.counters.get(k), key=k)
        for k in sorted(ing.hll_keys):
            op = rec.invoke("final", "pfcount", variant="v", key=k, tenant=k.split(":")[2].rstrip("}"))
            rec.complete(op, OpType.OK, "final", "pfcount", value=len(router.hlls.get(k, ())))
        st = ing.stats
        assert st.rejected > 0 and st.outcomes["fail"] > 0 and st.outcomes["info"] > 0
        assert st.effects["ok"] > 0 and st.effects["info"] > 0
    return path


def _norm(op: Any) -> tuple[Any, ...]:
    """An op without ids and times (the two runs' clocks differ)."""
    inv = {k: v for k, v in op.invoke.items() if k not in ("id", "time_ns")}
    comp = (
        None
        if op.completion is None
        else {k: v for k, v in op.completion.items() if k not in ("id", "time_ns")}
    )
    return (op.f, op.outcome, repr(sorted(inv.items())), repr(sorted(comp.items())) if comp else None)


def test_compact_records_two_ops_per_admitted_event(tmp_path: Path) -> None:
    path = record(tmp_path, "compact")
    recs = list(iter_records(path))
    assert {r["f"] for r in recs} == {"ingest_rl", "ingest_fx", "final_read", "pfcount"}
    rl = {r["id"]: r for r in recs if r["f"] == "ingest_rl" and r["type"] != "invoke"}
    fx = [r for r in recs if r["f"] == "ingest_fx" and r["type"] == "invoke"]
    admitted = {i for i, r in rl.items() if r["type"] == "ok" and r["value"][0] == 1}
    assert {r["rl"] for r in fx} == admitted  # side effects sent for admitted events only
    expanded = [op for op in stream_ops(path) if op.process == "ingest"]
    assert all(op.id >= EXPANDED_BASE for op in expanded)
    assert len({op.id for op in expanded}) == len(expanded) == 600 + 3 * len(admitted)
    # side effects are timed from round 2: invoked after their limiter call completed
    done = {op.get("event_id"): op.complete_ns for op in expanded if op.f == "rate_limit"}
    sides = [op for op in expanded if op.f != "rate_limit"]
    assert sides and all(op.invoke_ns >= done[op.get("event_id")] for op in sides)


def test_expansion_gives_the_op_by_op_records(tmp_path: Path) -> None:
    compact = sorted(_norm(op) for op in stream_ops(record(tmp_path, "compact")))
    by_op = sorted(_norm(op) for op in stream_ops(record(tmp_path, "ops")))
    assert compact == by_op
    outcomes = {(n[0], n[1]) for n in compact}
    # each side effect has its own outcome: refused PFADDs fail, half-done timelines are unknown
    assert {("pfadd", "fail"), ("ttl_write", "info"), ("incr", "ok"), ("incr", "info")} <= outcomes
    assert ("incr", "fail") not in outcomes  # a rejected event has no side-effect ops at all


@pytest.mark.parametrize("die_in", [None, 3])
def test_checkers_judge_both_histories_alike(tmp_path: Path, die_in: int | None) -> None:
    verdicts = {}
    for recording in ("compact", "ops"):
        path = record(tmp_path, recording, die_in)
        verdicts[recording] = [
            (v.name, v.status, v.violations, v.summary)
            for v in run_checkers(build_checkers(CHECKERS), stream_ops(path))
        ]
    assert verdicts["compact"] == verdicts["ops"]
    status = {name: s for name, s, _, _ in verdicts["compact"]}
    assert status["acknowledged-increments-survive"] == "valid"
    summary = {name: s for name, _, _, s in verdicts["compact"]}
    if die_in is None:
        assert status["rate-limit-holds"] == "valid"
    else:
        # the batch whose round 2 never went out: its admissions have no write
        assert status["rate-limit-holds"] == "invalid"
        assert "admitted requests without their write" in summary["rate-limit-holds"]


def test_a_stream_records_and_judges_as_one_batch_at_a_time(tmp_path: Path) -> None:
    one = sorted(_norm(op) for op in stream_ops(record(tmp_path, "compact")))
    streamed = record(tmp_path, "compact", stream=True)
    assert sorted(_norm(op) for op in stream_ops(streamed)) == one
    verdicts = run_checkers(build_checkers(CHECKERS), stream_ops(streamed))
    assert {v.name: v.status for v in verdicts}["acknowledged-increments-survive"] == "valid"
    # batches overlap in time: batch 1's limiter round is invoked before batch 0's effects complete
    recs = list(iter_records(streamed))
    first_fx_done = next(i for i, r in enumerate(recs) if r["f"] == "ingest_fx" and r["type"] != "invoke")
    rl_invokes = [i for i, r in enumerate(recs) if r["f"] == "ingest_rl" and r["type"] == "invoke"]
    assert rl_invokes[100] < first_fx_done
