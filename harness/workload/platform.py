"""The whole platform workload: the capstone's services played against the real databases.

Three open-loop schedules run side by side, each in its own thread with its own connections and
its own seeded random stream, all recorded in one history:

* **ingestion** (this thread): events from the seeded :class:`EventGenerator` at the offered
  rate; each batch runs the per-event Redis work (:class:`RedisIngestor`: limiter, counter,
  HyperLogLog, timeline), then, for the events the limiter admitted, the MongoDB writes when that
  plane runs (``mongo_writer``: ``insert_many`` into ``events``, audit records on their chain);
* **queries** (``reads_per_s``): a seeded mix of the query service's reads: the last-5-minute
  counters, a user's timeline, unique users, the tenant dashboard through the hot-read
  :class:`Cache` (the variant under test), and read-your-writes steps on a user profile
  (``ryw_mode``: master, replica, or replica after ``WAIT``); plus ``mongo_reader`` (the five
  MongoDB queries) when that plane runs;
* **sessions** (``sessions_per_s``): the session store (:class:`SessionDriver`).

A hot-tenant surge steers the ingestion tenants (the nemesis' workload capability); queries draw
their tenants from their own picker with the same mix, so hot tenants are also read more.
Every schedule is bounded by the run's duration plus a drain and stops by itself.
"""

from __future__ import annotations

import functools
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from harness.clients.redis_router import SlotRouter
from harness.clock import RunClock
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.workload.cache import Cache, Loader, LoaderError
from harness.workload.generator import Event, EventGenerator
from harness.workload.keys import KeyScheme
from harness.workload.openloop import DriverStats, Progress, run_open_loop
from harness.workload.redis_ingest import RedisIngestor
from harness.workload.redis_reads import RedisQueries, RywMode
from harness.workload.sessions import SessionDriver
from harness.workload.tenants import TenantPicker

ReadKind = Literal["counters", "timeline", "unique_users", "dashboard", "profile", "mongo"]
READ_KINDS: tuple[ReadKind, ...] = ("counters", "timeline", "unique_users", "dashboard", "profile", "mongo")


class MongoWriter(Protocol):
    """The MongoDB side of ingestion (events and audit records), when that plane runs."""

    def write(self, events: Sequence[Event], sched_ns: Sequence[int]) -> None: ...


class MongoReader(Protocol):
    """One MongoDB query of the query service for ``tenant`` (its choice seeded by ``rng``)."""

    def query(self, tenant: str, user: str, rng: random.Random, sched_ns: int) -> None: ...


@dataclass(frozen=True)
class PlatformConfig:
    rate: float
    duration_s: float
    max_batch: int = 400
    drain_s: float = 5.0
    reads_per_s: float = 0.0
    read_mix: dict[str, float] = field(
        default_factory=lambda: {
            "counters": 3,
            "timeline": 3,
            "unique_users": 1,
            "dashboard": 2,
            "profile": 1,
            "mongo": 2,
        }
    )
    ryw_mode: RywMode = "master"
    users_per_tenant: int = 50
    sessions_per_s: float = 0.0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.read_mix) - set(READ_KINDS))
        if unknown:
            raise ValueError(f"read_mix: unknown read kind(s) {unknown}; known: {', '.join(READ_KINDS)}")
        if any(w < 0 for w in self.read_mix.values()):
            raise ValueError("read_mix: weights cannot be negative")


@dataclass
class ReadStats:
    offered: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    not_ok: int = 0  # reads that did not complete ok (recorded as such in the history)
    max_lag_s: float = 0.0


class PlatformDriver:
    def __init__(
        self,
        *,
        clock: RunClock,
        generator: EventGenerator,
        ingestor: RedisIngestor,
        cfg: PlatformConfig,
        queries: RedisQueries | None = None,
        cache: Cache | None = None,
        read_picker: TenantPicker | None = None,
        read_rng: random.Random | None = None,
        sessions: SessionDriver | None = None,
        mongo_writer: MongoWriter | None = None,
        mongo_reader: MongoReader | None = None,
        background: Sequence[tuple[str, Callable[[threading.Event], None]]] = (),
        log: Callable[[str], None] = print,
    ) -> None:
        if cfg.reads_per_s > 0 and (queries is None or read_picker is None or read_rng is None):
            raise ValueError("reads_per_s needs queries, read_picker and read_rng")
        self.clock = clock
        self.gen = generator
        self.ingestor = ingestor
        self.cfg = cfg
        self.queries = queries
        self.cache = cache
        self.read_picker = read_picker
        self.read_rng = read_rng or random.Random(0)
        self.sessions = sessions
        self.mongo_writer = mongo_writer
        self.mongo_reader = mongo_reader
        self.background = list(background)  # (name, job): runs until the workload ends
        self.log = log
        self.stats = DriverStats()
        self.read_stats = ReadStats()
        self.errors: list[str] = []  # a side schedule that died, with why (the run reports it)
        kinds = [k for k in READ_KINDS if cfg.read_mix.get(k, 0) > 0]
        if cache is None:
            kinds = [k for k in kinds if k != "dashboard"]
        if mongo_reader is None:
            kinds = [k for k in kinds if k != "mongo"]
        self._kinds = kinds
        self._weights = [cfg.read_mix[k] for k in kinds]

    # The hot-tenant fault's control surface (harness.faults.base.WorkloadControl).
    def surge(self, tenant: str, share: float) -> dict[str, float]:
        return self.gen.picker.surge(tenant, share)

    def end_surge(self, tenant: str) -> dict[str, float]:
        return self.gen.picker.end_surge(tenant)

    @property
    def counter_keys(self) -> set[str]:
        return self.ingestor.counter_keys

    def run(self, on_progress: Progress | None = None) -> DriverStats:
        side: list[threading.Thread] = []
        if self.cfg.reads_per_s > 0 and self._kinds:
            side.append(threading.Thread(target=self._guard(self._run_reads, "queries"), daemon=True))
        if self.sessions is not None and self.cfg.sessions_per_s > 0:
            sessions = self.sessions
            side.append(threading.Thread(target=self._guard(lambda: sessions.run(), "sessions"), daemon=True))
        stop = threading.Event()
        jobs = [
            threading.Thread(target=self._guard(functools.partial(job, stop), name), name=name, daemon=True)
            for name, job in self.background
        ]
        for t in side + jobs:
            t.start()
        try:
            cfg = self.cfg
            run_open_loop(
                self.clock,
                rate=cfg.rate,
                duration_s=cfg.duration_s,
                drain_s=cfg.drain_s,
                max_batch=cfg.max_batch,
                stats=self.stats,
                send=lambda first, sched, _b: self._ingest(first, sched),
                on_progress=on_progress,
            )
        finally:
            # Side schedules are bounded by the same duration and drain; the join is a backstop.
            stop.set()
            for t in side + jobs:
                t.join(timeout=self.cfg.duration_s + self.cfg.drain_s + 30)
                if t.is_alive():
                    self.errors.append(f"{t.name} did not stop within its bound")
        st, ing = self.stats, self.ingestor.stats
        st.admitted, st.rate_limited = ing.admitted, ing.rejected
        st.outcomes = dict(ing.outcomes)
        return st

    def _guard(self, body: Callable[[], object], name: str) -> Callable[[], None]:
        def run() -> None:
            try:
                body()
            except Exception as exc:  # reported in the run's results, never swallowed
                self.errors.append(f"{name}: {type(exc).__name__}: {exc}")
                self.log(f"{name} schedule stopped: {type(exc).__name__}: {exc}")

        return run

    # -- ingestion -------------------------------------------------------------------------------

    def _ingest(self, first_seq: int, sched: list[int]) -> None:
        wall = self.clock.wall_ms_at
        events = self.gen.batch(first_seq, [wall(s) for s in sched])
        replies = self.ingestor.ingest(events, sched)
        if self.mongo_writer is None:
            return
        admitted = [
            (ev, s)
            for ev, s, r in zip(events, sched, replies, strict=True)
            if r.outcome is OpType.OK and int(r.value[0]) == 1
        ]
        if admitted:
            self.mongo_writer.write([e for e, _ in admitted], [s for _, s in admitted])

    # -- queries ---------------------------------------------------------------------------------

    def _run_reads(self) -> None:
        cfg = self.cfg
        stats = DriverStats()
        run_open_loop(
            self.clock,
            rate=cfg.reads_per_s,
            duration_s=cfg.duration_s,
            drain_s=cfg.drain_s,
            max_batch=50,
            stats=stats,
            send=lambda _first, sched, _b: self._reads(sched),
        )
        self.read_stats.offered = stats.offered
        self.read_stats.max_lag_s = stats.max_lag_s

    def _reads(self, sched: list[int]) -> None:
        assert self.queries is not None and self.read_picker is not None
        rng = self.read_rng
        tenants = self.read_picker.draw(len(sched))
        kinds = rng.choices(self._kinds, weights=self._weights, k=len(sched))
        for tenant, kind, s_ns in zip(tenants, kinds, sched, strict=True):
            user = f"user_{rng.randrange(self.cfg.users_per_tenant)}"
            self.read_stats.by_kind[kind] = self.read_stats.by_kind.get(kind, 0) + 1
            if not self._read(kind, tenant, user, s_ns):
                self.read_stats.not_ok += 1

    def _read(self, kind: ReadKind, tenant: str, user: str, s_ns: int) -> bool:
        """One read; True when it completed ok. Its outcome is in the history either way."""
        q = self.queries
        assert q is not None
        q.sched_ns = s_ns
        now_ms = self.clock.wall_ms_at(self.clock.now_ns())
        if kind == "counters":
            return q.counters_last5(tenant, now_ms) is not None
        if kind == "timeline":
            return q.timeline(tenant, user) is not None
        if kind == "unique_users":
            return q.unique_users(tenant, now_ms) is not None
        if kind == "profile":
            written, _read = q.read_your_write(tenant, user, f"{tenant}/{user}", self.cfg.ryw_mode)
            return written is not None
        if kind == "dashboard":
            assert self.cache is not None
            self.cache.sched_ns = s_ns
            try:
                self.cache.get(tenant)
            except Exception:  # the cache recorded the outcome before raising
                return False
            return True
        assert self.mongo_reader is not None
        self.mongo_reader.query(tenant, user, self.read_rng, s_ns)
        return True


def redis_dashboard_loader(
    router: SlotRouter, recorder: HistoryRecorder, keys: KeyScheme, clock: RunClock, variant: str
) -> Loader:
    """The dashboard the cache holds when only the Redis plane runs: the tenant's events in the
    last five minutes (its own ``counters_read`` op, process ``dashboard-loader``). The loader may
    run on the cache's refresher thread and on readers at once, so its router is locked."""
    q = RedisQueries(router, recorder, keys, variant=variant, process="dashboard-loader")
    lock = threading.Lock()

    def load(tenant: str) -> dict[str, Any]:
        with lock:
            n = q.counters_last5(tenant, clock.wall_ms_at(clock.now_ns()))
        if n is None:
            raise LoaderError(f"dashboard of {tenant}: the counters read did not complete")
        return {"tenant": tenant, "events_last_5m": n}

    return load
