"""rate-limit-holds: an over-admitted window, a sharded group past its bound, a lost admission."""

from __future__ import annotations

import random
from typing import Any

from hypothesis.strategies import SearchStrategy

from harness.checkers.rate_limit import check_rate_limit

from . import NotApplicable
from ._platform import WINDOW_MS, append_op, histories, ops_of

CHECK = check_rate_limit


def clean() -> SearchStrategy[list[dict[str, Any]]]:
    return histories()


def _admitted(records: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        (inv, done)
        for inv, done in ops_of(records, "rate_limit")
        if done is not None and done["type"] == "ok" and done["value"]["allowed"]
    ]


def _write_for(records: list[dict[str, Any]], inv: dict[str, Any]) -> None:
    """The admitted request's write, so that only the window is wrong (not a lost admission)."""
    append_op(
        records,
        "insert",
        "fail",
        inv["time_ns"] + 2,
        {"error": "ConnectionError"},
        tenant=inv["tenant"],
        event_id=inv["event_id"],
        wc="1",
    )


def over_admit(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    admitted = _admitted(records)
    candidates = []
    for inv, done in ops_of(records, "rate_limit"):
        if done is None or done["type"] != "ok" or done["value"]["allowed"]:
            continue
        v = inv["value"]
        in_window = sum(
            1
            for a, _ in admitted
            if a["key"] == inv["key"] and v["now_ms"] - WINDOW_MS < a["value"]["now_ms"] <= v["now_ms"]
        )
        if in_window >= v["limit"]:  # the limit is reached by definite admissions alone
            candidates.append((inv, done))
    if not candidates:
        raise NotApplicable("no rejection at a full window")
    inv, done = rng.choice(candidates)
    done["value"]["allowed"] = True
    _write_for(records, inv)
    return records


def past_group_bound(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    # a buggy sharded limiter that uses more keys than its shards: each key stays under its limit,
    # the group goes past shards x per-key limit
    groups = [(inv, done) for inv, done in _admitted(records) if inv["value"]["shards"] > 1]
    if not groups:
        raise NotApplicable("no admission in a sharded group")
    inv, _ = rng.choice(groups)
    v = inv["value"]
    bound = v["shards"] * v["limit"]
    for n in range(bound + 1):
        extra_key = f"{inv['key']}:extra{n // v['limit']}"
        fields = {k: x for k, x in inv.items() if k not in ("id", "type", "time_ns", "process", "f")}
        fields.update(key=extra_key, event_id=f"{inv['event_id']}-x{n}")
        ok = {"value": {"allowed": True, "remaining": 0}}
        append_op(records, "rate_limit", "ok", inv["time_ns"], ok, **fields)
        _write_for(records, {**fields, "time_ns": inv["time_ns"]})
    return records


def lose_admission(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    admitted = _admitted(records)
    if not admitted:
        raise NotApplicable("nothing admitted")
    inv, _ = rng.choice(admitted)
    link = (inv["tenant"], inv["event_id"])
    ids = {
        rec["id"]
        for rec in records
        if rec["type"] == "invoke"
        and rec["f"] in ("insert", "incr")
        and (rec.get("tenant"), rec.get("event_id")) == link
    }
    return [r for r in records if r["id"] not in ids]  # the workload never wrote it


ANOMALIES = {
    "over-limit": over_admit,
    "group-bound": past_group_bound,
    "admitted-request-lost": lose_admission,
}
