"""The platform workload's configuration, its read statistics, and the protocols of the services
it drives (:mod:`harness.workload.platform.driver` runs them)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from harness.workload.engine.backpressure import Mode
from harness.workload.engine.openloop import DriverStats, Progress
from harness.workload.engine.profile import RateProfile, constant
from harness.workload.model.generator import Event
from harness.workload.redis_plane.reads import RywMode

MongoRywMode = Literal["secondary", "primary", "causal", "write_through"]  # ryw.MODES
ReadKind = Literal["counters", "timeline", "unique_users", "dashboard", "profile", "mongo"]
READ_KINDS: tuple[ReadKind, ...] = ("counters", "timeline", "unique_users", "dashboard", "profile", "mongo")


class MongoWriter(Protocol):
    """The MongoDB side of ingestion (events and audit records), when that plane runs."""

    def write(self, events: Sequence[Event], sched_ns: Sequence[int]) -> None: ...


class ProfileReader(Protocol):
    """One read-your-writes step on ``user``'s profile (write, then read back by the same session)
    in a MongoDB mode; True when the write was acknowledged."""

    def step(self, tenant: str, user: str, sched_ns: int) -> bool: ...


class SessionSchedule(Protocol):
    """The sessions schedule: bounded by its own duration and drain."""

    stats: DriverStats
    counter_keys: set[str]

    def run(self, on_progress: Progress | None = None) -> DriverStats: ...


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
    ryw_mode: RywMode | MongoRywMode = "master"  # a MongoDB mode reads through ``profiles``
    ryw_wait_ms: int = 100  # replica_after_wait: how long WAIT 1 may take before the master is read
    #: 0: the Redis reads run on the query schedule's thread; N: on N threads of their own, each
    #: with its own connections (readers are concurrent: two may miss one cache key at once, and
    #: one profile step waiting on WAIT must not hold up the others)
    read_workers: int = 0
    users_per_tenant: int = 50
    sessions_per_s: float = 0.0
    profile: RateProfile | None = None  # None: constant at ``rate``
    queue_capacity: int = 0  # events; 0 = no ingest queue (the loop ingests inline)
    queue_mode: Mode = "shed"

    def ingest_profile(self) -> RateProfile:
        return self.profile if self.profile is not None else constant(self.rate)

    def __post_init__(self) -> None:
        if self.queue_capacity < 0:
            raise ValueError("queue_capacity cannot be negative")
        if self.read_workers < 0:
            raise ValueError("read_workers cannot be negative")
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
    mongo_dropped: int = 0  # MongoDB queries drawn but still waiting for their thread at the deadline
    redis_dropped: int = 0  # Redis reads drawn but still waiting for a read worker at the deadline
