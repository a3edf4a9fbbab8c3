"""A seeded synthetic platform history for the checker benchmark, in the vocabulary of every checker.

The simulated platform behaves correctly, so every registered checker must find it ``valid``; a
checker that does not points at this generator first (or at a checker bug, to be shown by a test).

Traffic is a discrete-event simulation on one clock. Ingestion dominates (about two thirds of the
ops), as on the platform: per event a sliding-window ``rate_limit`` call, then for admitted events a
MongoDB ``insert`` (w:1 or w:majority, retried after a timeout) and a per-minute counter ``incr``
(some with ``WAIT 1``). Beside it, at rates proportional to the event rate (:data:`RATES`):

* profiles — users read (primary or ``secondaryPreferred``) and update their versioned profile from
  one to three devices, each device one sequential client session (read-your-writes, monotonic
  reads); reads carry the tenant of what they returned;
* queries — dashboard queries returning the tenant's latest events, each item tagged with its
  tenant (tenant isolation);
* audit — admin actions appended to each tenant's hash chain (:func:`audit_hash`), one writer per
  tenant that reads the chain head back after a timeout; the final audit read per tenant;
* retention — documents of the three retention classes inserted and read back by id, Redis keys
  written with a TTL and checked for existence, the TTL monitor removing expired documents a little
  late; the final reads of every document and key;
* sessions — logins, touches that slide the TTL, reads, logouts, users idle past the TTL; the final
  existence check of every session key;
* unique users — ``PFADD`` batches of active users per tenant and hour, ``PFCOUNT`` estimates off
  the exact count by a seeded error of at most one standard error;
* registers — short-lived lock/leader registers, each used by a few concurrent processes with
  read/write/CAS (each op takes effect at one instant inside its interval), under the
  linearizability checker's ``max_ops``.

Outcomes are mostly ``ok`` with some ``fail`` and ``info`` (an ``info`` write took effect or not, by
a coin). Records are written in time order, as the recorder writes them (a heap of pending
records). Retention periods and TTLs are scaled to the run's length (a minute of simulated time),
as a chaos scenario scales them; :data:`CHECKER_PARAMS` passes the same numbers to the checkers.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from harness.audit_chain import GENESIS, audit_hash
from harness.checkers.unique_users import STANDARD_ERROR
from harness.clock import seeded_random
from harness.workload.model.tenants import TenantMix, TenantPicker

MS = 1_000_000  # ns
S = 1_000_000_000
#: Wall-clock ms at run start: server time = run time + this (one machine, no skew).
WALL0_MS = 1_700_000_000_000

RATE = 5000  # ingestion events per second of simulated time
LIMIT, WHALE_LIMIT, WINDOW_MS = 40, 1500, 1000  # the busiest tenants hit their limits

#: Ops per simulated second besides ingestion (about 14,000 ingestion ops/s at RATE): a third of the
#: traffic, spread as a dashboard-heavy tenant population would spread it.
RATES = {
    "query": 1100.0,
    "audit": 400.0,
    "doc_insert": 450.0,
    "doc_read": 450.0,
    "ttl_write": 450.0,
    "key_read": 300.0,
    "login": 120.0,  # each session makes about ten ops
    "pfadd": 500.0,
    "pfcount": 200.0,
    "register_burst": 4.5,  # each about 90 ops
}
PROFILE_CLIENTS = 420  # device sessions live at once, about 4.7 ops/s each

# Retention scaled to the run (the topologies run the TTL monitor every 5 s for the same reason).
RETENTION_MS = {"standard": 15_000.0, "audit": 40_000.0, "aggregates": 25_000.0}
TTL_MONITOR_MS = 5_000
TTL_PASS_LATE_MS = 2_000  # a monitor pass under load starts up to this late
TTL_LAG_MS = 10_000.0  # what the checker allows: a period plus a late pass, with room
KEY_TTL_MS = 5_000
SESSION_TTL_MS = 10_000.0
MAX_REGISTER_OPS = 150  # below the linearizability checker's max_ops (200)
PAGE = 1000  # keys per final existence read
AUDIT_PAGE = 200  # records per final audit page

#: Checker parameters matching the scaled periods above (by checker name).
CHECKER_PARAMS: dict[str, dict[str, Any]] = {
    "retention": {"retention_ms": RETENTION_MS, "ttl_lag_ms": TTL_LAG_MS},
    "sessions": {"ttl_ms": SESSION_TTL_MS},
    "audit-trail-integrity": {"retention_ms": RETENTION_MS["audit"]},
}


def wall(t_ns: int) -> float:
    """Server wall-clock ms (µs resolution) at run time ``t_ns``."""
    return WALL0_MS + (t_ns // 1000) / 1000


def _outcome(rng: random.Random, ok: float, info: float) -> str:
    r = rng.random()
    return "ok" if r < ok else ("info" if r < ok + info else "fail")


def _error(outcome: str) -> dict[str, Any]:
    return {} if outcome == "ok" else {"error": "TimeoutError" if outcome == "info" else "ConnectionError"}


def ttl_removed_at(expires_ms: float, rng: random.Random) -> float:
    """When the TTL monitor deletes a document expiring at ``expires_ms``: at its first pass after
    the expiry, which may itself run late."""
    first_pass = math.ceil(expires_ms / TTL_MONITOR_MS) * TTL_MONITOR_MS
    return max(expires_ms, first_pass + rng.uniform(0, TTL_PASS_LATE_MS))


class _Writer:
    """Writes records in time order: every record waits in a heap until the clock passes it."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.pending: list[tuple[int, int, bytes]] = []
        self.seq = 0
        self.next_id = 1
        self.ops = 0
        self.by_f: dict[str, int] = {}

    def _push(self, t_ns: int, rec: dict[str, Any]) -> None:
        self.seq += 1
        heapq.heappush(self.pending, (t_ns, self.seq, orjson.dumps(rec) + b"\n"))

    def op(
        self,
        f: str,
        t_ns: int,
        latency_ns: int,
        outcome: str | None,
        done: dict[str, Any],
        process: str = "ingest",
        **inv: Any,
    ) -> int:
        """One op: its invoke at ``t_ns`` and (unless ``outcome`` is None) its completion, with the
        fields ``done``, ``latency_ns`` later. Returns the op id."""
        op_id, self.next_id = self.next_id, self.next_id + 1
        self.ops += 1
        self.by_f[f] = self.by_f.get(f, 0) + 1
        base = {"id": op_id, "process": process, "f": f}
        self._push(t_ns, {**base, "type": "invoke", "time_ns": t_ns, "variant": "bench", **inv})
        if outcome is not None:
            self._push(t_ns + latency_ns, {**base, "type": outcome, "time_ns": t_ns + latency_ns, **done})
        return op_id

    def advance(self, upto_ns: int | None = None) -> None:
        """Writes every record up to ``upto_ns`` (all when None); nothing earlier may be added after."""
        while self.pending and (upto_ns is None or self.pending[0][0] <= upto_ns):
            self.fh.write(heapq.heappop(self.pending)[2])


class _Clock:
    """Tasks due at a time, run in time order (ties in scheduling order)."""

    def __init__(self) -> None:
        self.tasks: list[tuple[int, int, Callable[[int], None]]] = []
        self.seq = 0

    def at(self, t_ns: int, task: Callable[[int], None]) -> None:
        self.seq += 1
        heapq.heappush(self.tasks, (t_ns, self.seq, task))

    def run_until(self, t_ns: int) -> None:
        while self.tasks and self.tasks[0][0] <= t_ns:
            due, _, task = heapq.heappop(self.tasks)
            task(due)

    def poisson(self, rate: float, rng: random.Random, task: Callable[[int], None], start: int = 0) -> None:
        """Runs ``task`` at the arrivals of a Poisson process of ``rate`` per second."""

        def arrival(t: int) -> None:
            task(t)
            self.at(t + 1 + int(rng.expovariate(rate) * S), arrival)

        self.at(start + 1 + int(rng.expovariate(rate) * S), arrival)


class _Sim:
    """Shared by the traffic families: the writer, the clock, tenants, and the ingestion's state."""

    def __init__(self, w: _Writer, clock: _Clock, seed: int) -> None:
        self.w = w
        self.clock = clock
        self.seed = seed
        self.picker = TenantPicker(TenantMix(10_000, 0.8, "whale", 0.4), seeded_random(seed, "bench-users"))
        self.stored: dict[str, list[str]] = {}  # tenant -> event ids stored in MongoDB, in order

    def rng(self, family: str) -> random.Random:
        return seeded_random(self.seed, f"bench-{family}")

    def tenant(self) -> str:
        return self.picker.draw(1)[0]

    @staticmethod
    def users(tenant: str) -> int:
        """How many users a tenant has (the whale has most)."""
        return 20_000 if tenant == "whale" else 300


class _Ingestion:
    """The hot path: rate limiter, idempotent insert with retries, per-minute counter."""

    def __init__(self, sim: _Sim) -> None:
        self.sim = sim
        self.rng = seeded_random(sim.seed, "bench-checkers")
        self.picker = TenantPicker(
            TenantMix(10_000, 0.8, "whale", 0.4), seeded_random(sim.seed, "bench-tenants")
        )
        self.windows: dict[str, deque[int]] = {}
        self.counters: dict[str, int] = {}
        self.events = 0
        self.batch: list[str] = []

    def event(self) -> int:
        """The next event (at RATE per second); returns its time."""
        if not self.batch:
            self.batch = self.picker.draw(1000)[::-1]
        tenant = self.batch.pop()
        rng, w = self.rng, self.sim.w
        self.events += 1
        t = self.events * S // RATE
        now_ms = t // MS
        event_id = f"e{self.events}"
        limit = WHALE_LIMIT if tenant == "whale" else LIMIT
        zset = self.windows.setdefault(tenant, deque())
        while zset and zset[0] <= now_ms - WINDOW_MS:
            zset.popleft()
        lat = rng.randrange(200_000, 3_000_000)
        outcome = "ok" if rng.random() < 0.995 else "info"
        allowed = len(zset) < limit
        if allowed and (outcome == "ok" or rng.random() < 0.5):
            zset.append(now_ms)
        value = {"now_ms": now_ms, "limit": limit, "window_ms": WINDOW_MS, "req": event_id}
        w.op(
            "rate_limit",
            t,
            lat,
            outcome,
            {"value": {"allowed": allowed, "remaining": max(0, limit - len(zset))}} | _error(outcome),
            key=f"ratelimit:{{t:{tenant}}}:events",
            tenant=tenant,
            event_id=event_id,
            value=value,
        )
        if outcome != "ok" or not allowed:
            return self.events * S // RATE
        t += lat + 1000
        window = now_ms // 60_000
        wc = "majority" if rng.random() < 0.3 else "1"
        for attempt in range(3):  # a timeout is retried with the same idempotency key
            out = _outcome(rng, 0.97, 0.02)
            if out == "ok" or (out == "info" and rng.random() < 0.5):
                docs = self.sim.stored.setdefault(tenant, [])
                if attempt == 0 or event_id not in docs[-3:]:
                    docs.append(event_id)
            lat = rng.randrange(300_000, 5_000_000)
            w.op("insert", t, lat, out, _error(out), tenant=tenant, event_id=event_id, wc=wc, window=window)
            t += lat + 1000
            if out == "ok":
                break
        key = f"counter:{{t:{tenant}}}:events:{window}"
        out = _outcome(rng, 0.99, 0.005)
        if out == "ok" or (out == "info" and rng.random() < 0.5):
            self.counters[key] = self.counters.get(key, 0) + 1
        else:
            self.counters.setdefault(key, 0)
        extra: dict[str, Any] = {"wait": 1} if wc == "majority" else {}
        w.op(
            "incr",
            t,
            rng.randrange(100_000, 2_000_000),
            out,
            {"value": self.counters[key]} if out == "ok" else _error(out),
            key=key,
            tenant=tenant,
            event_id=event_id,
            window=window,
            **extra,
        )
        return self.events * S // RATE

    def final(self, t: int) -> int:
        w = self.sim.w
        for key in sorted(self.counters):
            w.op("final_read", t, 1000, "ok", {"value": self.counters[key] or None}, "final", key=key)
            t += 2000
        for tenant in sorted(self.sim.stored):
            value = {"event_ids": self.sim.stored[tenant]}
            w.op("final_events", t, 1000, "ok", {"value": value}, "final", tenant=tenant)
            t += 2000
        return t


class _Queries:
    """Dashboard queries (MongoDB ``find`` on the tenant's events, newest first) and timeline reads
    (Redis); every returned item carries the tenant stored in it."""

    def __init__(self, sim: _Sim) -> None:
        self.sim = sim
        self.rng = sim.rng("queries")
        sim.clock.poisson(RATES["query"], self.rng, self.query)

    def query(self, t: int) -> None:
        rng, tenant = self.rng, self.sim.tenant()
        f = "query_events" if rng.random() < 0.7 else "timeline_read"
        items = self.sim.stored.get(tenant, [])[-rng.randrange(1, 21) :][::-1]
        out = _outcome(rng, 0.995, 0.003)
        done = {"tenants": [tenant] * len(items), "ids": items} if out == "ok" else _error(out)
        self.sim.w.op(f, t, rng.randrange(MS, 15 * MS), out, done, f"api-{rng.randrange(8)}", tenant=tenant)


class _ProfileClient:
    __slots__ = ("floor", "key", "left", "process", "session", "tenant")

    def __init__(self, key: str, tenant: str, session: str, process: str, left: int) -> None:
        self.key, self.tenant, self.session, self.process, self.left = key, tenant, session, process, left
        self.floor = 0  # the lowest version this session may still read: its own writes and reads


class _Profiles:
    """Versioned profiles (``$inc: {version: 1}``), each device a sequential causally consistent
    session; a secondary read returns a version a little behind the primary but never below what
    the session wrote or read before (as a causally consistent session guarantees)."""

    def __init__(self, sim: _Sim) -> None:
        self.sim = sim
        self.rng = sim.rng("profiles")
        self.current: dict[str, int] = {}
        self.sessions = 0
        for _ in range(PROFILE_CLIENTS):
            self.sim.clock.at(self.rng.randrange(1, S), self.login)

    def login(self, t: int) -> None:
        rng = self.rng
        tenant = self.sim.tenant()
        key = f"profile:{tenant}:u{rng.randrange(self.sim.users(tenant) // 10)}"
        self.sessions += 1
        c = _ProfileClient(
            key, tenant, f"cs{self.sessions}", f"web-{rng.randrange(16)}", rng.randrange(5, 60)
        )
        self.step(t, c)

    def step(self, t: int, c: _ProfileClient) -> None:
        rng, w = self.rng, self.sim.w
        if c.left == 0:
            self.sim.clock.at(t + rng.randrange(MS, 100 * MS), self.login)  # another user takes its place
            return
        c.left -= 1
        fields = {"key": c.key, "session": c.session, "tenant": c.tenant}
        if rng.random() < 0.2:
            out = _outcome(rng, 0.98, 0.01)
            if out == "ok" or (out == "info" and rng.random() < 0.5):
                self.current[c.key] = self.current.get(c.key, 0) + 1
            version = self.current.get(c.key, 0)
            if out == "ok":
                c.floor = max(c.floor, version)
            lat = rng.randrange(2 * MS, 12 * MS)
            done = {"value": version} if out == "ok" else _error(out)
            w.op("write", t, lat, out, done, c.process, write_concern="majority", **fields)
        else:
            current = self.current.get(c.key, 0)
            primary = rng.random() < 0.5
            version = current if primary else max(c.floor, current - rng.choice((0, 0, 0, 1, 1, 2, 4)))
            out = _outcome(rng, 0.99, 0.005)
            if out == "ok":
                c.floor = max(c.floor, version)
            lat = rng.randrange(MS // 2, 6 * MS)
            done = (
                {"value": version or None, "tenants": [c.tenant] if version else []}
                if out == "ok"
                else _error(out)
            )
            pref = "primary" if primary else "secondaryPreferred"
            w.op("read", t, lat, out, done, c.process, read_pref=pref, read_concern="majority", **fields)
        self.sim.clock.at(t + lat + rng.randrange(20 * MS, 400 * MS), lambda t2: self.step(t2, c))


class _Audit:
    """Admin actions appended to per-tenant audit chains, one writer per tenant."""

    ACTIONS = ("permission_granted", "role_changed", "data_exported", "api_key_created", "user_deleted")

    def __init__(self, sim: _Sim) -> None:
        self.sim = sim
        self.rng = sim.rng("audit")
        self.head: dict[str, str] = {}
        self.ready: dict[str, int] = {}  # tenant -> when its writer is free again
        self.stored: dict[str, list[tuple[dict[str, Any], float]]] = {}  # record, removed at (wall ms)
        self.tenants: dict[str, None] = {}  # every tenant with an insert: each gets its final read
        self.n = 0
        sim.clock.poisson(RATES["audit"], self.rng, self.append)

    def append(self, t: int) -> None:
        rng, w = self.rng, self.sim.w
        tenant = self.sim.tenant()
        self.tenants[tenant] = None
        t = max(t, self.ready.get(tenant, 0))  # the tenant's writer appends one record at a time
        self.n += 1
        logged = wall(t)
        rec: dict[str, Any] = {
            "audit_id": f"aud-{self.n}",
            "tenant_id": tenant,
            "logged_at_ms": logged,
            "category": "security",
            "action": self.ACTIONS[self.n % len(self.ACTIONS)],
            "actor": {
                "user_id": f"admin-{rng.randrange(5)}",
                "ip_address": f"203.0.113.{rng.randrange(256)}",
            },
            "resource": {"type": "user", "id": f"u{rng.randrange(self.sim.users(tenant))}"},
            "severity": rng.choice(("low", "medium", "high")),
            "prev_hash": self.head.get(tenant, GENESIS),
        }
        rec["hash"] = audit_hash(rec, rec["prev_hash"])
        out = _outcome(rng, 0.985, 0.01)
        if out == "ok" or (out == "info" and rng.random() < 0.5):
            removed = ttl_removed_at(logged + RETENTION_MS["audit"], rng)
            self.stored.setdefault(tenant, []).append((rec, removed))
            self.head[tenant] = rec["hash"]
        lat = rng.randrange(MS, 4 * MS)
        w.op("audit_insert", t, lat, out, _error(out), f"audit-{rng.randrange(4)}", tenant=tenant, value=rec)
        t += lat + 1000
        if out == "info":  # the writer reads the chain head back before appending again
            head = self.head.get(tenant, GENESIS)
            lat = rng.randrange(MS // 2, 2 * MS)
            done = {"value": head, "tenants": [tenant] if head != GENESIS else []}
            w.op("audit_head", t, lat, "ok", done, "audit-0", tenant=tenant, read_concern="majority")
            t += lat + 1000
        self.ready[tenant] = t

    def final(self, t: int) -> int:
        for tenant in sorted(self.tenants):
            now = wall(t)
            present = [rec for rec, removed in self.stored.get(tenant, []) if now < removed]
            for i in range(
                0, max(1, len(present)), AUDIT_PAGE
            ):  # a tenant whose records all expired reads []
                page = present[i : i + AUDIT_PAGE]
                done = {"value": page}
                self.sim.w.op(
                    "final_audit",
                    t,
                    MS,
                    "ok",
                    done,
                    "final",
                    tenant=tenant,
                    now_ms=wall(t),
                    read_concern="majority",
                )
                t += 2 * MS
        return t


class _Retention:
    """Documents of the three retention classes (TTL monitor removes them a little after expiry) and
    Redis keys with a TTL (never readable past it)."""

    CLASSES = (("standard", "events"), ("aggregates", "event_aggregates"), ("audit", "audit_logs"))

    def __init__(self, sim: _Sim) -> None:
        self.sim = sim
        self.rng = sim.rng("retention")
        self.docs: dict[str, tuple[float, float]] = {}  # key -> (inserted at, removed at), wall ms
        self.recent: dict[str, deque[str]] = {}  # tenant -> its latest document keys
        self.all_docs: list[str] = []
        self.deadline: dict[str, float] = {}  # Redis key -> expiry, wall ms
        self.tenant_keys: dict[str, list[str]] = {}
        self.n = 0
        clock = sim.clock
        clock.poisson(RATES["doc_insert"], self.rng, self.insert)
        clock.poisson(RATES["doc_read"], self.rng, self.read)
        clock.poisson(RATES["ttl_write"], self.rng, self.ttl_write)
        clock.poisson(RATES["key_read"], self.rng, self.key_read)

    def _present(self, key: str, now: float) -> bool:
        span = self.docs.get(key)
        return span is not None and span[0] <= now < span[1]

    def insert(self, t: int) -> None:
        rng = self.rng
        tenant = self.sim.tenant()
        cls, collection = self.CLASSES[0 if rng.random() < 0.6 else (1 if rng.random() < 0.6 else 2)]
        self.n += 1
        key = f"{collection}/{tenant}/r{self.n}"
        created = wall(t)
        out = _outcome(rng, 0.98, 0.01)
        if out == "ok" or (out == "info" and rng.random() < 0.5):
            self.docs[key] = (created, ttl_removed_at(created + RETENTION_MS[cls], rng))
        self.recent.setdefault(tenant, deque(maxlen=20)).append(key)
        self.all_docs.append(key)
        self.sim.w.op(
            "doc_insert",
            t,
            rng.randrange(MS, 6 * MS),
            out,
            _error(out),
            f"ingest-{rng.randrange(4)}",
            key=key,
            tenant=tenant,
            retention_class=cls,
            created_ms=created,
        )

    def read(self, t: int) -> None:
        rng = self.rng
        tenant = self.sim.tenant()
        recent = self.recent.get(tenant)
        if not recent:
            return
        keys = list(recent)[-rng.randrange(1, 9) :]
        now = wall(t)
        primary = rng.random() < 0.8
        seen_at = now if primary else now - rng.uniform(0, 500)  # a secondary is behind by its lag
        out = _outcome(rng, 0.995, 0.003)
        done = {"value": [k for k in keys if self._present(k, seen_at)]} if out == "ok" else _error(out)
        pref = "primary" if primary else "secondaryPreferred"
        self.sim.w.op(
            "doc_read",
            t,
            rng.randrange(MS, 8 * MS),
            out,
            done,
            f"api-{rng.randrange(8)}",
            keys=keys,
            tenant=tenant,
            now_ms=now,
            read_pref=pref,
        )

    def ttl_write(self, t: int) -> None:
        rng = self.rng
        tenant = self.sim.tenant()
        key = f"login_attempts:{{{tenant}}}:198.51.100.{rng.randrange(64 if tenant == 'whale' else 4)}"
        if key not in self.deadline:
            self.deadline[key] = -math.inf
            self.tenant_keys.setdefault(tenant, []).append(key)
        now = wall(t)
        out = _outcome(rng, 0.99, 0.005)
        if out == "ok" or (out == "info" and rng.random() < 0.5):
            self.deadline[key] = now + KEY_TTL_MS
        self.sim.w.op(
            "ttl_write",
            t,
            rng.randrange(MS // 5, 2 * MS),
            out,
            _error(out),
            f"api-{rng.randrange(8)}",
            key=key,
            tenant=tenant,
            ttl_ms=KEY_TTL_MS,
            now_ms=now,
        )

    def key_read(self, t: int) -> None:
        rng = self.rng
        known = self.tenant_keys.get(self.sim.tenant())
        if not known:
            return
        keys = rng.sample(known, min(len(known), rng.randrange(1, 4)))
        now = wall(t)
        out = _outcome(rng, 0.995, 0.003)
        done = {"value": [k for k in keys if now < self.deadline[k]]} if out == "ok" else _error(out)
        self.sim.w.op(
            "key_read",
            t,
            rng.randrange(MS // 5, 2 * MS),
            out,
            done,
            f"api-{rng.randrange(8)}",
            keys=keys,
            now_ms=now,
        )

    def final(self, t: int) -> int:
        for i in range(0, len(self.all_docs), PAGE):
            keys, now = self.all_docs[i : i + PAGE], wall(t)
            found = [k for k in keys if self._present(k, now)]
            self.sim.w.op("final_docs", t, 5 * MS, "ok", {"value": found}, "final", keys=keys, now_ms=now)
            t += 6 * MS
        keys_all = list(self.deadline)
        for i in range(0, len(keys_all), PAGE):
            keys, now = keys_all[i : i + PAGE], wall(t)
            found = [k for k in keys if now < self.deadline[k]]
            self.sim.w.op("final_keys", t, 2 * MS, "ok", {"value": found}, "final", keys=keys, now_ms=now)
            t += 3 * MS
        return t


class _Sessions:
    """Redis sessions with a sliding TTL: login (``HSET`` + ``EXPIRE``), touches (``HGETALL`` +
    ``EXPIRE``), reads, logout (``DEL``); some users go idle past the TTL and log in again."""

    def __init__(self, sim: _Sim) -> None:
        self.sim = sim
        self.rng = sim.rng("sessions")
        self.deadline: dict[str, float] = {}  # key -> expiry, wall ms (absent: no key)
        self.keys: list[str] = []
        self.n = 0
        sim.clock.poisson(RATES["login"], self.rng, self.login)

    def _found(self, key: str, now: float) -> bool:
        return now < self.deadline.get(key, -math.inf)

    def login(self, t: int) -> None:
        rng = self.rng
        tenant = self.sim.tenant()
        self.n += 1
        key = f"session:{tenant}:{self.n:08x}"
        self.keys.append(key)
        now = wall(t)
        out = _outcome(rng, 0.99, 0.005)
        if out == "ok" or (out == "info" and rng.random() < 0.5):
            self.deadline[key] = now + SESSION_TTL_MS
        process = f"web-{rng.randrange(16)}"
        lat = rng.randrange(MS // 2, 3 * MS)
        self.sim.w.op("session_create", t, lat, out, _error(out), process, key=key, tenant=tenant, now_ms=now)
        if out == "ok":  # after a failed login the user tries again later (a new arrival)
            left = rng.randrange(2, 20)
            self.sim.clock.at(t + lat + self._think(), lambda t2: self.use(t2, key, tenant, process, left))

    def _think(self) -> int:
        rng = self.rng
        if rng.random() < 0.04:  # idle past the TTL: the next request finds the session gone
            return int(rng.uniform(SESSION_TTL_MS + 1_000, 2 * SESSION_TTL_MS) * MS)
        return rng.randrange(100 * MS, 2_000 * MS)

    def use(self, t: int, key: str, tenant: str, process: str, left: int) -> None:
        rng, w = self.rng, self.sim.w
        now = wall(t)
        fields = {"key": key, "tenant": tenant, "now_ms": now}
        if left == 0:
            if rng.random() < 0.4:  # logout; the others just leave
                out = _outcome(rng, 0.99, 0.005)
                if out == "ok" or (out == "info" and rng.random() < 0.5):
                    self.deadline.pop(key, None)
                w.op(
                    "session_destroy", t, rng.randrange(MS // 5, 2 * MS), out, _error(out), process, **fields
                )
            return
        f = "session_touch" if rng.random() < 0.85 else "session_read"
        found = self._found(key, now)
        out = _outcome(rng, 0.99, 0.005)
        if f == "session_touch" and found and (out == "ok" or (out == "info" and rng.random() < 0.5)):
            self.deadline[key] = now + SESSION_TTL_MS
        lat = rng.randrange(MS // 5, 3 * MS)
        session = {"user_id": f"u{rng.randrange(self.sim.users(tenant))}", "role": "member"}
        done = {"value": session if found else None} if out == "ok" else _error(out)
        w.op(f, t, lat, out, done, process, **fields)
        if out == "ok" and not found:
            return  # sent back to the login page: a new session
        self.sim.clock.at(t + lat + self._think(), lambda t2: self.use(t2, key, tenant, process, left - 1))

    def final(self, t: int) -> int:
        for i in range(0, len(self.keys), PAGE):
            keys, now = self.keys[i : i + PAGE], wall(t)
            found = [k for k in keys if self._found(k, now)]
            self.sim.w.op("final_sessions", t, 2 * MS, "ok", {"value": found}, "final", keys=keys, now_ms=now)
            t += 3 * MS
        return t


class _UniqueUsers:
    """``PFADD`` of the users active per tenant and hour; ``PFCOUNT`` estimates the exact count up to
    a seeded relative error of at most one standard error (0.81%), well inside the checked 3σ."""

    def __init__(self, sim: _Sim) -> None:
        self.sim = sim
        self.rng = sim.rng("hll")
        self.sets: dict[str, set[str]] = {}
        sim.clock.poisson(RATES["pfadd"], self.rng, self.pfadd)
        sim.clock.poisson(RATES["pfcount"], self.rng, self.pfcount)

    @staticmethod
    def _key(tenant: str, t: int) -> str:
        return f"unique:{tenant}:users:{int(wall(t)) // 3_600_000}"

    def pfadd(self, t: int) -> None:
        rng = self.rng
        tenant = self.sim.tenant()
        key = self._key(tenant, t)
        users = [f"u{rng.randrange(self.sim.users(tenant))}" for _ in range(rng.randrange(1, 16))]
        out = _outcome(rng, 0.99, 0.005)
        if out == "ok" or (out == "info" and rng.random() < 0.5):
            self.sets.setdefault(key, set()).update(users)
        done = {"value": 1} if out == "ok" else _error(out)
        self.sim.w.op(
            "pfadd",
            t,
            rng.randrange(MS // 5, 2 * MS),
            out,
            done,
            f"ingest-{rng.randrange(4)}",
            key=key,
            tenant=tenant,
            value=users,
        )

    def pfcount(self, t: int) -> None:
        rng = self.rng
        tenant = self.sim.tenant()
        key = self._key(tenant, t)
        exact = len(self.sets.get(key, ()))
        estimate = max(0, round(exact * (1 + rng.uniform(-1, 1) * STANDARD_ERROR)))
        out = _outcome(rng, 0.995, 0.003)
        done = {"value": estimate} if out == "ok" else _error(out)
        self.sim.w.op(
            "pfcount",
            t,
            rng.randrange(MS // 5, 2 * MS),
            out,
            done,
            f"api-{rng.randrange(8)}",
            key=key,
            tenant=tenant,
        )


class _Registers:
    """Short-lived lock/leader registers: a few processes read, write and compare-and-set one key
    concurrently; each op takes effect at one instant inside its interval."""

    def __init__(self, sim: _Sim) -> None:
        self.sim = sim
        self.rng = sim.rng("registers")
        self.n = 0
        sim.clock.poisson(RATES["register_burst"], self.rng, self.burst)

    def burst(self, t: int) -> None:
        rng = self.rng
        self.n += 1
        key = f"lock:{self.sim.tenant()}:job-{self.n}"
        processes = rng.randrange(2, 6)
        free_at = [t] * processes
        planned: list[tuple[int, int, int, int, int]] = []  # effect, n, process, call, return
        for n in range(rng.randrange(20, MAX_REGISTER_OPS + 1)):
            p = rng.randrange(processes)
            call = free_at[p] + rng.randrange(0, 5 * MS)
            ret = call + rng.randrange(MS // 5, 5 * MS)
            free_at[p] = ret + 1000
            planned.append((rng.randrange(call, ret + 1), n, p, call, ret))
        state: Any = None
        known: list[Any] = [None] * processes  # the value each process last saw or wrote
        for _effect, n, p, call, ret in sorted(planned):
            kind = rng.random()
            out = _outcome(rng, 0.97, 0.02)
            applies = out == "ok" or (out == "info" and rng.random() < 0.5)
            process = f"lock-{p}"
            if kind < 0.5:
                done = {"value": state} if out == "ok" else _error(out)
                if out == "ok":
                    known[p] = state
                self.sim.w.op("reg_read", call, ret - call, out, done, process, key=key)
                continue
            value = f"{p}:{self.n}:{n}"
            if kind < 0.8:
                if applies:
                    state = value
                known[p] = value
                self.sim.w.op("reg_write", call, ret - call, out, _error(out), process, key=key, value=value)
                continue
            expected = known[p]
            swapped = state == expected
            if out == "ok" and not swapped:
                out = "fail"  # not swapped: certainly no effect
            elif applies and swapped:
                state = value
            if out == "ok":
                known[p] = value
            self.sim.w.op(
                "reg_cas", call, ret - call, out, _error(out), process, key=key, value=[expected, value]
            )


def generate(path: Path, ops: int, seed: int = 1) -> dict[str, Any]:
    """Writes a clean history of about ``ops`` workload ops (the final reads come on top); returns
    counts."""
    with open(path, "wb") as fh:
        w = _Writer(fh)
        clock = _Clock()
        sim = _Sim(w, clock, seed)
        ingestion = _Ingestion(sim)
        _Queries(sim)
        _Profiles(sim)
        audit = _Audit(sim)
        retention = _Retention(sim)
        sessions = _Sessions(sim)
        _UniqueUsers(sim)
        _Registers(sim)
        ingest_ops = 0
        t = 0
        while w.ops < ops:
            t_next = (ingestion.events + 1) * S // RATE
            clock.run_until(t_next)  # every family acts up to the next event, then the event
            before = w.ops
            t = ingestion.event()
            ingest_ops += w.ops - before
            w.advance(t)  # nothing is scheduled before the clock from here on
        workload_ops = w.ops
        # the run ends: what is in flight completes (the heap), then the final reads after healing
        end = max([t, *(p[0] for p in w.pending)]) + S
        w.advance()
        end = ingestion.final(end)
        end = audit.final(end + MS)
        end = retention.final(end + MS)
        sessions.final(end + MS)
        w.advance()
    return {
        "events": ingestion.events,
        "workload_ops": workload_ops,
        "ingestion_ops": ingest_ops,
        "ingestion_share": round(ingest_ops / workload_ops, 3),
        "ops": w.ops,
        "bytes": path.stat().st_size,
        "simulated_s": round(t / S, 1),
        "ops_by_f": dict(sorted(w.by_f.items(), key=lambda kv: -kv[1])),
    }
