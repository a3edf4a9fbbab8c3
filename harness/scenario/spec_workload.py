"""The ``workload`` section of a scenario file: which kind of workload, its rate and its shape."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.workload.engine.profile import ProfileError, RateProfile, constant, parse_profile


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WhaleSpec(Strict):
    tenant: str = Field(default="whale", pattern=r"^[A-Za-z0-9_-]+$")
    share: float = Field(gt=0, lt=1, description="fraction of all events the whale sends")
    limit: int | None = Field(
        default=None, gt=0, description="the whale's own limit per window (events, platform: required)"
    )

    def limits(self) -> dict[str, int]:
        """The rate limiter's per-tenant limit for the whale (none without one)."""
        return {self.tenant: self.limit} if self.limit is not None else {}


#: Workload fields only some kinds read; another kind refuses them, so a misplaced one is not
#: silently ignored.
ONLY_FOR: dict[str, tuple[str, ...]] = {
    "reads_per_s": ("platform", "tenant_reads", "sharded_events"),
    "sessions_per_s": ("platform",),
    "read_mix": ("platform",),
    "mongo_batch": ("platform",),
    "mongo_retry_backoff_ms": ("platform",),
    "cache_origin": ("platform",),
    "read_workers": ("platform", "tenant_reads", "sharded_events"),
    "buckets": ("tenant_reads",),
    "slow_ms": ("tenant_reads", "sharded_events"),
    "retention_ms": ("growth", "mongo_growth"),
    "payload_bytes": ("growth", "mongo_growth"),
}


class WorkloadSpec(Strict):
    """``events``: the ingestion path (limiter, then counter) over Zipf tenants, as hot-partition
    plays it. ``increments``: steady INCRs over ``keys`` counters, the failover scenarios' load.
    ``sessions``: the session store. ``platform``: the whole platform (ingestion's full per-event
    work on both planes, the query mix with its cache, sessions; :mod:`harness.workload.platform.driver`).
    ``tenant_reads``: INCRs into every tenant's bucket keys while per-tenant totals are read, on one
    node or by scatter-gather as the variant's ``key_layout`` says
    (:mod:`harness.workload.redis_plane.fanout`). ``growth``: events stored as keys, with or without
    their retention as the variant's ``expire`` says (:mod:`harness.workload.redis_plane.growth`).
    ``mongo_growth``: events stored as MongoDB documents, removed as the variant's ``mongo_retention``
    says (:mod:`harness.workload.mongo_plane.growth`). ``sharded_events``: events inserted through
    mongos into ``events`` sharded on each variant's ``shard_key``, dashboard reads beside them
    (:mod:`harness.workload.mongo_plane.sharded_events`)."""

    kind: Literal[
        "events",
        "increments",
        "sessions",
        "platform",
        "tenant_reads",
        "growth",
        "mongo_growth",
        "sharded_events",
    ] = "events"
    rate: float = Field(gt=0, le=200_000, description="offered events per second")
    duration_s: float = Field(gt=0, le=3600)
    tenants: int = Field(default=10_000, ge=1, le=1_000_000)
    zipf_s: float = Field(default=0.8, ge=0, le=3)
    whale: WhaleSpec | None = None
    limit: int | None = Field(default=None, gt=0, description="per-tenant limit per window (events)")
    window_ms: int | None = Field(default=None, gt=0, description="limiter window (events)")
    keys: int = Field(default=1000, ge=1, le=1_000_000, description="counter keys (increments)")
    sessions: int = Field(default=2000, ge=1, le=1_000_000, description="user sessions (sessions)")
    session_ttl_s: int = Field(default=60, ge=1, le=86_400, description="sliding TTL (sessions)")
    max_batch: int = Field(default=400, ge=1, le=10_000)
    users_per_tenant: int = Field(default=50, ge=1, le=100_000, description="platform: users per tenant")
    reads_per_s: float = Field(
        default=0, ge=0, le=50_000, description="platform: the query mix's rate; tenant_reads: reads a second"
    )
    read_workers: int = Field(
        default=0,
        ge=0,
        le=64,
        description="platform: threads of their own for the Redis reads of the mix (0: on the query "
        "thread), so two can miss one cache key at once and a step waiting on WAIT holds up no other; "
        "tenant_reads: threads reading, each with its own connections",
    )
    buckets: int = Field(default=12, ge=1, le=1000, description="tenant_reads: bucket keys per tenant")
    retention_ms: int = Field(
        default=3000,
        ge=1,
        le=86_400_000,
        description="growth, mongo_growth: how long an event may live (its class)",
    )
    payload_bytes: int = Field(
        default=512, ge=1, le=1_000_000, description="growth, mongo_growth: each event's size"
    )
    slow_ms: float = Field(
        default=50,
        gt=0,
        le=60_000,
        description="tenant_reads: a read slower than this from its schedule is slow",
    )
    read_mix: dict[
        Literal["counters", "timeline", "unique_users", "dashboard", "profile", "mongo"], float
    ] = Field(default_factory=dict, description="platform: relative weights of the read kinds")
    sessions_per_s: float = Field(default=0, ge=0, le=50_000, description="platform: session requests")
    cache_origin: Literal["auto", "redis"] = Field(
        default="auto",
        description="platform: what the dashboard cache loads from: auto is the capstone's MongoDB "
        "dashboard query when that plane runs, else the tenant's Redis counters; redis always the latter",
    )
    cache_ttl_ms: int = Field(default=2000, ge=1, le=3_600_000, description="platform: the dashboard cache")
    profile: dict[str, Any] | None = Field(
        default=None,
        description="the offered rate over time instead of a constant one: {kind: constant|steps|ramp|spike}",
    )
    mongo_batch: int = Field(default=500, ge=1, le=100_000, description="platform: events per insert_many")
    mongo_retry_backoff_ms: int = Field(
        default=50,
        ge=0,
        le=60_000,
        description="platform: pause before an insert of unknown outcome is sent again (3 attempts in all)",
    )
    aggregate_every_s: float = Field(default=5, gt=0, le=3600, description="platform: rollup period")

    @model_validator(mode="after")
    def _kind_fields(self) -> WorkloadSpec:
        limited = ("events", "platform")
        if self.kind in limited and (self.limit is None or self.window_ms is None):
            raise ValueError(f"an {self.kind} workload needs limit and window_ms (the rate limiter's)")
        if self.kind in limited and self.whale is not None and self.whale.limit is None:
            raise ValueError(f"whale.limit: an {self.kind} workload's whale needs its own limit per window")
        if self.kind not in (*limited, "sharded_events") and self.whale is not None:
            raise ValueError("whale applies to events, platform and sharded_events workloads only")
        extras = [f for f, kinds in ONLY_FOR.items() if f in self.model_fields_set and self.kind not in kinds]
        if extras:
            *most, last = ONLY_FOR[extras[0]]
            kinds = f"{', '.join(most)} and {last}" if most else last
            raise ValueError(f"{', '.join(extras)} apply to {kinds} workloads only")
        if self.kind == "mongo_growth" and self.retention_ms % 1000:
            raise ValueError(
                "retention_ms: a mongo_growth retention must be whole seconds (a TTL index's "
                "expireAfterSeconds counts seconds)"
            )
        if self.kind == "tenant_reads" and self.reads_per_s <= 0:
            raise ValueError("a tenant_reads workload needs reads_per_s > 0 (the per-tenant reads)")
        if any(w < 0 for w in self.read_mix.values()):
            raise ValueError("read_mix: weights cannot be negative")
        if self.profile is not None:
            try:
                parse_profile(self.profile)
            except ProfileError as exc:
                raise ValueError(f"profile.{exc}") from exc
        return self

    def rate_profile(self, rate_override: float | None = None) -> RateProfile:
        """The offered rate over time: ``--rate`` (a constant) wins over the file's profile."""
        if rate_override is not None:
            return constant(rate_override)
        return parse_profile(self.profile) if self.profile is not None else constant(self.rate)
