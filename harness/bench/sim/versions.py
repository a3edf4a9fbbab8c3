"""Versioned records (``$inc: {version: 1}``) on a replica set, read through causally consistent
client sessions: a read returns at least what its session wrote or read before (read-your-writes,
monotonic reads), possibly less than the primary has (a secondary behind by its lag).
:class:`ProfileTraffic` is the benchmark's driver: user profiles edited from one to three devices."""

from __future__ import annotations

import random
from typing import Any

from harness.bench.sim.core import MS, S, Sink, draw_outcome, takes_effect
from harness.bench.sim.platform import PROFILE_CLIENTS, Sim


class Versions:
    """Each key's current version, and per (session, key) the lowest version the session may read."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.current: dict[str, int] = {}
        self.floors: dict[tuple[str, str], int] = {}

    def latest(self, key: str) -> int:
        return self.current.get(key, 0)

    def floor(self, session: str, key: str) -> int:
        return self.floors.get((session, key), 0)

    def _saw(self, session: str, key: str, version: int) -> None:
        self.floors[(session, key)] = max(self.floor(session, key), version)

    def write(
        self,
        process: str,
        t: int,
        done: int,
        at: tuple[str, str, str],
        outcome: str | None,
        applied: bool,
        extra: dict[str, Any],
    ) -> None:
        """Session ``at = (session, key, tenant)`` increments the key's version."""
        session, key, tenant = at
        if takes_effect(outcome, applied):
            self.current[key] = self.latest(key) + 1
        version = self.latest(key)
        if outcome == "ok":
            self._saw(session, key, version)
        fields = {**extra, "key": key, "session": session, "tenant": tenant}
        self.sink.call(process, "write", t, outcome, done, fields, {"value": version})

    def read(
        self,
        process: str,
        t: int,
        done: int,
        at: tuple[str, str, str],
        version: int,
        outcome: str | None,
        extra: dict[str, Any],
    ) -> None:
        """Session ``at = (session, key, tenant)`` reads ``version`` (between its floor and the
        latest); the read carries the tenant of what it returned."""
        session, key, tenant = at
        if outcome == "ok":
            self._saw(session, key, version)
        fields = {**extra, "key": key, "session": session, "tenant": tenant}
        result = {"value": version or None, "tenants": [tenant] if version else []}
        self.sink.call(process, "read", t, outcome, done, fields, result)


class _Client:
    __slots__ = ("at", "left", "process")

    def __init__(self, at: tuple[str, str, str], process: str, left: int) -> None:
        self.at, self.process, self.left = at, process, left


class ProfileTraffic:
    """:data:`PROFILE_CLIENTS` device sessions at once, each a sequence of profile reads (primary or
    ``secondaryPreferred``) and majority writes; a finished session's place is taken by a new one."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.rng: random.Random = sim.rng("profiles")
        self.model = Versions(sim.w)
        self.sessions = 0
        for _ in range(PROFILE_CLIENTS):
            self.sim.clock.at(self.rng.randrange(1, S), self.login)

    def login(self, t: int) -> None:
        rng = self.rng
        tenant = self.sim.tenant()
        key = f"profile:{tenant}:u{rng.randrange(self.sim.users(tenant) // 10)}"
        self.sessions += 1
        c = _Client((f"cs{self.sessions}", key, tenant), f"web-{rng.randrange(16)}", rng.randrange(5, 60))
        self.step(t, c)

    def step(self, t: int, c: _Client) -> None:
        rng, m = self.rng, self.model
        if c.left == 0:
            self.sim.clock.at(t + rng.randrange(MS, 100 * MS), self.login)  # another user takes its place
            return
        c.left -= 1
        session, key, _ = c.at
        if rng.random() < 0.2:
            out = draw_outcome(rng, 0.98, 0.01)
            applied = self.sim.coin(rng, out)
            lat = rng.randrange(2 * MS, 12 * MS)
            m.write(c.process, t, t + lat, c.at, out, applied, {"write_concern": "majority"})
        else:
            current, primary = m.latest(key), rng.random() < 0.5
            behind = 0 if primary else rng.choice((0, 0, 0, 1, 1, 2, 4))
            version = max(m.floor(session, key), current - behind)
            out = draw_outcome(rng, 0.99, 0.005)
            lat = rng.randrange(MS // 2, 6 * MS)
            pref = "primary" if primary else "secondaryPreferred"
            m.read(c.process, t, t + lat, c.at, version, out, {"read_pref": pref, "read_concern": "majority"})
        self.sim.clock.at(t + lat + rng.randrange(20 * MS, 400 * MS), lambda t2: self.step(t2, c))
