"""The recorded histories of every Redis ingest path, and the commands they send, pinned: small
seeded runs against a real redis-server, normalised (times, and what depends on them, dropped) and
compared with digests captured before the ingest paths were merged into one.
Checkers and saved runs read these op names, fields and values, so they must never drift.

On a mismatch the normalised history is written to the test's tmp dir (``<run>.json``) to diff
against the same file from the commit before."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis

from harness.clients.redis_router import Sent, SlotRouter
from harness.clock import RunClock, seeded_random
from harness.history.loader import iter_records, stream_ops
from harness.history.recorder import HistoryRecorder
from harness.workload.engine.openloop import DriverStats
from harness.workload.model.generator import Event, EventGenerator, GeneratorConfig
from harness.workload.model.keys import KeyScheme
from harness.workload.model.tenants import TenantMix, TenantPicker
from harness.workload.platform.driver import PlatformConfig, PlatformDriver
from harness.workload.redis_plane.events import DriverConfig, EventDriver, final_reads, limiter_script
from harness.workload.redis_plane.ingest import RedisIngestConfig, RedisIngestor, ingest_script

# A minute boundary: runs shorter than a minute keep every counter in one minute bucket.
START_WALL = 1_700_000_040.0
T0_MS = int(START_WALL * 1000)
# Fields that carry run time (or ids that depend on how the open loop happened to batch).
TIMED = {"time_ns", "sched_ns", "now_ms", "id", "rl"}

GOLDEN = {
    "events": "b358fb69957e5168f5c1a7534359376767f710d63eb9b8079a5755a726904ebd",
    "ingest-pipeline-compact": "ec4a549aa45fdff52ed3f9fd0a823d8a911f8a6c3f9b20d36fef99069c6b6bdb",
    "ingest-pipeline-ops": "df46fcea3f81421682ef4144ba914e461be7d90a388ea17e1c84f898dd80d3f2",
    "ingest-script-compact": "a026a69c1770aebe169009c81e7fddb92142069c0a76aa01611769370fe4316d",
    "ingest-script-ops": "2279352e29051fae07a4e1b77b025ec3bec79e15361f6b0a7aebfe26ad07982b",
    "platform-inline": "572c32bf41a6a7a639e1122c693c5cb30cf994c1176d0d8874f70800a1badaab",
    "platform-queued-block": "572c32bf41a6a7a639e1122c693c5cb30cf994c1176d0d8874f70800a1badaab",
    "events-sent": "f20244ed5dba7299ea99eece962add01ab4e43c5b6976c023d0a014c063f379f",
    "ingest-pipeline-sent": "cb4ff3a925f03b7ff1b9a9092b56f1de1187be82f40ceefdb4802cd13b873816",
    "ingest-script-sent": "8d40eb0af4baac441e87eb8dd4a4c0b9cb1ea7ded1b1c07adc512d08349e92bf",
    "platform-sent": "b4c39ae983eecfd45ee31fb8b07283d63274f3f0bc09fe8bb01cbdb34c5c36f0",
    "platform-queued-shed-shape": "ec6f20ce1cf5130e24ec37d4c54e799e11b99959cd164ed6912b8792353116dd",
}


def _strip(obj: Any, drop: set[str]) -> Any:
    if isinstance(obj, dict):
        return {k: _strip(v, drop) for k, v in obj.items() if k not in drop}
    if isinstance(obj, list):
        return [_strip(v, drop) for v in obj]
    return obj


def _records(path: Path) -> list[str]:
    """The raw records in file order, without their times (a fixed schedule: all else is fixed)."""
    return [json.dumps(_strip(r, {"time_ns"}), sort_keys=True) for r in iter_records(path)]


def _ops(path: Path) -> list[str]:
    """Every op (compact forms expanded), without times and ids, sorted: the open loop's batching
    is timing-dependent, what each op says is not."""
    out = []
    for op in stream_ops(path):
        inv = _strip(op.invoke, TIMED)
        comp = None if op.completion is None else _strip(op.completion, TIMED)
        out.append(json.dumps([op.f, op.outcome, inv, comp], sort_keys=True))
    return sorted(out)


def _check(name: str, lines: list[str], tmp_path: Path) -> None:
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    if digest != GOLDEN[name]:
        (tmp_path / f"{name}.json").write_text("\n".join(lines) + "\n")
    assert digest == GOLDEN[name], f"{name} changed (normalised copy in {tmp_path})"


@pytest.fixture
def client(redis_port: int) -> Iterator[redis.Redis]:
    c = redis.Redis(port=redis_port)
    yield c
    c.close()


class _Tap(SlotRouter):
    """A router that keeps every command it sends, as its arguments."""

    commands: list[list[str]]

    def send_packed(self, packed: Sequence[bytes], keys: Sequence[bytes | str], per: int = 1) -> Sent:
        lines = b"".join(packed).split(b"\r\n")
        i = 0
        while i < len(lines) and lines[i]:
            n = int(lines[i][1:])
            self.commands.append([a.decode() for a in lines[i + 2 : i + 2 + 2 * n : 2]])
            i += 1 + 2 * n
        return super().send_packed(packed, keys, per)


def _router(redis_port: int, clock: RunClock) -> _Tap:
    tap = _Tap([("127.0.0.1", redis_port)], cluster=False, now_ns=clock.now_ns)
    tap.commands = []
    return tap


def _sent(router: _Tap, mode: str = "exact") -> list[str]:
    """The commands sent. ``timed``: the open loop chose the limiter's ``now_ms`` and the batches,
    so that argument is masked and the commands sorted; ``keys``: event times are in several
    arguments too, so only each command's name and key are kept (sorted)."""
    if mode == "exact":
        return [json.dumps(c) for c in router.commands]
    if mode == "keys":
        return sorted(json.dumps(c[:2] if c[0] != "EVALSHA" else c[:4]) for c in router.commands)
    return sorted(json.dumps([*c[:6], "*", *c[7:]] if c[0] == "EVALSHA" else c) for c in router.commands)


def _generator(users: int = 4) -> EventGenerator:
    return EventGenerator(
        TenantPicker(TenantMix(12, 0.8, "whale", 0.5), seeded_random(5, "t")),
        seeded_random(5, "e"),
        GeneratorConfig(users_per_tenant=users),
    )


def test_events_kind_history(tmp_path: Path, client: redis.Redis, redis_port: int) -> None:
    clock = RunClock(start_wall=START_WALL)
    sha = str(client.script_load(limiter_script()))
    router = _router(redis_port, clock)
    cfg = DriverConfig(rate=400, duration_s=0.2, limit=5, window_ms=60_000, tenant_limits={"t1": 2})
    path = tmp_path / "events.jsonl"
    with HistoryRecorder(path, clock) as rec:
        driver = EventDriver(
            router,
            rec,
            clock,
            KeyScheme({"whale": 3}),
            TenantPicker(TenantMix(12, 0.8, "whale", 0.5), seeded_random(5, "t")),
            cfg,
            "v",
            seeded_random(5, "s"),
            sha,
        )
        stats = driver.run()
        final_reads(router, rec, sorted(driver.counter_keys), "v")
    router.close()
    assert stats.sent == 80 and 0 < stats.admitted < 80
    _check("events", _ops(path), tmp_path)
    _check("events-sent", _sent(router, "timed"), tmp_path)


@pytest.mark.parametrize("design", ["pipeline", "script"])
@pytest.mark.parametrize("recording", ["compact", "ops"])
def test_platform_ingestor_history(
    tmp_path: Path, client: redis.Redis, redis_port: int, design: str, recording: str
) -> None:
    clock = RunClock(start_wall=START_WALL)
    sha = str(client.script_load(ingest_script(design)))  # type: ignore[arg-type]
    router = _router(redis_port, clock)
    gen = _generator()
    cfg = RedisIngestConfig(limit=6, window_ms=60_000, tenant_limits={"t1": 2})
    path = tmp_path / "ingest.jsonl"
    with HistoryRecorder(path, clock) as rec:
        ing = RedisIngestor(
            router,
            rec,
            clock,
            KeyScheme({"whale": 2}),
            cfg,
            "v",
            sha,
            recording,
            design,  # type: ignore[arg-type]
        )
        for b in range(3):
            sched = [(b * 30 + i) * 1_000_000 for i in range(30)]
            ing.ingest(gen.batch(b * 30, [T0_MS + s // 1_000_000 for s in sched]), sched)
        final_reads(router, rec, sorted(ing.counter_keys), "v")
    router.close()
    assert 0 < ing.stats.admitted < 90
    _check(f"ingest-{design}-{recording}", _records(path), tmp_path)
    _check(f"ingest-{design}-sent", _sent(router), tmp_path)  # the same whatever the recording


class _Writer:
    """The MongoDB side's stand-in: keeps what it was given; ``gate`` (when set) holds the
    consumer until the open loop has offered every event."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.gate = gate
        self.seqs: list[int] = []

    def write(self, events: list[Event], sched_ns: list[int]) -> None:
        if self.gate is not None:
            assert self.gate.wait(30)
        self.seqs += [e.seq for e in events]


def _platform(
    tmp_path: Path, client: redis.Redis, redis_port: int, cfg: PlatformConfig, writer: _Writer
) -> tuple[Path, PlatformDriver, _Tap]:
    clock = RunClock(start_wall=START_WALL)
    sha = str(client.script_load(ingest_script()))
    router = _router(redis_port, clock)
    path = tmp_path / "platform.jsonl"
    with HistoryRecorder(path, clock) as rec:
        ingestor = RedisIngestor(
            router,
            rec,
            clock,
            KeyScheme({"whale": 2}),
            RedisIngestConfig(limit=6, window_ms=60_000, tenant_limits={"t1": 2}),
            "v",
            sha,
        )
        driver = PlatformDriver(
            clock=clock, generator=_generator(), ingestor=ingestor, cfg=cfg, mongo_writer=writer
        )
        gate = writer.gate

        def opened(_st: DriverStats, progress: float) -> None:
            if gate is not None and progress >= 1.0:
                gate.set()  # every event offered: the held consumer may go on

        driver.run(opened)
        final_reads(router, rec, sorted(driver.counter_keys), "v")
    router.close()
    return path, driver, router


@pytest.mark.parametrize("queued", [False, True])
def test_platform_driver_history(tmp_path: Path, client: redis.Redis, redis_port: int, queued: bool) -> None:
    # One event per batch: the generator's random stream depends on how events are batched.
    cfg = PlatformConfig(
        rate=300, duration_s=0.2, max_batch=1, queue_capacity=1000 if queued else 0, queue_mode="block"
    )
    writer = _Writer()
    path, driver, router = _platform(tmp_path, client, redis_port, cfg, writer)
    assert driver.stats.sent == 60 and writer.seqs == sorted(writer.seqs)
    _check("platform-queued-block" if queued else "platform-inline", _ops(path), tmp_path)
    _check("platform-sent", _sent(router, "keys"), tmp_path)  # the same with or without the queue


def test_platform_shed_ops_shape(tmp_path: Path, client: redis.Redis, redis_port: int) -> None:
    """Which events are shed depends on timing; what a shed op records does not."""
    writer = _Writer(threading.Event())
    cfg = PlatformConfig(rate=400, duration_s=0.2, queue_capacity=5, queue_mode="shed")
    path, driver, _router = _platform(tmp_path, client, redis_port, cfg, writer)
    qs = driver.queue_stats
    assert qs is not None and qs.shed > 0 and qs.accounted() == qs.offered == 80
    shapes = set()
    for op in stream_ops(path):
        if op.f == "shed":
            assert op.completion is not None
            shapes.add(json.dumps([op.f, op.outcome, sorted(op.invoke), sorted(op.completion)]))
            shapes.add(json.dumps(op.completion.get("error")))
    _check("platform-queued-shed-shape", sorted(shapes), tmp_path)
