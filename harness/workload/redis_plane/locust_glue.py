"""Locust entry point: the platform's per-event Redis work, offered by a rate profile.

Run as a locustfile, never import it from the harness (importing locust monkey-patches the
process with gevent)::

    locust -f harness/workload/redis_plane/locust_glue.py --headless --redis-seeds 127.0.0.1:6379 \\
        --rate-profile '{"kind": "spike", "base": 200, "peak": 2000, "at_s": 10, "for_s": 5}' \\
        --profile-duration-s 30 --lane-rate 50

The ops run in-process under gevent: ``tests/unit/test_gevent_drivers.py`` shows redis-py,
:class:`SlotRouter` and pymongo working with many concurrent greenlets after ``patch_all()``.

Each Locust user is one *lane* that offers ``--lane-rate`` events/s on its own open-loop schedule
(due times fixed in advance; a late lane fires back to back and the lateness counts as latency).
:class:`ProfileShape` runs ``ceil(rate(t) / lane_rate)`` lanes, so the offered rate follows the
profile in steps of ``lane_rate``. Per event, the harness's one ingest path
(:class:`IngestPath`, effects ``counter``, as the EventDriver): a sliding window rate-limit check
(``ratelimit.lua``, sent as ``EVAL`` of its body: nobody loads scripts on an external topology),
then, if admitted, ``INCR`` + ``EXPIRE`` of the tenant's per-minute counter, with the harness's key
design under ``--key-prefix`` (``<prefix>ratelimit:{t:<tenant>}:events``,
``<prefix>counter:{t:<tenant>}:events:<YYYYMMDDHH:MM>``). Reported to Locust as requests
``rate_limit`` and ``incr`` (type
``redis``) whose response time is measured from the event's scheduled time (coordinated omission
corrected). A failed or unknown reply is a Locust failure; a lane killed while waiting for a
reply reports that op as unknown (``info: interrupted ...``), never drops it. Stopping is graceful (a
``stop_timeout`` of at least 10 s is set): a lane finishes the event it holds, so every event
applied in Redis is reported. With ``--hdr-dir`` each process also
writes its HdrHistograms (:mod:`harness.metrics.hdr`) to ``<dir>/hdr-<host>-<pid>.json`` at
the end, for merging across workers. Each lane adds its id to the set ``<prefix>lanes``.
Records no harness history: Locust's stats are the record.

``--effects full`` runs the platform's whole Redis ingest work per event instead (the limiter, then
counter ``INCR``/``EXPIRE``, ``PFADD`` hourly users, timeline ``ZADD``/trim/``EXPIRE``, as
:class:`RedisIngestor`), on events from the platform's generator (request ``effects``); with
``--mongo-uri`` each admitted event's document is also inserted into ``<--mongo-db>.events``
(``w:1``; request ``insert``, a duplicate key counts as stored): the whole ingest path. With effects
full a lane marks round 2 in flight just after sending it (the ingest path records after the send
there), so a lane killed in that instant reports no ``effects`` op for it.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import random
import socket
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gevent
from gevent import GreenletExit
from locust import LoadTestShape, User, constant, events, task
from pymongo import MongoClient
from pymongo.errors import DuplicateKeyError, PyMongoError

from harness.clients.mongo_outcomes import describe, write_outcome
from harness.clients.redis_router import SlotRouter
from harness.clock import RunClock
from harness.metrics.hdr import LatencyHistograms
from harness.ops import OpType
from harness.workload.engine.profile import RateProfile, parse_profile
from harness.workload.model.generator import Event, EventGenerator
from harness.workload.model.keys import KeyScheme
from harness.workload.model.tenants import TenantMix, TenantPicker
from harness.workload.redis_plane.ingest_path import IngestPath, RedisIngestConfig, limiter_script
from harness.workload.redis_plane.ingest_record import Effects, Limited, Packed

# Windows count from process start; per-type totals merge exactly across workers.
HISTOGRAMS = LatencyHistograms(origin_ns=time.monotonic_ns())
_USER_IDS = itertools.count()
MIN_STOP_TIMEOUT_S = 10.0
INTERRUPTED = "interrupted: the lane was stopped mid-op, outcome unknown"
_LIVE_LANES = 0  # lanes running in this process (users are greenlets: no lock needed)
_IDLE: set[str] = set()  # master: workers whose lanes have all stopped (and stats flushed)


def _add_arguments(parser: Any) -> None:
    g = parser.add_argument_group("harness")
    g.add_argument("--redis-seeds", default="127.0.0.1:6379", help="host:port[,host:port...]")
    g.add_argument("--redis-cluster", action="store_true", default=False, help="route by cluster slot")
    g.add_argument("--rate-profile", default='{"kind": "constant", "rate": 100}', help="profile JSON")
    g.add_argument("--profile-duration-s", type=float, default=30.0, help="stop after this long")
    g.add_argument("--lane-rate", type=float, default=50.0, help="events/s per Locust user")
    g.add_argument("--tenants", type=int, default=10)
    g.add_argument("--tenant-limit", type=int, default=1_000_000, help="events per window per tenant")
    g.add_argument("--window-ms", type=int, default=60_000)
    g.add_argument("--key-prefix", default="lc:", help="namespace for every key written")
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--hdr-dir", default="", help="write this process's HdrHistograms here at the end")
    g.add_argument(
        "--effects",
        choices=["counter", "full"],
        default="counter",
        help="counter: limiter + INCR/EXPIRE; full: the platform's whole Redis ingest work per event",
    )
    g.add_argument("--mongo-uri", default="", help="also insert each admitted event into <db>.events here")
    g.add_argument("--mongo-db", default="eventlog")


def _graceful_stop(environment: Any, **_kw: Any) -> None:
    # Locust kills a user mid-task when stop_timeout is 0: an event already applied in Redis
    # would then never be reported. With a timeout, each lane finishes its current event.
    environment.stop_timeout = max(float(environment.stop_timeout or 0), MIN_STOP_TIMEOUT_S)
    if type(environment.runner).__name__ == "MasterRunner":
        environment.runner.register_message("harness_idle", _on_idle)


def parse_seeds(text: str) -> list[tuple[str, int]]:
    out = []
    for part in text.split(","):
        host, _, port = part.strip().rpartition(":")
        out.append((host or "127.0.0.1", int(port)))
    return out


def _profile(opts: Any) -> RateProfile:
    return parse_profile(json.loads(opts.rate_profile))


class ProfileShape(LoadTestShape):
    """Lanes (users) for the rate profile's current rate; stops at ``--profile-duration-s``.

    At the end it ramps to zero lanes itself and returns only once every worker that ran lanes
    has said its lanes are stopped and its last stats are sent (``harness_idle``), or after the
    stop timeout. Ending straight away would let the master quit 0.5 s later and kill lanes
    mid-event: applied in Redis, never reported.
    """

    _prof: RateProfile | None = None
    _had_lanes: set[str] | None = None

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None
        opts: Any = self.runner.environment.parsed_options
        if self._prof is None:
            self._prof = _profile(opts)
            self._had_lanes = set()
        assert self._had_lanes is not None
        clients = getattr(self.runner, "clients", None)  # None: a local (single-process) run
        t = float(self.get_run_time())  # type: ignore[no-untyped-call]
        if clients is not None:
            self._had_lanes |= {cid for cid, node in clients.items() if node.user_count > 0}
        if t < opts.profile_duration_s:
            lanes = self._prof.lanes_at(t, opts.lane_rate)
            return lanes, float(max(100, lanes))  # spawn a whole step at once
        if clients is None or not self._had_lanes:
            return None  # a local run stops its lanes gracefully in-process
        # Ramp to zero now and wait (polling the idle reports) rather than for the next tick.
        _IDLE.clear()  # only idle reports from the final ramp-down count
        self.runner.start(user_count=0, spawn_rate=1000.0)
        deadline = time.monotonic() + self.runner.environment.stop_timeout + 5
        while not self._had_lanes <= _IDLE and time.monotonic() < deadline:
            gevent.sleep(0.02)
        return None


class PlatformUser(User):
    wait_time = constant(0)  # each lane paces itself on its own schedule

    def on_start(self) -> None:
        # Counted before anything can yield, so a lane still starting keeps its worker from
        # reporting idle (a late first event would otherwise miss the final stats).
        global _LIVE_LANES
        _LIVE_LANES += 1
        opts = self.environment.parsed_options
        runner = self.environment.runner
        worker = getattr(runner, "worker_index", 0)
        self.lane_id = f"{socket.gethostname()}-{os.getpid()}-{next(_USER_IDS)}"
        self.rng = random.Random(f"{opts.seed}:{worker}:{self.lane_id}")
        self.router = SlotRouter(
            parse_seeds(opts.redis_seeds), cluster=opts.redis_cluster, now_ns=time.monotonic_ns
        )
        cfg = RedisIngestConfig(limit=opts.tenant_limit, window_ms=opts.window_ms, counter_ttl_s=600)
        self.full = opts.effects == "full"
        self.effects_name = "effects" if self.full else "incr"
        self.path = IngestPath(
            self.router,
            RunClock(start_ns=0),  # run time is monotonic time, as the schedule's
            KeyScheme({}, prefix=opts.key_prefix),
            cfg,
            limiter_script(),
            _LaneRecording(self),
            effects=opts.effects,
            verb="EVAL",
        )
        # effects full: whole events (user, timeline entry, document) from the platform's generator
        mix = TenantMix(opts.tenants, 0.8, None, 0.0)
        self.gen = EventGenerator(TenantPicker(mix, random.Random(self.rng.getrandbits(64))), self.rng)
        self.events: Any = None
        if opts.mongo_uri:
            self.mongo: Any = MongoClient(opts.mongo_uri, w=1, serverSelectionTimeoutMS=5000)
            self.events = self.mongo[opts.mongo_db]["events"]
        self.interval_ns = int(1e9 / opts.lane_rate)
        self.next_ns = time.monotonic_ns() + self.rng.randrange(self.interval_ns)  # spread lanes
        self.seq = 0
        self.in_flight = ""
        self.opts = opts
        # Each lane registers itself, so a run's lane count can be audited against the shape.
        key = f"{opts.key_prefix}lanes"
        self.router.execute([("SADD", key, self.lane_id)], [key])

    def on_stop(self) -> None:
        router: SlotRouter | None = getattr(self, "router", None)  # None: stopped inside on_start
        if router is not None:
            router.close()
        if getattr(self, "events", None) is not None:
            self.mongo.close()
        global _LIVE_LANES
        _LIVE_LANES -= 1
        if _LIVE_LANES == 0 and _flush_worker_stats(self.environment):
            # After the stats, on the same channel: the master may now end the test.
            self.environment.runner.send_message("harness_idle", {"pid": os.getpid()})

    def _report(self, name: str, sched_ns: int, done_ns: int, outcome: OpType, value: Any) -> None:
        if outcome is OpType.OK:  # latency of ok ops; failures and unknowns are counted by Locust
            HISTOGRAMS.record(name, sched_ns, done_ns)
        self.environment.events.request.fire(
            request_type="redis",
            name=name,
            response_time=(done_ns - sched_ns) / 1e6,
            response_length=0,
            exception=None if outcome is OpType.OK else RuntimeError(f"{outcome.value}: {value}"),
            context={"lane": self.lane_id},
        )

    @task
    def event(self) -> None:
        wait_ns = self.next_ns - time.monotonic_ns()
        if wait_ns > 0:
            gevent.sleep(wait_ns / 1e9)
        sched_ns = self.next_ns
        self.next_ns += self.interval_ns
        self.seq += 1
        self.in_flight = "rate_limit"  # the op whose reply we are waiting for, if any
        try:
            self._event(sched_ns)
        except GreenletExit:
            # Killed mid-op (a forced stop): the command may or may not have been applied, so
            # the op is reported unknown rather than silently dropped.
            if self.in_flight:
                self._report(self.in_flight, sched_ns, time.monotonic_ns(), OpType.INFO, INTERRUPTED)
            raise

    def _event(self, sched_ns: int) -> None:
        now_ms = int(time.time() * 1000)
        if not self.full:
            tenant = f"t{self.rng.randrange(self.opts.tenants)}"
            p = self.path.packer.pack_counts(self.seq, [tenant], [0], [now_ms], f"{self.lane_id}-")
            self.path.ingest(p, [sched_ns])
            return
        [ev] = self.gen.batch(self.seq, [now_ms])
        ev = dataclasses.replace(ev, event_id=f"{ev.event_id}-{self.lane_id}")  # unique across lanes
        res = self.path.ingest(self.path.packer.pack([ev]), [sched_ns])
        if self.events is not None and res.allowed[0] == 1:
            self._insert(ev, sched_ns)

    def _insert(self, ev: Event, sched_ns: int) -> None:
        """The admitted event into MongoDB (``w:1``); a duplicate key is an event already stored."""
        self.in_flight = "insert"
        try:
            self.events.insert_one(ev.document())
            outcome, value = OpType.OK, None
        except DuplicateKeyError:
            outcome, value = OpType.OK, "already stored"
        except PyMongoError as exc:
            outcome, value = write_outcome(exc), describe(exc)
        self.in_flight = ""
        self._report("insert", sched_ns, time.monotonic_ns(), outcome, value)


class _LaneRecording:
    """The path's rounds reported to Locust as they complete; ``in_flight`` names the op whose
    reply the lane is waiting for, so a lane killed meanwhile reports it unknown."""

    def __init__(self, lane: PlatformUser) -> None:
        self.lane = lane

    def invoke(self, p: Packed, sched: Sequence[int], send_ns: int, script: bool) -> Sequence[int]:
        return sched

    def limited(self, token: Sequence[int], p: Packed, lim: Limited, script: bool) -> None:
        self.lane.in_flight = ""
        self.lane._report("rate_limit", token[0], lim.done_ns[0], lim.outcomes[0], lim.values[0])

    def invoke_effects(
        self, token: Sequence[int], p: Packed, idx: list[int] | None, sched: Sequence[int], send_ns: int
    ) -> Sequence[int]:
        self.lane.in_flight = self.lane.effects_name
        return sched

    def effects(self, token: Sequence[int], p: Packed, eff: Effects) -> None:
        self.lane.in_flight = ""
        ok = eff.outcomes[0] is OpType.OK
        value = eff.counters[0] if ok else (eff.errors[0] if eff.errors else eff.outcomes[0].value)
        self.lane._report(self.lane.effects_name, token[0], eff.done_ns[0], eff.outcomes[0], value)


def _flush_worker_stats(environment: Any) -> bool:
    """A worker's last samples would otherwise wait for its next 3 s report, which a quitting
    master may never read: send them now. Returns whether this is a worker (and it sent)."""
    send_stats = getattr(environment.runner, "_send_stats", None)
    if type(environment.runner).__name__ == "WorkerRunner" and send_stats is not None:
        send_stats()
        return True
    return False


def _on_idle(environment: Any, msg: Any, **_kw: Any) -> None:
    _IDLE.add(msg.node_id)


def _write_histograms(environment: Any, **_kw: Any) -> None:
    _flush_worker_stats(environment)
    opts = environment.parsed_options
    if opts is None or not getattr(opts, "hdr_dir", "") or not HISTOGRAMS.to_dict()["totals"]:
        return
    out = Path(opts.hdr_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"hdr-{socket.gethostname()}-{os.getpid()}.json").write_text(json.dumps(HISTOGRAMS.to_dict()))


# Registered by call, not decorator: locust's hooks are untyped.
events.init_command_line_parser.add_listener(_add_arguments)  # type: ignore[no-untyped-call]
events.init.add_listener(_graceful_stop)  # type: ignore[no-untyped-call]
events.test_stop.add_listener(_write_histograms)  # type: ignore[no-untyped-call]
