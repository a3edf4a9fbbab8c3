"""Retention: MongoDB documents of three retention classes, removed by the TTL monitor a little
after they expire, and Redis keys written with a TTL (never readable past it); the runner's final
reads of every document and key. :class:`RetentionTraffic` is the benchmark's driver."""

from __future__ import annotations

import math
from collections import deque

from harness.bench.sim.core import MS, Sink, draw_outcome, takes_effect, ttl_removed_at, wall
from harness.bench.sim.platform import (
    KEY_TTL_MS,
    PAGE,
    RATES,
    RETENTION_MS,
    TTL_MONITOR_MS,
    TTL_PASS_LATE_MS,
    Sim,
)


def _tagged(tenant: str | None) -> dict[str, str]:
    return {} if tenant is None else {"tenant": tenant}


class Retention:
    """Documents (inserted at, removed at; wall ms) and Redis key expiries (wall ms)."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.docs: dict[str, tuple[float, float]] = {}
        self.all_docs: list[str] = []  # every document inserted (or tried), in order
        self.deadline: dict[str, float] = {}  # every key written (or tried), in order

    def present(self, key: str, now: float) -> bool:
        span = self.docs.get(key)
        return span is not None and span[0] <= now < span[1]

    def alive(self, key: str, now: float) -> bool:
        return now < self.deadline.get(key, -math.inf)

    def insert(
        self,
        process: str,
        t: int,
        done: int,
        doc: tuple[str, str, str],
        outcome: str,
        removed_at: float | None,
    ) -> None:
        """Inserts ``doc = (key, tenant, retention class)`` created at ``wall(t)``; it took effect
        when ``removed_at`` (when the TTL monitor deletes it) is given."""
        key, tenant, cls = doc
        created = wall(t)
        if removed_at is not None:
            self.docs[key] = (created, removed_at)
        self.all_docs.append(key)
        fields = {"key": key, "tenant": tenant, "retention_class": cls, "created_ms": created}
        self.sink.call(process, "doc_insert", t, outcome, done, fields)

    def read_docs(
        self,
        process: str,
        t: int,
        done: int,
        keys: list[str],
        seen_at: float,
        outcome: str,
        asker: tuple[str | None, str | None] = (None, None),
    ) -> None:
        """Reads documents ``keys`` as they were at ``seen_at`` (a secondary is behind by its lag);
        ``asker = (tenant, read preference)`` is recorded where given."""
        tenant, read_pref = asker
        fields = {"keys": keys, **_tagged(tenant), "now_ms": wall(t)}
        if read_pref is not None:
            fields["read_pref"] = read_pref
        result = {"value": [k for k in keys if self.present(k, seen_at)]}
        self.sink.call(process, "doc_read", t, outcome, done, fields, result)

    def ttl_write(
        self,
        process: str,
        t: int,
        done: int,
        key: str,
        tenant: str | None,
        ttl_ms: float,
        outcome: str,
        applied: bool,
    ) -> None:
        now = wall(t)
        self.deadline.setdefault(key, -math.inf)
        if takes_effect(outcome, applied):
            self.deadline[key] = now + ttl_ms
        fields = {"key": key, **_tagged(tenant), "ttl_ms": ttl_ms, "now_ms": now}
        self.sink.call(process, "ttl_write", t, outcome, done, fields)

    def read_keys(self, process: str, t: int, done: int, keys: list[str], outcome: str) -> None:
        now = wall(t)
        result = {"value": [k for k in keys if self.alive(k, now)]}
        self.sink.call(process, "key_read", t, outcome, done, {"keys": keys, "now_ms": now}, result)

    def final_docs(self, t: int, latency: int, step: int, page: int) -> int:
        for i in range(0, len(self.all_docs), page):
            keys, now = self.all_docs[i : i + page], wall(t)
            found = [k for k in keys if self.present(k, now)]
            self.sink.call(
                "final", "final_docs", t, "ok", t + latency, {"keys": keys, "now_ms": now}, {"value": found}
            )
            t += step
        return t

    def final_keys(self, t: int, keys: list[str], latency: int, step: int, page: int) -> int:
        for i in range(0, len(keys), page):
            some, now = keys[i : i + page], wall(t)
            found = [k for k in some if self.alive(k, now)]
            self.sink.call(
                "final", "final_keys", t, "ok", t + latency, {"keys": some, "now_ms": now}, {"value": found}
            )
            t += step
        return t


class RetentionTraffic:
    """Documents inserted and read back by id (each tenant's 20 latest), keys written and checked."""

    CLASSES = (("standard", "events"), ("aggregates", "event_aggregates"), ("audit", "audit_logs"))

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.rng = sim.rng("retention")
        self.model = Retention(sim.w)
        self.recent: dict[str, deque[str]] = {}  # tenant -> its latest document keys
        self.tenant_keys: dict[str, list[str]] = {}
        self.n = 0
        clock = sim.clock
        clock.poisson(RATES["doc_insert"], self.rng, self.insert)
        clock.poisson(RATES["doc_read"], self.rng, self.read)
        clock.poisson(RATES["ttl_write"], self.rng, self.ttl_write)
        clock.poisson(RATES["key_read"], self.rng, self.key_read)

    def insert(self, t: int) -> None:
        rng = self.rng
        tenant = self.sim.tenant()
        cls, collection = self.CLASSES[0 if rng.random() < 0.6 else (1 if rng.random() < 0.6 else 2)]
        self.n += 1
        key = f"{collection}/{tenant}/r{self.n}"
        out = draw_outcome(rng, 0.98, 0.01)
        removed = None
        if takes_effect(out, self.sim.coin(rng, out)):
            late = rng.uniform(0, TTL_PASS_LATE_MS)
            removed = ttl_removed_at(wall(t) + RETENTION_MS[cls], TTL_MONITOR_MS, late)
        self.recent.setdefault(tenant, deque(maxlen=20)).append(key)
        lat = rng.randrange(MS, 6 * MS)
        self.model.insert(f"ingest-{rng.randrange(4)}", t, t + lat, (key, tenant, cls), out, removed)

    def read(self, t: int) -> None:
        rng = self.rng
        tenant = self.sim.tenant()
        recent = self.recent.get(tenant)
        if not recent:
            return
        keys = list(recent)[-rng.randrange(1, 9) :]
        primary = rng.random() < 0.8
        seen_at = wall(t) if primary else wall(t) - rng.uniform(0, 500)  # a secondary lags
        out = draw_outcome(rng, 0.995, 0.003)
        asker = (tenant, "primary" if primary else "secondaryPreferred")
        lat = rng.randrange(MS, 8 * MS)
        self.model.read_docs(f"api-{rng.randrange(8)}", t, t + lat, keys, seen_at, out, asker)

    def ttl_write(self, t: int) -> None:
        rng = self.rng
        tenant = self.sim.tenant()
        key = f"login_attempts:{{{tenant}}}:198.51.100.{rng.randrange(64 if tenant == 'whale' else 4)}"
        if key not in self.model.deadline:
            self.tenant_keys.setdefault(tenant, []).append(key)
        out = draw_outcome(rng, 0.99, 0.005)
        applied = self.sim.coin(rng, out)
        lat = rng.randrange(MS // 5, 2 * MS)
        self.model.ttl_write(f"api-{rng.randrange(8)}", t, t + lat, key, tenant, KEY_TTL_MS, out, applied)

    def key_read(self, t: int) -> None:
        rng = self.rng
        known = self.tenant_keys.get(self.sim.tenant())
        if not known:
            return
        keys = rng.sample(known, min(len(known), rng.randrange(1, 4)))
        out = draw_outcome(rng, 0.995, 0.003)
        lat = rng.randrange(MS // 5, 2 * MS)
        self.model.read_keys(f"api-{rng.randrange(8)}", t, t + lat, keys, out)

    def final(self, t: int) -> int:
        t = self.model.final_docs(t, 5 * MS, 6 * MS, PAGE)
        return self.model.final_keys(t, list(self.model.deadline), 2 * MS, 3 * MS, PAGE)
