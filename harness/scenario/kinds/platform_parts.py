"""What the platform kind holds for one variant: the connections it opened (closed whatever
happened), the parts it built, what it could not play here and why, and its summary for
metrics.json."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from pymongo import MongoClient

from harness.clients.redis_router import SlotRouter
from harness.scenario.context import VariantContext
from harness.scenario.planes import MONGO_RYW_NEEDS
from harness.topology import redis as redis_nodes
from harness.workload.platform.driver import PlatformDriver
from harness.workload.platform.mongo_side import MongoEventWriter, MongoProfiles
from harness.workload.platform.session_fallback import FallbackSessionDriver
from harness.workload.redis_plane.cache import Cache, Loader
from harness.workload.redis_plane.sessions import SessionConfig

Background = list[tuple[str, Callable[[threading.Event], None]]]


@dataclass(frozen=True)
class DashboardOrigin:
    """What the dashboard cache loads from: ``name`` (``redis`` or ``mongodb (<server>)``), the
    loader, and which tenants a loaded value holds data of (for tenant-isolation)."""

    name: str
    loader: Loader
    tenants_of: Callable[[Any], list[str] | None]


class PlatformParts:
    """The platform kind's state; :class:`~harness.scenario.kinds.platform.PlatformWorkload`
    builds it."""

    driver: PlatformDriver

    def __init__(self, ctx: VariantContext) -> None:
        self.ctx = ctx
        self.routers: list[SlotRouter] = []
        self.clients: list[Any] = []
        self.cache: Cache | None = None
        self.mongo: MongoEventWriter | None = None
        self.mongo_client: MongoClient[dict[str, Any]] | None = None
        self.loader_client: MongoClient[dict[str, Any]] | None = None  # the cache's origin queries
        self.cache_origin = ""
        self.profiles: MongoProfiles | None = None
        self.fallback: FallbackSessionDriver | None = None
        self.not_run: dict[str, str] = {}  # a path the variant asked for, and why it is not played
        self.notes: dict[str, str] = {}  # a path that ran differently here, and why
        self.chunks: dict[str, dict[str, int]] = {}  # per sharded collection and shard

    def _router(self) -> SlotRouter:
        r = self.ctx.router()
        self.routers.append(r)
        return r

    def _redis_client(self) -> Any:
        """A redis-py client of the deployment (a cluster client on a cluster), no retries."""
        ctx = self.ctx
        if ctx.cluster:
            c: Any = ctx.dep.cluster_client(retry=redis_nodes.no_retry(), socket_timeout=2)
        else:
            host, port = ctx.seeds[0]
            c = redis.Redis(host=host, port=port, socket_timeout=2, retry=redis_nodes.no_retry())
        self.clients.append(c)
        return c

    def _mongo_ryw(self) -> bool:
        return self.ctx.variant.ryw_mode in MONGO_RYW_NEEDS

    def _session_config(self) -> SessionConfig:
        ctx = self.ctx
        wl = ctx.spec.workload
        return SessionConfig(
            rate=max(wl.sessions_per_s, 1),  # unused when no sessions run
            duration_s=ctx.duration_s,
            sessions=wl.sessions,
            ttl_s=wl.session_ttl_s,
            tenants=min(wl.tenants, 1000),
        )

    def summary(self, start_s: float) -> dict[str, Any]:
        """What the platform driver's side schedules did, for metrics.json and the report (times
        in seconds from the variant's start, as the other series)."""
        d = self.driver
        rs = d.read_stats
        out: dict[str, Any] = {
            "reads": {
                "offered": rs.offered,
                "by_kind": rs.by_kind,
                "not_ok": rs.not_ok,
                "max_lag_ms": rs.max_lag_s * 1000,
                "mongo_dropped": rs.mongo_dropped,
                "redis_dropped": rs.redis_dropped,
            },
            "errors": d.errors,
        }
        if self.cache is not None:
            out["cache"] = {
                "variant": self.cache.variant,
                "origin": self.cache_origin,
                **self.cache.stats.figures(),
            }
        if d.sessions is not None:
            out["sessions"] = d.sessions.stats.to_dict()
            out["sessions"]["store"] = "fallback" if self.fallback is not None else "redis"
        if self.profiles is not None:
            out["profiles"] = {
                "mode": self.profiles.store.mode,
                "sessions_opened": self.profiles.sessions_opened,
            }
        if self.not_run:
            out["not_run"] = dict(self.not_run)
        if self.notes:
            out["notes"] = dict(self.notes)
        if d.queue_stats is not None:
            q = out["queue"] = d.queue_stats.to_dict()
            q["depth_series"] = [(round(t - start_s, 3), depth) for t, depth in q["depth_series"]]
        if self.mongo is not None:
            out["mongo"] = self._mongo_summary(self.mongo)
        return out

    def _mongo_summary(self, mongo: MongoEventWriter) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ingest": mongo.ingestor.stats.to_dict(),
            "audit_waits": mongo.audit_waits,
            "errors": mongo.errors,
        }
        if mongo.audit is not None:
            out["audit"] = mongo.audit.stats.to_dict()
        if self.chunks:  # where the variant's writes could go: chunks per shard when it started
            out["chunks"] = self.chunks
        return out

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
        if self.profiles is not None:
            self.profiles.close()  # ends the MongoDB sessions before their client closes
        if self.mongo is not None:
            self.mongo.stop()
        for mc in (self.mongo_client, self.loader_client):
            if mc is not None:
                mc.close()
        for r in self.routers:
            r.close()
        for c in self.clients:
            with contextlib.suppress(redis.RedisError, OSError):
                c.close()
