"""Redis sessions with a sliding TTL: login (``HSET`` + ``EXPIRE``), touches (``HGETALL`` +
``EXPIRE``) that slide it, reads, logout (``DEL``); the runner's final existence check of every
session key. :class:`SessionTraffic` is the benchmark's driver, some users idling past the TTL."""

from __future__ import annotations

import math
from typing import Any

from harness.bench.sim.core import MS, Sink, draw_outcome, takes_effect, wall
from harness.bench.sim.platform import PAGE, RATES, SESSION_TTL_MS, Sim


class Sessions:
    """Each session key's expiry (wall ms; absent: no key)."""

    def __init__(self, sink: Sink, ttl_ms: float) -> None:
        self.sink = sink
        self.ttl_ms = ttl_ms
        self.deadline: dict[str, float] = {}

    def alive(self, key: str, now: float) -> bool:
        return now < self.deadline.get(key, -math.inf)

    def op(
        self,
        process: str,
        f: str,
        t: int,
        done: int,
        at: tuple[str, str],
        outcome: str | None,
        applied: bool,
        value: Any = None,
    ) -> bool:
        """Op ``f`` on session ``at = (key, tenant)``, taking effect when sent; a touch or read that
        finds the session returns ``value``. Returns whether the session was alive."""
        key, tenant = at
        now = wall(t)
        found = self.alive(key, now)
        effect = takes_effect(outcome, applied)
        if f == "session_create" and effect:
            self.deadline[key] = now + self.ttl_ms
        elif f == "session_destroy" and effect:
            self.deadline.pop(key, None)
        elif f == "session_touch" and found and effect:
            self.deadline[key] = now + self.ttl_ms
        result = {"value": value if found else None} if f in ("session_touch", "session_read") else None
        self.sink.call(process, f, t, outcome, done, {"key": key, "tenant": tenant, "now_ms": now}, result)
        return found

    def final(self, t: int, keys: list[str], latency: int, step: int, page: int) -> int:
        for i in range(0, len(keys), page):
            some, now = keys[i : i + page], wall(t)
            found = [k for k in some if self.alive(k, now)]
            fields = {"keys": some, "now_ms": now}
            self.sink.call("final", "final_sessions", t, "ok", t + latency, fields, {"value": found})
            t += step
        return t


class SessionTraffic:
    """Logins at :data:`RATES` ``login``, each session used a few times and mostly left to expire."""

    def __init__(self, sim: Sim) -> None:
        self.sim = sim
        self.rng = sim.rng("sessions")
        self.model = Sessions(sim.w, SESSION_TTL_MS)
        self.keys: list[str] = []
        sim.clock.poisson(RATES["login"], self.rng, self.login)

    def login(self, t: int) -> None:
        rng = self.rng
        tenant = self.sim.tenant()
        key = f"session:{tenant}:{len(self.keys) + 1:08x}"
        self.keys.append(key)
        out = draw_outcome(rng, 0.99, 0.005)
        applied = self.sim.coin(rng, out)
        process = f"web-{rng.randrange(16)}"
        lat = rng.randrange(MS // 2, 3 * MS)
        self.model.op(process, "session_create", t, t + lat, (key, tenant), out, applied)
        if out == "ok":  # after a failed login the user tries again later (a new arrival)
            left = rng.randrange(2, 20)
            self.sim.clock.at(t + lat + self._think(), lambda t2: self.use(t2, (key, tenant), process, left))

    def _think(self) -> int:
        rng = self.rng
        if rng.random() < 0.04:  # idle past the TTL: the next request finds the session gone
            return int(rng.uniform(SESSION_TTL_MS + 1_000, 2 * SESSION_TTL_MS) * MS)
        return rng.randrange(100 * MS, 2_000 * MS)

    def use(self, t: int, at: tuple[str, str], process: str, left: int) -> None:
        rng, m = self.rng, self.model
        if left == 0:
            if rng.random() < 0.4:  # logout; the others just leave
                out = draw_outcome(rng, 0.99, 0.005)
                applied = self.sim.coin(rng, out)
                m.op(process, "session_destroy", t, t + rng.randrange(MS // 5, 2 * MS), at, out, applied)
            return
        f = "session_touch" if rng.random() < 0.85 else "session_read"
        found = m.alive(at[0], wall(t))
        out = draw_outcome(rng, 0.99, 0.005)
        applied = f == "session_touch" and found and self.sim.coin(rng, out)
        lat = rng.randrange(MS // 5, 3 * MS)
        session = {"user_id": f"u{rng.randrange(self.sim.users(at[1]))}", "role": "member"}
        m.op(process, f, t, t + lat, at, out, applied, session)
        if out == "ok" and not found:
            return  # sent back to the login page: a new session
        self.sim.clock.at(t + lat + self._think(), lambda t2: self.use(t2, at, process, left - 1))

    def final(self, t: int) -> int:
        return self.model.final(t, self.keys, 2 * MS, 3 * MS, PAGE)
