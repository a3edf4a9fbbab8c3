"""The ingestion path: the sliding-window rate limiter, the idempotent MongoDB insert and the
per-window counter ``INCR``, then the runner's final reads of every counter and every tenant's
stored events.

Per event (:meth:`Ingestion.begin`): a ``rate_limit`` call on the tenant's limiter key (or, in a
sharded layout, on one of the whale's ``shards`` keys, each with its share of the group's limit);
when admitted, ``insert`` attempts under the idempotency key ``(tenant, event_id)`` (a retry after a
timeout stores nothing twice) and the ``incr`` of the event's counter window (optionally with
``WAIT``). :class:`IngestionTraffic` is the benchmark's seeded driver.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass
from typing import Any

from harness.bench.sim.core import MS, S, Sink, draw_outcome, takes_effect
from harness.bench.sim.platform import LIMIT, RATE, WHALE_LIMIT, WINDOW_MS, Sim
from harness.workload.model.tenants import TenantMix, TenantPicker

SHARDED_TENANT = "whale"


@dataclass(frozen=True)
class Layout:
    """How a deployment lays the ingestion path's keys and records out."""

    window_ms: int  # the limiter's sliding window
    counter_window_ms: int  # the counters' bucket ("minute")
    shards: int = 1  # the whale's limiter and counter keys (1: one key, no groups)
    key_suffix: str = ""  # after the hash tag: ":events" names the event stream
    windows: bool = True  # inserts, incrs and the final events read record the counter window


@dataclass(frozen=True)
class Event:
    n: int
    tenant: str
    event_id: str
    now_ms: int
    shard: int | None  # None: the tenant's keys are not sharded
    window: int


class Ingestion:
    """The platform's state on the ingestion path, and the ops a client records against it."""

    def __init__(self, sink: Sink, layout: Layout) -> None:
        self.sink = sink
        self.layout = layout
        self.zsets: dict[str, deque[int]] = {}  # limiter key -> admitted now_ms
        self.counters: dict[str, int] = {}
        self.ids: dict[str, list[str]] = {}  # tenant -> stored event ids, in order
        self.windows: dict[str, list[int]] = {}  # tenant -> the stored events' windows
        self.stored: set[str] = set()
        self.written: dict[str, None] = {}  # tenants with an insert attempt, each read at the end
        self.events = 0
        # INCRs take effect in the order they reach the server, not in the order events are drawn:
        # a later event's INCR can be invoked before an earlier one's (shorter inserts), so they
        # wait here, by invoke time, until no INCR can come before them (:meth:`settle`).
        self._incrs: list[tuple[int, int, tuple[str, int, Event, int, str | None, bool]]] = []

    def begin(self, tenant: str, now_ms: int) -> Event:
        self.events += 1
        sharded = self.layout.shards > 1 and tenant == SHARDED_TENANT
        shard = self.events % self.layout.shards if sharded else None
        window = now_ms // self.layout.counter_window_ms
        return Event(self.events, tenant, f"e{self.events}", now_ms, shard, window)

    def _tag(self, ev: Event) -> str:
        return ev.tenant if ev.shard is None else f"{ev.tenant}#{ev.shard}"

    def limiter_key(self, ev: Event) -> str:
        return f"ratelimit:{{t:{self._tag(ev)}}}{self.layout.key_suffix}"

    def counter_key(self, ev: Event) -> str:
        return f"counter:{{t:{self._tag(ev)}}}{self.layout.key_suffix}:{ev.window}"

    def admits(self, ev: Event, limit: int) -> bool:
        """Whether the limiter has room for ``ev`` in its window (expired entries dropped)."""
        zset = self.zsets.setdefault(self.limiter_key(ev), deque())
        while zset and zset[0] <= ev.now_ms - self.layout.window_ms:
            zset.popleft()
        return len(zset) < limit

    def rate_limit(
        self, process: str, t: int, done: int, ev: Event, limit: int, outcome: str, applied: bool
    ) -> bool | None:
        """The limiter call for ``ev`` (``limit`` per key); whether it was admitted, None unless ok."""
        key = self.limiter_key(ev)
        allowed = self.admits(ev, limit)
        zset = self.zsets[key]
        if allowed and takes_effect(outcome, applied):
            zset.append(ev.now_ms)
        value: dict[str, Any] = {"now_ms": ev.now_ms, "limit": limit, "window_ms": self.layout.window_ms}
        value["req"] = ev.event_id
        if self.layout.shards > 1:
            shards = 1 if ev.shard is None else self.layout.shards
            value |= {"group": ev.tenant, "group_limit": limit * shards, "shards": shards}
        result = {"value": {"allowed": allowed, "remaining": max(0, limit - len(zset))}}
        fields = {"key": key, "tenant": ev.tenant, "event_id": ev.event_id, "value": value}
        self.sink.call(process, "rate_limit", t, outcome, done, fields, result)
        return allowed if outcome == "ok" else None

    def _window(self, ev: Event) -> dict[str, int]:
        return {"window": ev.window} if self.layout.windows else {}

    def insert(
        self, process: str, t: int, done: int, ev: Event, wc: str, outcome: str | None, applied: bool
    ) -> None:
        """One insert attempt of ``ev`` with write concern ``wc``."""
        self.written[ev.tenant] = None
        if takes_effect(outcome, applied) and ev.event_id not in self.stored:
            self.stored.add(ev.event_id)
            self.ids.setdefault(ev.tenant, []).append(ev.event_id)
            self.windows.setdefault(ev.tenant, []).append(ev.window)
        fields = {"tenant": ev.tenant, "event_id": ev.event_id, "wc": wc, **self._window(ev)}
        self.sink.call(process, "insert", t, outcome, done, fields)

    def incr(
        self, process: str, t: int, done: int, ev: Event, wait: int, outcome: str | None, applied: bool
    ) -> None:
        """The ``INCR`` of ``ev``'s counter window (with ``WAIT wait`` when not 0), invoked at ``t``:
        applied and recorded once no earlier INCR can still come (:meth:`settle`)."""
        heapq.heappush(self._incrs, (t, ev.n, (process, done, ev, wait, outcome, applied)))

    def settle(self, until: int | None = None) -> None:
        """Applies, in invoke-time order, every pending INCR invoked at or before ``until`` (all
        when None). Safe for every ``until`` no later event starts before: an event's INCR is
        invoked after its start."""
        while self._incrs and (until is None or self._incrs[0][0] <= until):
            t, _, (process, done, ev, wait, outcome, applied) = heapq.heappop(self._incrs)
            key = self.counter_key(ev)
            count = self.counters.setdefault(key, 0)
            if takes_effect(outcome, applied):
                count = self.counters[key] = count + 1
            fields = {"key": key, "tenant": ev.tenant, "event_id": ev.event_id, **self._window(ev)}
            if wait:
                fields["wait"] = wait
            self.sink.call(process, "incr", t, outcome, done, fields, {"value": count})

    def final(self, t: int, latency: int, step: int) -> int:
        """The final read of every counter, then of every written tenant's events; returns the time
        after them."""
        self.settle()
        for key in sorted(self.counters):
            self.sink.call(
                "final",
                "final_read",
                t,
                "ok",
                t + latency,
                {"key": key},
                {"value": self.counters[key] or None},
            )
            t += step
        for tenant in sorted(self.written):
            value: dict[str, Any] = {"event_ids": self.ids.get(tenant, [])}
            if self.layout.windows:
                value["windows"] = self.windows.get(tenant, [])
            self.sink.call(
                "final", "final_events", t, "ok", t + latency, {"tenant": tenant}, {"value": value}
            )
            t += step
        return t


BENCH_LAYOUT = Layout(window_ms=WINDOW_MS, counter_window_ms=60_000, key_suffix=":events")


class IngestionTraffic:
    """The benchmark's hot path: events at :data:`RATE` per second from a whale-heavy population."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.rng = sim.rng("checkers")
        self.picker = TenantPicker(TenantMix(10_000, 0.8, "whale", 0.4), sim.rng("tenants"))
        self.model = Ingestion(sim.w, BENCH_LAYOUT)
        self.batch: list[str] = []

    def next_at(self) -> int:
        return (self.model.events + 1) * S // RATE

    def event(self) -> int:
        """The next event; returns its time."""
        if not self.batch:
            self.batch = self.picker.draw(1000)[::-1]
        rng, m, coin = self.rng, self.model, self.sim.coin
        start = t = self.next_at()
        m.settle(start)  # no INCR still to come is invoked before this event starts
        ev = m.begin(self.batch.pop(), t // MS)
        limit = WHALE_LIMIT if ev.tenant == "whale" else LIMIT
        lat = rng.randrange(200_000, 3_000_000)
        outcome = "ok" if rng.random() < 0.995 else "info"
        applied = outcome != "ok" and m.admits(ev, limit) and rng.random() < 0.5
        if not m.rate_limit("ingest", t, t + lat, ev, limit, outcome, applied):
            return start
        t += lat + 1000
        wc = "majority" if rng.random() < 0.3 else "1"
        for _ in range(3):  # a timeout is retried with the same idempotency key
            out = draw_outcome(rng, 0.97, 0.02)
            applied = coin(rng, out)
            lat = rng.randrange(300_000, 5_000_000)
            m.insert("ingest", t, t + lat, ev, wc, out, applied)
            t += lat + 1000
            if out == "ok":
                break
        out = draw_outcome(rng, 0.99, 0.005)
        applied = coin(rng, out)
        wait = 1 if wc == "majority" else 0
        m.incr("ingest", t, t + rng.randrange(100_000, 2_000_000), ev, wait, out, applied)
        return start
