"""Events inserted through mongos into an ``events`` collection sharded on the variant's own key,
with dashboard reads beside them when asked: the MongoDB halves of the hot-partition (case study 1)
and cross-shard-query (case study 6) studies.

Before the load (:meth:`ShardedEvents.prepare`): ``events`` is dropped and created again sharded on
the variant's key, with initial chunks made by zones when the key is ranged on ``tenant_id``
(:mod:`harness.topology.mongo_presplit`; since 6.0.3 nothing splits chunks as data arrives), the
chunks per shard read back, and mongos's plan for the dashboard query explained for a sample of
tenants. During it: events at the profile's rate, open loop, in unordered ``insert_many``
batches handed to ``write_workers`` threads (:class:`~harness.workload.mongo_plane.ingest.MongoIngestor`:
one ``insert`` op per event and attempt, an unknown outcome resent with the same ``event_id``),
every shard primary's insert counter sampled once a second (:mod:`.shard_load`), and the
dashboard reads on their own schedule (:mod:`.shard_reads`). After healing: every tenant's stored
events read back (``final_events``) for acknowledged-writes-survive and no-duplicates.

The write-sharding fix of case study 1, in the form the guide's shard key analysis gives it
(Part XIII, "Hot Partition Risk Mitigation": for a tenant above ~1% of the traffic, a suffix
``hash(event_id) % N`` in the shard key): a ``shard_suffix`` field, ``hash(event_id) % N`` for a
hot tenant and 0 for every other, under the key ``{tenant_id: 1, shard_suffix: 1, event_time: 1}``.
Kept as its own field rather than pasted into ``tenant_id`` so the tenant still leads the key (its
queries stay targeted to the shards of its suffixes, and every ``tenant_id``-first index still
serves it); hashed from ``event_id`` rather than drawn at random (the DynamoDB version in case
study 1) so a resend of an event carries the same suffix and the idempotency index, which must
start with the shard key, still refuses the copy.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pymongo import MongoClient

from harness.clients.mongo_explain import Targeting
from harness.clients.mongo_stats import chunk_distribution
from harness.clock import RunClock
from harness.history.recorder import HistoryRecorder
from harness.ops import OpType
from harness.topology import mongo as mongo_nodes
from harness.topology.mongo_presplit import SUFFIX_FIELD, ZoneRange, split_tenant, zone_ranges
from harness.topology.mongo_spec import CollectionSpec
from harness.workload.engine.openloop import DriverStats, Progress, run_schedule
from harness.workload.engine.profile import RateProfile
from harness.workload.model.generator import Event, EventGenerator, hash_tenant
from harness.workload.mongo_plane.final_reads import FinalReader
from harness.workload.mongo_plane.ingest import (
    IDEMPOTENCY_INDEX,
    IDEMPOTENCY_KEY,
    MongoIngestConfig,
    MongoIngestor,
)
from harness.workload.mongo_plane.shard_load import ShardCounters, load_figures, shard_inserts
from harness.workload.mongo_plane.shard_reads import (
    DashboardQuery,
    DashboardReads,
    ReadConfig,
    explain_figures,
    explain_sample,
    spread,
)

Client = MongoClient[dict[str, Any]]


def shard_suffix(event_id: str, parts: int) -> int:
    """The event's write-sharding suffix, ``0..parts-1``: the same for every send of the event."""
    return hash_tenant(event_id) % parts


def suffix_fields(hot: Mapping[str, int]) -> Callable[[Event], dict[str, int]]:
    """``{shard_suffix: n}`` for each document: spread over ``hot[tenant]`` values for a hot tenant,
    0 for every other."""

    def fields(ev: Event) -> dict[str, int]:
        parts = hot.get(ev.tenant, 1)
        return {SUFFIX_FIELD: shard_suffix(ev.event_id, parts) if parts > 1 else 0}

    return fields


def events_zones(
    key: Mapping[str, Any], shards: Sequence[str], tenants: int, chunks_per_shard: int, hot: Mapping[str, int]
) -> list[ZoneRange]:
    """The initial chunks of ``events`` on ``key``: the tenant ranges dealt to the shards in turn,
    and each hot tenant's suffixes cut out and dealt in turn too when the key carries the suffix."""
    ranges = zone_ranges(key, shards, tenants, chunks_per_shard)
    if SUFFIX_FIELD in key:
        for tenant, parts in sorted(hot.items()):
            ranges = split_tenant(ranges, key, tenant, parts, shards)
    return ranges


@dataclass(frozen=True)
class ShardedConfig:
    profile: RateProfile
    duration_s: float
    spec: CollectionSpec  # ``events`` on the variant's shard key
    tenants: int
    chunks_per_shard: int
    hot: Mapping[str, int] = field(default_factory=dict)  # tenant -> write-sharding suffixes
    whale: str | None = None
    max_batch: int = 200
    write_workers: int = 4
    drain_s: float = 10.0
    reads: ReadConfig | None = None
    explain_tenants: tuple[str, ...] = ()

    @property
    def rate(self) -> float:
        return self.profile.peak()


@dataclass
class _Tally:
    """The inserts' outcomes per event (its last attempt), latencies and what was never sent."""

    latency_ms: list[float] = field(default_factory=list)
    dropped: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class ShardedEvents:
    """One variant's load; see the module docstring."""

    def __init__(
        self,
        plane: mongo_nodes.MongoPlane,
        clients: tuple[Client, Client],  # writers, readers (pools of their own)
        recorder: HistoryRecorder,
        clock: RunClock,
        cfg: ShardedConfig,
        variant: str,
        gen: EventGenerator,
        pick_reader: Callable[[], str],
    ) -> None:
        self.plane, self.rec, self.clock, self.cfg, self.variant = plane, recorder, clock, cfg, variant
        self.client, read_client = clients
        self.gen = gen
        database = plane.spec.load_collections().database
        ingest = MongoIngestConfig(
            batch_size=cfg.max_batch,
            retry_backoff_s=0.2,
            record_docs=False,
            database=database,
            idempotency_key=idempotency_key(cfg.spec),
        )
        extra = suffix_fields(cfg.hot) if SUFFIX_FIELD in (cfg.spec.shard_key or {}) else None
        self.writers = [
            MongoIngestor(self.client, recorder, clock, ingest, variant, extra_fields=extra)
            for _ in range(cfg.write_workers)
        ]
        self.reads = (
            None
            if cfg.reads is None
            else DashboardReads(
                read_client[database]["events"], recorder, clock, cfg.reads, variant, pick_reader
            )
        )
        self.read_db = read_client[database]
        self.counters = ShardCounters(plane)
        self.tally = _Tally()
        self.stats = DriverStats()
        self.chunks: dict[str, int] = {}
        self.explained: list[tuple[str, Targeting | str]] = []
        self.errors: list[str] = []
        self._q: queue.SimpleQueue[tuple[list[Event], list[int]] | None] = queue.SimpleQueue()

    # -- before the load ------------------------------------------------------------------------

    def prepare(self, ddl: Client) -> None:
        """``events`` created again on the variant's key with its initial chunks, the chunks per
        shard read back, and the dashboard query explained for the sample of tenants."""
        cfg, plane = self.cfg, self.plane
        shards = [rs.name for rs in plane.shards()]
        key = cfg.spec.shard_key or {}
        zones = events_zones(key, shards, cfg.tenants, cfg.chunks_per_shard, cfg.hot)
        mongo_nodes.recreate_collection(ddl, plane, cfg.spec, zones)
        database = plane.spec.load_collections().database
        self.chunks = chunk_distribution(ddl, f"{database}.events")
        if cfg.reads is not None or cfg.explain_tenants:
            now_ms = self.clock.wall_ms_at(self.clock.now_ns())
            hint = cfg.reads.hint if cfg.reads is not None else _dashboard_hint(cfg.spec)
            queries = [DashboardQuery(t, now_ms - 3_600_000, hint) for t in cfg.explain_tenants]
            self.explained = explain_sample(self.read_db, queries)

    # -- the load -------------------------------------------------------------------------------

    def run(self, progress: Progress | None = None) -> DriverStats:
        cfg = self.cfg
        deadline = self.clock.now_ns() + int((cfg.duration_s + cfg.drain_s) * 1e9)
        writers = [
            threading.Thread(
                target=self._write_loop, args=(w, deadline), name=f"sharded-insert-{i}", daemon=True
            )
            for i, w in enumerate(self.writers)
        ]
        reader = threading.Thread(target=self._read_schedule, name="sharded-reads", daemon=True)
        self.counters.start()
        for t in writers:
            t.start()
        if self.reads is not None:
            reader.start()
        try:
            run_schedule(self.clock, cfg, stats=self.stats, send=self._hand, on_progress=progress)
        finally:
            for _ in writers:
                self._q.put(None)
            for t in writers:
                t.join(timeout=cfg.duration_s + cfg.drain_s + 60)
            if reader.is_alive():
                reader.join(timeout=cfg.duration_s + 60)
            self.counters.stop()
        self.stats.unsent += self.tally.dropped
        return self.stats

    def _hand(self, first_seq: int, sched: list[int], _backlog: list[Any]) -> None:
        times_ms = [self.clock.wall_ms_at(s) for s in sched]
        self._q.put((self.gen.batch(first_seq, times_ms), sched))

    def _write_loop(self, writer: MongoIngestor, deadline_ns: int) -> None:
        while True:
            events, sched, last = self._take()
            if self.clock.now_ns() > deadline_ns:  # not sent: never offered to the servers
                with self.tally.lock:
                    self.tally.dropped += len(events)
            elif events:
                self._write(writer, events, sched)
            if last:
                return

    def _take(self) -> tuple[list[Event], list[int], bool]:
        """The next schedule batch, joined by those already waiting up to ``max_batch`` events: the
        open loop hands over every event the moment it is due (one or two at this rate), and a
        writer that fell behind catches up in whole insert_many batches, not one round trip per
        event. The flag: the end of the schedule was taken."""
        events: list[Event] = []
        sched: list[int] = []
        item = self._q.get()
        while item is not None:
            events += item[0]
            sched += item[1]
            if len(events) >= self.cfg.max_batch:
                return events, sched, False
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                return events, sched, False
        return events, sched, True

    def _write(self, writer: MongoIngestor, events: list[Event], sched: list[int]) -> None:
        try:
            outcomes = writer.write(events, sched)
        except Exception as exc:  # recorded per op by the writer; the schedule goes on
            self.errors.append(f"insert batch: {type(exc).__name__}: {exc}")
            return
        done = self.clock.now_ns()
        with self.tally.lock:
            for res, s_ns in zip(outcomes, sched, strict=True):
                self.stats.outcomes[res.outcome.value] += 1
                if res.outcome is OpType.OK:
                    self.stats.admitted += 1
                    self.tally.latency_ms.append((done - s_ns) / 1e6)

    def _read_schedule(self) -> None:
        assert self.reads is not None
        try:
            self.reads.run()
        except Exception as exc:  # reported in the summary; the inserts go on
            self.errors.append(f"read schedule: {type(exc).__name__}: {exc}")

    # -- after it -------------------------------------------------------------------------------

    def final_reads(self) -> int:
        """Every tenant written: its stored events (``final_events``); returns those never read."""
        tenants = sorted({t for w in self.writers for t in w.written})
        reader = FinalReader(self.client, self.rec, self.clock, self.variant)
        return len(reader.final_events(tenants))

    def summary(self) -> dict[str, Any]:
        cfg = self.cfg
        shards = [rs.name for rs in self.plane.shards()]
        counted = shard_inserts(self.counters.samples)
        sent = sum(w.stats.attempts for w in self.writers)
        out: dict[str, Any] = {
            "shard_key": dict(cfg.spec.shard_key or {}),
            "suffixes": dict(cfg.hot) if SUFFIX_FIELD in (cfg.spec.shard_key or {}) else {},
            "chunks": dict(self.chunks),
            **load_figures(counted.total, shards, sent),
            "inserts_per_s": counted.per_second,
            "primary_changes": counted.primary_changes,
            "counter_misses": dict(self.counters.misses),
            "insert_latency_ms": spread(self.tally.latency_ms),
            "insert_outcomes": dict(self.stats.outcomes),
            "explain": explain_figures(self.explained, len(shards), cfg.whale),
        }
        if self.reads is not None:
            out["reads"] = self.reads.stats.summary(self.reads.cfg.slow_ms)
        if self.errors:
            out["errors"] = list(self.errors)
        return out


def idempotency_key(spec: CollectionSpec) -> tuple[str, ...]:
    """The fields of the collection's idempotency index, as a duplicate-key error names them."""
    found = [tuple(i.key) for i in spec.indexes if i.index_name == IDEMPOTENCY_INDEX]
    return found[0] if found else IDEMPOTENCY_KEY


def _dashboard_hint(spec: CollectionSpec) -> str:
    return spec.full_index_name({"tenant_id": 1, "event_time": -1})
