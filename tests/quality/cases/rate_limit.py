"""rate-limit-holds: an over-admitted window, a sharded group past its bound, a lost admission.

Every injection is one admission off: one request too many in one key's window (a rejection at a
full window that was admitted, or one more admission exactly at the window's far edge while the
oldest one sits at its near edge), one admission past ``shards x limit`` in one window of a sharded
group (spread over the group's keys at distinct times, the extra one on a key the buggy limiter
should not use), or one admitted event whose writes are gone (only its refused attempts left)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from hypothesis.strategies import SearchStrategy

from harness.bench.sim.core import MS
from harness.checkers.rate_limit import check_rate_limit

from . import NotApplicable
from ._platform import WINDOW_MS, append_op, histories, ops_of

CHECK = check_rate_limit
Pair = tuple[dict[str, Any], dict[str, Any]]


def clean() -> SearchStrategy[list[dict[str, Any]]]:
    return histories()


def _admitted(records: list[dict[str, Any]]) -> list[Pair]:
    return [
        (inv, done)
        for inv, done in ops_of(records, "rate_limit")
        if done is not None and done["type"] == "ok" and done["value"]["allowed"]
    ]


def _in_window(times: list[int], end: int) -> int:
    """How many of ``times`` lie in the window ``(end - WINDOW_MS, end]``."""
    return sum(1 for t in times if end - WINDOW_MS < t <= end)


def _write_for(records: list[dict[str, Any]], inv: dict[str, Any]) -> None:
    """The admitted request's acknowledged write, so that only the window is wrong."""
    fields = {"tenant": inv["tenant"], "event_id": inv["event_id"], "wc": "1"}
    append_op(records, "insert", "ok", inv["time_ns"] + MS // 2, {}, **fields)


def _admit(records: list[dict[str, Any]], like: dict[str, Any], key: str, now_ms: int, n: int) -> None:
    """One more admitted call on ``key`` at ``now_ms`` (its invoke half a ms into that ms, after
    the model's calls of the same ms, so ``now_ms`` never goes back on the key), with its write."""
    fields = {k: x for k, x in like.items() if k not in ("id", "type", "time_ns", "process", "f")}
    event_id = f"{like['event_id']}-x{n}"
    fields.update(key=key, event_id=event_id, value={**like["value"], "now_ms": now_ms, "req": event_id})
    t = now_ms * MS + MS // 2 + n
    append_op(records, "rate_limit", "ok", t, {"value": {"allowed": True, "remaining": 0}}, **fields)
    _write_for(records, {**fields, "time_ns": t})


def _flip_rejection(records: list[dict[str, Any]], rng: random.Random) -> bool:
    """A rejection at a window the definite admissions alone fill is admitted instead."""
    times: dict[str, list[int]] = {}
    for inv, _ in _admitted(records):
        times.setdefault(inv["key"], []).append(inv["value"]["now_ms"])
    spots = [
        inv
        for inv, done in ops_of(records, "rate_limit")
        if done is not None and done["type"] == "ok" and not done["value"]["allowed"]
        if _in_window(times.get(inv["key"], []), inv["value"]["now_ms"]) >= inv["value"]["limit"]
    ]
    if not spots:
        return False
    inv = rng.choice(spots)
    next(r for r in records if r["id"] == inv["id"] and r["type"] == "ok")["value"]["allowed"] = True
    _write_for(records, inv)
    return True


def _at_far_edge(records: list[dict[str, Any]], rng: random.Random) -> bool:
    """One more admission at ``a + window - 1``, with a definite admission ``a`` at the window's
    near edge and the limit already reached in ``[a, a + window - 1]``."""
    admitted = _admitted(records)
    times: dict[str, list[int]] = {}
    for inv, _ in admitted:
        times.setdefault(inv["key"], []).append(inv["value"]["now_ms"])
    spots = [
        inv
        for inv, _ in admitted
        if _in_window(times[inv["key"]], inv["value"]["now_ms"] + WINDOW_MS - 1) >= inv["value"]["limit"]
    ]
    if not spots:
        return False
    inv = rng.choice(spots)
    _admit(records, inv, inv["key"], inv["value"]["now_ms"] + WINDOW_MS - 1, 0)
    return True


def over_admit(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    ways: list[Callable[[list[dict[str, Any]], random.Random], bool]] = [_flip_rejection, _at_far_edge]
    rng.shuffle(ways)
    if not any(way(records, rng) for way in ways):
        raise NotApplicable("no window the definite admissions fill")
    return records


def _fill(times: list[int], start: int, limit: int, rng: random.Random) -> list[int] | None:
    """Distinct new admission times in ``[start, start + window)`` that bring the key to ``limit``
    there while no window of the key holds more than ``limit``; None when that cannot be done."""
    free = [t for t in range(start, start + WINDOW_MS) if t not in times]
    need = limit - _in_window(times, start + WINDOW_MS - 1)
    if need < 0 or need > len(free):
        return None
    new = rng.sample(free, need)
    every = sorted(times + new)
    if any(_in_window(every, t) > limit for t in every):
        return None
    return new


def past_group_bound(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """A buggy sharded limiter that also uses a key past its shards: in one window (an existing
    admission at its near edge) every shard key reaches its limit, at distinct times, and one
    admission on the extra key at the far edge makes the group exactly one past its bound."""
    group = [(inv, done) for inv, done in _admitted(records) if inv["value"]["shards"] > 1]
    anchors = sorted(group, key=lambda p: p[0]["id"])
    rng.shuffle(anchors)
    for inv, _ in anchors[:4]:
        v = inv["value"]
        keys = [f"ratelimit:{{t:{inv['tenant']}#{i}}}" for i in range(v["shards"] + 1)]
        extra = keys.pop()  # the key past the shards
        times = {k: [i["value"]["now_ms"] for i, _ in group if i["key"] == k] for k in keys}
        start = v["now_ms"]
        plan = {k: _fill(times[k], start, v["limit"], rng) for k in keys}
        if any(p is None for p in plan.values()):
            continue
        n = 1
        for k in keys:
            for t in plan[k] or []:
                _admit(records, inv, k, t, n)
                n += 1
        _admit(records, inv, extra, start + WINDOW_MS - 1, n)
        return records
    raise NotApplicable("no window of a sharded group its keys can fill")


def lose_admission(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """An admitted event's writes never happened: only its refused attempts (if any) are left.
    Half the time an event with refused attempts is preferred (the loss hides behind them)."""
    writes: dict[tuple[str, str], list[tuple[int, bool]]] = {}
    for f in ("insert", "incr"):
        for inv, done in ops_of(records, f):
            refused = done is not None and done["type"] == "fail"
            writes.setdefault((inv["tenant"], inv["event_id"]), []).append((inv["id"], refused))
    admitted = sorted({(inv["tenant"], inv["event_id"]) for inv, _ in _admitted(records)})
    if not admitted:
        raise NotApplicable("nothing admitted")
    hidden = [a for a in admitted if any(refused for _, refused in writes.get(a, []))]
    link = rng.choice(hidden if hidden and rng.random() < 0.5 else admitted)
    ids = {op_id for op_id, refused in writes.get(link, []) if not refused}
    return [r for r in records if r["id"] not in ids]  # the workload never wrote it


ANOMALIES = {
    "over-limit": over_admit,
    "group-bound": past_group_bound,
    "admitted-request-lost": lose_admission,
}
