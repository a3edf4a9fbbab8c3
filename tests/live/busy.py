"""Making a redis-server busy for a stated time, however fast its CPU is.

A loop of N iterations takes 1 s on one machine and 0.2 s on the next (machines of our kind differ
by 2x), so a test that needs "the server is busy longer than the client's timeout" spins on the
server's own clock instead: the script returns once ``TIME`` has advanced by the asked time, on a
fast CPU, a slow one, or one capped by a cgroup quota alike.
"""

from __future__ import annotations

import time

import redis

# Returns the microseconds it spun (>= ARGV[1] ms), so a test can assert the wait really happened.
BUSY_FOR_MS_LUA = """
local t = redis.call('TIME')
local start = tonumber(t[1]) * 1000000 + tonumber(t[2])
local goal = tonumber(ARGV[1]) * 1000
local spun = 0
repeat
  t = redis.call('TIME')
  spun = tonumber(t[1]) * 1000000 + tonumber(t[2]) - start
until spun >= goal
return spun
"""


def busy_command(ms: int) -> list[str]:
    """``EVAL`` that keeps the server's event loop busy for ``ms`` milliseconds of wall time. Keep
    ``ms`` under ``busy-reply-threshold`` (5 s) unless the test wants other clients to get BUSY."""
    return ["EVAL", BUSY_FOR_MS_LUA, "0", str(ms)]


def wait_until_answering(client: redis.Redis, timeout_s: float = 30) -> None:
    """Readiness after a busy script: PING answered. While the script runs, a client either waits
    (its read may time out) or, past ``busy-reply-threshold``, is answered BUSY."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if client.ping():
                return
        except (redis.ResponseError, redis.TimeoutError) as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"the server stayed busy for {timeout_s} s: {exc}") from exc
            time.sleep(0.05)
