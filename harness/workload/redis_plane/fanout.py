"""Per-tenant reads over a tenant's bucket keys: the cross-shard-query case study's Redis analog.

A tenant's activity is kept in ``buckets`` counter keys (say its twelve five-minute buckets of the
last hour). The query "this tenant's total" reads all of them:

* ``tagged`` — the keys share the tenant's hash tag (``fan:{t:<tenant>}:b<i>``): one slot, one
  node, one round trip. The shard key is in the query.
* ``spread`` — no hash tag (``fan:<tenant>:b<i>``): the keys hash over the whole cluster and the
  read is a scatter-gather, a ``GET`` per key sent to every node that holds one, all sent before
  any reply is read (:class:`SlotRouter`), so it takes as long as its slowest node.

Ops (process ``fanout``): writes are ``incr`` ops of the increments workload on the same keys, so
``acknowledged-increments-survive`` judges them. Reads are ``tenant_read``: invoke ``tenant``,
``keys`` (how many), ``layout``, ``sched_ns``; ``ok`` ``value`` = the total and ``nodes`` = the
nodes that answered; a read with any reply not ok completes with the worst outcome (``info`` over
``fail``) and the first error. Reads run on ``workers`` threads, each with its own router, fed by
one open-loop schedule: one slow read holds up no other, and latency counts from the schedule.
"""

from __future__ import annotations

import functools
import queue
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from harness.clients.redis_router import Reply, SlotRouter, failed
from harness.clock import RunClock
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.workload.engine.handoff import fed_open_loop, serve
from harness.workload.engine.openloop import DriverStats

Layout = Literal["tagged", "spread"]
LAYOUTS: tuple[Layout, ...] = ("tagged", "spread")
PROCESS = "fanout"


def bucket_keys(tenant: str, buckets: int, layout: Layout) -> list[str]:
    """The tenant's bucket keys: one hash tag (``tagged``) or none (``spread``)."""
    tag = f"{{t:{tenant}}}" if layout == "tagged" else tenant
    return [f"fan:{tag}:b{i}" for i in range(buckets)]


def tenant_name(i: int) -> str:
    return f"t{i:05d}"


def bucket_picker(tenants: int, buckets: int, layout: Layout) -> Callable[[random.Random], str]:
    """A write's key: a uniformly drawn tenant's uniformly drawn bucket."""

    def pick(rng: random.Random) -> str:
        return bucket_keys(tenant_name(rng.randrange(tenants)), buckets, layout)[rng.randrange(buckets)]

    return pick


@dataclass(frozen=True)
class FanoutConfig:
    reads_per_s: float
    duration_s: float
    tenants: int
    buckets: int
    layout: Layout
    workers: int = 8
    slow_ms: float = 50.0  # a read slower than this, from its schedule, counts as slow
    drain_s: float = 5.0

    def __post_init__(self) -> None:
        if self.reads_per_s <= 0 or self.tenants < 1 or self.buckets < 1 or self.workers < 1:
            raise ValueError("reads_per_s, tenants, buckets and workers must be positive")
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout {self.layout!r}: one of {', '.join(LAYOUTS)}")


@dataclass
class FanoutStats:
    reads: int = 0
    not_ok: int = 0
    slow: int = 0
    dropped: int = 0  # reads still waiting for a worker at the deadline: not run
    nodes: dict[int, int] = field(default_factory=dict)  # nodes touched -> reads
    latency_ms: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def summary(self, slow_ms: float) -> dict[str, Any]:
        touched = sum(n * c for n, c in self.nodes.items())
        ok = sum(self.nodes.values())
        return {
            "reads": self.reads,
            "not_ok": self.not_ok,
            "dropped": self.dropped,
            "nodes_per_read_mean": round(touched / ok, 3) if ok else None,
            "nodes_per_read_max": max(self.nodes, default=None),
            "slow_ms": slow_ms,
            "slow_share": round(self.slow / self.reads, 4) if self.reads else None,
            "read_latency_ms": _spread(self.latency_ms),
        }


class TenantReads:
    """The read schedule and its workers (see the module doc)."""

    def __init__(
        self,
        routers: Sequence[SlotRouter],
        recorder: HistoryRecorder,
        clock: RunClock,
        cfg: FanoutConfig,
        variant: str,
        rng: random.Random,
    ) -> None:
        if len(routers) != cfg.workers:
            raise ValueError(f"{cfg.workers} workers need as many routers, got {len(routers)}")
        self.routers = list(routers)
        self.rec = recorder
        self.clock = clock
        self.cfg = cfg
        self.variant = variant
        self.rng = rng
        self.stats = FanoutStats()
        self.driver_stats = DriverStats()
        self._q: queue.SimpleQueue[tuple[str, int] | None] = queue.SimpleQueue()

    def run(self) -> DriverStats:
        cfg = self.cfg
        fed_open_loop(
            self.clock,
            self._q,
            [functools.partial(self._work, router) for router in self.routers],
            self._hand,
            rate=cfg.reads_per_s,
            duration_s=cfg.duration_s,
            drain_s=cfg.drain_s,
            stats=self.driver_stats,
            name="fanout",
        )
        return self.driver_stats

    def _hand(self, sched: list[int]) -> None:
        for s_ns in sched:
            self._q.put((tenant_name(self.rng.randrange(self.cfg.tenants)), s_ns))

    def _work(self, router: SlotRouter, deadline_ns: int) -> None:
        serve(self._q, self.clock, deadline_ns, lambda item: self.read(router, *item), self._late)

    def _late(self) -> None:
        with self.stats.lock:
            self.stats.dropped += 1

    def read(self, router: SlotRouter, tenant: str, sched_ns: int) -> None:
        """One scatter-gather (or single-node) read of the tenant's total, recorded."""
        cfg = self.cfg
        keys = bucket_keys(tenant, cfg.buckets, cfg.layout)
        op = self.rec.invoke(
            PROCESS,
            "tenant_read",
            tenant=tenant,
            keys=len(keys),
            layout=cfg.layout,
            variant=self.variant,
            sched_ns=sched_ns,
        )
        replies = router.execute([("GET", k) for k in keys], keys)
        done = max(r.done_ns for r in replies)
        nodes = len({r.node for r in replies if r.node is not None})
        bad = failed(replies)
        if bad is not None:
            self.rec.complete(op, bad[0], PROCESS, "tenant_read", time_ns=done, error=bad[1])
        else:
            total = sum(_count(r) for r in replies)
            self.rec.complete(op, OpType.OK, PROCESS, "tenant_read", time_ns=done, value=total, nodes=nodes)
        self._tally(sched_ns, done, None if bad else nodes)

    def _tally(self, sched_ns: int, done_ns: int, nodes: int | None) -> None:
        ms = (done_ns - sched_ns) / 1e6
        st = self.stats
        with st.lock:
            st.reads += 1
            st.latency_ms.append(ms)
            st.slow += ms > self.cfg.slow_ms
            if nodes is None:
                st.not_ok += 1
            else:
                st.nodes[nodes] = st.nodes.get(nodes, 0) + 1


def _spread(values_ms: list[float]) -> dict[str, float | None]:
    """p50 to max: how far a slow node's share of the reads reaches shows between p50 and p99."""
    names = ("p50", "p75", "p90", "p99")
    if not values_ms:
        return dict.fromkeys((*names, "max"), None)
    arr = np.asarray(values_ms)
    out: dict[str, float | None] = {
        n: round(float(v), 3) for n, v in zip(names, np.percentile(arr, [50, 75, 90, 99]), strict=True)
    }
    return out | {"max": round(float(arr.max()), 3)}


def _count(reply: Reply) -> int:
    v = reply.value
    return 0 if v is None else int(v)
