"""Per-tenant dashboard reads on a sharded ``events`` collection: the cross-shard-query case study.

The read is the capstone's dashboard query (Part XIII, Query 1): a tenant's events of the last
hour, newest first, 100, hinted by the ``{tenant_id: 1, event_time: -1}`` index's name. Whether it
goes to one shard or to all of them is the shard key's doing: with ``tenant_id`` leading the key
mongos finds the tenant's chunk (``SINGLE_SHARD``); with ``{event_id: "hashed"}`` the filter names
no shard key field and every shard scans and sorts while mongos merges (``SHARD_MERGE_SORT``), so
the read waits for the slowest shard.

Before a variant's load, :func:`explain_sample` asks mongos for the plan of the same query for a
sample of tenants (:mod:`harness.clients.mongo_explain`): how many shards each targets. During
the load, reads run open loop on ``workers`` threads fed by one schedule (latency from the
schedule; a read still waiting at the deadline is not run and counted as dropped).

Ops (process ``dashboard-reads``), one per read, ``f`` ``dashboard``: invoke ``tenant``,
``sched_ns``, ``read_pref`` (primary), ``since_ms``, ``now_ms``; ``ok`` with ``count``, ``ids``
(event ids) and ``tenants`` (each returned document's tenant, for tenant-isolation); otherwise
the outcome :func:`harness.clients.mongo_outcomes.exception_outcome` gives (a timeout or a dropped
connection is ``info``: whether the shards ran it is unknown), with ``error``.
"""

from __future__ import annotations

import queue
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from bson import SON
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import PyMongoError

from harness.clients.mongo_explain import ExplainError, Targeting, explain_find, targeting
from harness.clients.mongo_outcomes import exception_outcome
from harness.clock import RunClock
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.workload.engine.handoff import fed_open_loop, serve
from harness.workload.engine.openloop import DriverStats

PROCESS = "dashboard-reads"
HOUR_MS = 3_600_000


def spread(values_ms: Sequence[float]) -> dict[str, float | None]:
    """p50, p75, p90, p99 and max, in ms (None each when there are none)."""
    names = ("p50", "p75", "p90", "p99")
    if not values_ms:
        return dict.fromkeys((*names, "max"), None)
    arr = np.asarray(values_ms)
    out: dict[str, float | None] = {
        n: round(float(v), 3) for n, v in zip(names, np.percentile(arr, [50, 75, 90, 99]), strict=True)
    }
    return out | {"max": round(float(arr.max()), 3)}


@dataclass(frozen=True)
class DashboardQuery:
    """The capstone's dashboard query for one tenant, as a ``find`` command (what ``explain``
    takes) and as the cursor the read pages (the same filter, sort, limit and hint)."""

    tenant: str
    since_ms: int
    hint: str
    limit: int = 100

    def filter(self) -> dict[str, Any]:
        since = datetime.fromtimestamp(self.since_ms / 1000, tz=UTC)
        return {"tenant_id": self.tenant, "event_time": {"$gte": since}}

    def command(self) -> SON[str, Any]:
        return SON(
            [
                ("find", "events"),
                ("filter", self.filter()),
                ("sort", {"event_time": -1}),
                ("limit", self.limit),
                ("hint", self.hint),
            ]
        )

    def run(self, coll: Collection[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every document of the answer, read inside the caller's timed block."""
        cursor = coll.find(self.filter()).sort({"event_time": -1}).limit(self.limit).hint(self.hint)
        return list(cursor)


def explain_sample(
    db: Database[dict[str, Any]], queries: Sequence[DashboardQuery]
) -> list[tuple[str, Targeting | str]]:
    """Each query's targeting as mongos plans it, or why it could not be told."""
    out: list[tuple[str, Targeting | str]] = []
    for q in queries:
        try:
            out.append((q.tenant, targeting(explain_find(db, q.command()))))
        except (ExplainError, PyMongoError) as exc:
            out.append((q.tenant, f"{type(exc).__name__}: {exc}"))
    return out


def explain_figures(
    results: Sequence[tuple[str, Targeting | str]], cluster_shards: int, whale: str | None = None
) -> dict[str, Any]:
    """Shards per query (mean, max), the targeted (one shard) and scatter-gather (more) shares,
    the stages mongos named, and the whale's own query's shards. Any explain that could not be read
    withholds the figures (a sample of only the readable plans could be all targeted ones)."""
    plans = [t for _, t in results if isinstance(t, Targeting)]
    errors = [e for _, e in results if isinstance(e, str)]
    stages: dict[str, int] = {}
    for t in plans:
        stages[t.stage] = stages.get(t.stage, 0) + 1
    out: dict[str, Any] = {
        "explained": len(results),
        "cluster_shards": cluster_shards,
        "stages": stages,
        "shards_per_query_mean": None,
        "shards_per_query_max": None,
        "targeted_share": None,
        "scatter_share": None,
        "whale_shards": None,
    }
    if errors or not plans:
        return out | {"unjudged": errors[0] if errors else "no query was explained"}
    counts = [len(t.shards) for t in plans]
    whale_plans = [t for tenant, t in results if tenant == whale and isinstance(t, Targeting)]
    return out | {
        "shards_per_query_mean": round(sum(counts) / len(counts), 3),
        "shards_per_query_max": max(counts),
        "targeted_share": round(sum(1 for t in plans if t.targeted) / len(plans), 4),
        "scatter_share": round(sum(1 for t in plans if not t.targeted) / len(plans), 4),
        "whale_shards": len(whale_plans[0].shards) if whale_plans else None,
    }


@dataclass
class ReadStats:
    reads: int = 0  # run
    not_ok: int = 0
    slow: int = 0  # ok, and later than slow_ms from the schedule
    dropped: int = 0  # still waiting for a worker at the deadline: not run
    latency_ms: list[float] = field(default_factory=list)  # ok reads, from the schedule
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def summary(self, slow_ms: float) -> dict[str, Any]:
        """``slow_share``: of the reads offered, those that kept their user waiting longer than
        ``slow_ms``, those that failed and those never run (a read that fails at once is no fast
        read); the latency spread is over the reads that returned."""
        offered = self.reads + self.dropped
        late = self.slow + self.not_ok + self.dropped
        return {
            "reads": self.reads,
            "not_ok": self.not_ok,
            "dropped": self.dropped,
            "slow_ms": slow_ms,
            "slow_share": round(late / offered, 4) if offered else None,
            "read_latency_ms": spread(self.latency_ms),
        }


@dataclass(frozen=True)
class ReadConfig:
    reads_per_s: float
    duration_s: float
    workers: int
    slow_ms: float
    hint: str
    drain_s: float = 5.0


class DashboardReads:
    """The read schedule and its workers over one collection (pymongo's pool serves the threads)."""

    def __init__(
        self,
        coll: Collection[dict[str, Any]],
        recorder: HistoryRecorder,
        clock: RunClock,
        cfg: ReadConfig,
        variant: str,
        pick: Callable[[], str],
    ) -> None:
        self.coll = coll
        self.rec = recorder
        self.clock = clock
        self.cfg = cfg
        self.variant = variant
        self.pick = pick
        self.stats = ReadStats()
        self.driver_stats = DriverStats()
        self._q: queue.SimpleQueue[tuple[str, int] | None] = queue.SimpleQueue()

    def run(self) -> DriverStats:
        cfg = self.cfg
        fed_open_loop(
            self.clock,
            self._q,
            [self._work] * cfg.workers,
            self._hand,
            rate=cfg.reads_per_s,
            duration_s=cfg.duration_s,
            drain_s=cfg.drain_s,
            stats=self.driver_stats,
            name="dashboard",
        )
        return self.driver_stats

    def _hand(self, sched: list[int]) -> None:
        for s_ns in sched:
            self._q.put((self.pick(), s_ns))

    def _work(self, deadline_ns: int) -> None:
        serve(self._q, self.clock, deadline_ns, lambda item: self.read(*item), self._late)

    def _late(self) -> None:
        with self.stats.lock:
            self.stats.dropped += 1

    def read(self, tenant: str, sched_ns: int) -> None:
        """One dashboard read, recorded and timed from its schedule."""
        now_ms = self.clock.wall_ms_at(self.clock.now_ns())
        query = DashboardQuery(tenant, now_ms - HOUR_MS, self.cfg.hint)
        op = self.rec.invoke(
            PROCESS, "dashboard", tenant=tenant, sched_ns=sched_ns, read_pref="primary",
            since_ms=query.since_ms, now_ms=now_ms, variant=self.variant,
        )  # fmt: skip
        try:
            docs = query.run(self.coll)
        except PyMongoError as exc:
            res = exception_outcome(exc)
            done = self.clock.now_ns()
            self.rec.complete(op, res.outcome, PROCESS, "dashboard", time_ns=done, error=res.error)
            self._tally(sched_ns, done, ok=False)
            return
        done = self.clock.now_ns()
        self.rec.complete(
            op, OpType.OK, PROCESS, "dashboard", time_ns=done, count=len(docs),
            ids=[d.get("event_id") for d in docs], tenants=[d.get("tenant_id") for d in docs],
        )  # fmt: skip
        self._tally(sched_ns, done, ok=True)

    def _tally(self, sched_ns: int, done_ns: int, *, ok: bool) -> None:
        ms = (done_ns - sched_ns) / 1e6
        st = self.stats
        with st.lock:
            st.reads += 1
            if not ok:
                st.not_ok += 1
                return
            st.latency_ms.append(ms)
            st.slow += ms > self.cfg.slow_ms


def uniform_tenants(names: Sequence[str], rng: random.Random) -> Callable[[], str]:
    """Each read's tenant, uniformly over ``names`` from the seeded ``rng`` (one caller: the schedule)."""
    pool = list(names)
    return lambda: pool[rng.randrange(len(pool))]
