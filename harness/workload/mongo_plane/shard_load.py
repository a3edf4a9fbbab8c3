"""Inserts per shard from the shards' own counters: ``serverStatus.opcounters.insert`` of each
shard's primary, sampled once a second over the observer path (each member's direct address, so a
toxic on the data path never blinds it), and the figures the hot-partition case study reads from
them: each shard's share, the busiest one's, the imbalance ratio.

What the counter counts (the server manual and SERVER-3817, DOCS-4551): one per document a
primary was asked to insert, a bulk insert's documents each, a duplicate-key refusal included; a
secondary counts its replicated writes elsewhere (``opcountersRepl``), so only primaries are read.
Its value is since the process started: a sample lower than the one before means a restart, and
the new value is what was counted since. A shard whose primary changes mid-run starts again from
the new primary's first sample (what it took between the old one's last sample and that is not
seen), and the change is counted.

A share is only as good as the counts under it, so the figures are withheld (``None``, with the
reason in ``unjudged``) when a shard was never sampled, when nothing was inserted, or when the
shards together counted far more or fewer inserts than the driver sent (counters read from the
wrong node, a shard missed): a busiest share over half the data would look like a hot shard.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo.errors import PyMongoError

from harness.clients.mongo_stats import opcounters
from harness.topology.mongo import MongoPlane

#: The shards' counts must cover the documents sent within this ratio to be judged.
COVERAGE = (0.9, 1.1)


@dataclass(frozen=True)
class CounterSample:
    t_s: float  # since the sampler started
    shard: str
    node: str  # the member that was primary when sampled
    inserts: int  # its opcounters.insert


@dataclass(frozen=True)
class ShardInserts:
    """What the samples say: inserts per shard, inserts/s per shard between samples, and how
    often a shard's primary changed."""

    total: dict[str, int]
    per_second: dict[str, list[float]]
    primary_changes: int


def shard_inserts(samples: Sequence[CounterSample]) -> ShardInserts:
    """Each shard's inserts over ``samples`` (in time order), as the module docstring says."""
    total: dict[str, int] = {}
    series: dict[str, list[float]] = {}
    last: dict[str, CounterSample] = {}  # per shard, its previous sample
    changes = 0
    for s in samples:
        total.setdefault(s.shard, 0)
        series.setdefault(s.shard, [])
        prev = last.get(s.shard)
        last[s.shard] = s
        if prev is None:
            continue  # the baseline
        if prev.node != s.node:
            changes += 1  # a new primary: its own counter, from this sample on
            continue
        delta = s.inserts - prev.inserts if s.inserts >= prev.inserts else s.inserts  # restarted
        total[s.shard] += delta
        dt = s.t_s - prev.t_s
        series[s.shard].append(round(delta / dt, 1) if dt > 0 else 0.0)
    return ShardInserts(total, series, changes)


def load_figures(inserts: Mapping[str, int], shards: Sequence[str], sent: int) -> dict[str, Any]:
    """Per-shard inserts and shares, the busiest shard and its share, and the imbalance ratio
    (busiest share over the mean share: 1.0 is even, ``len(shards)`` is everything on one shard),
    over every shard of the cluster; withheld as the module docstring says. ``sent``: documents
    the driver sent (every attempt)."""
    counted = sum(inserts.values())
    out: dict[str, Any] = {
        "shards": len(shards),
        "inserts_per_shard": {s: inserts.get(s) for s in shards},
        "counted_inserts": counted,
        "sent_inserts": sent,
        "coverage": round(counted / sent, 4) if sent else None,
        "share_per_shard": dict.fromkeys(shards),
        "busiest_shard": None,
        "busiest_share": None,
        "imbalance_ratio": None,
    }
    missing = [s for s in shards if s not in inserts]
    problem = None
    if missing:
        problem = f"no counters from {', '.join(missing)}"
    elif not sent:
        problem = "nothing was inserted"
    elif not COVERAGE[0] <= counted / sent <= COVERAGE[1]:
        problem = (
            f"the shards counted {counted} inserts for {sent} documents sent: outside "
            f"{COVERAGE[0]:g}-{COVERAGE[1]:g}, so the counters do not stand for this run's writes"
        )
    if problem is not None:
        return out | {"unjudged": problem}
    shares = {s: inserts[s] / counted for s in shards}
    busiest = max(shards, key=lambda s: (shares[s], s))
    return out | {
        "share_per_shard": {s: round(v, 4) for s, v in shares.items()},
        "busiest_shard": busiest,
        "busiest_share": round(shares[busiest], 4),
        "imbalance_ratio": round(shares[busiest] * len(shards), 4),
    }


@dataclass
class ShardCounters:
    """Samples every shard primary's insert counter once per ``interval_s`` in a thread of its
    own until stopped; also samples once at start and once at stop, so the samples span the run."""

    plane: MongoPlane
    interval_s: float = 1.0
    samples: list[CounterSample] = field(default_factory=list)
    misses: dict[str, str] = field(default_factory=dict)  # shard -> the last reason it was not read
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _t0: float = 0.0
    _now: Callable[[], float] = time.monotonic

    def sample(self) -> None:
        t = self._now() - self._t0
        for rs in self.plane.shards():
            node = self.plane.primary(rs.name)
            if node is None:
                self.misses[rs.name] = "no member reported itself primary"
                continue
            try:
                count = opcounters(node.admin())["insert"]
            except PyMongoError as exc:
                self.misses[rs.name] = f"{node.name}: {type(exc).__name__}: {exc}"
                continue
            self.samples.append(CounterSample(round(t, 3), rs.name, node.name, count))

    def start(self) -> None:
        self._t0 = self._now()
        self.sample()
        self._thread = threading.Thread(target=self._loop, name="shard-counters", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        next_at = self._now() + self.interval_s
        while not self._stop.wait(max(0.0, next_at - self._now())):
            self.sample()
            next_at += self.interval_s

    def stop(self) -> None:
        if self._thread is None or self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=10)
        self.sample()
