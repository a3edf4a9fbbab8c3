"""acknowledged-writes-survive: dropped acknowledged events, failed writes that landed, strangers."""

from __future__ import annotations

import random
from typing import Any

from hypothesis.strategies import SearchStrategy

from harness.checkers.acknowledged_writes import check_acknowledged_writes

from . import NotApplicable
from ._platform import append_op, histories, ops_of

CHECK = check_acknowledged_writes


def clean() -> SearchStrategy[list[dict[str, Any]]]:
    return histories()


def _reads(records: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(inv, done) for inv, done in ops_of(records, "final_events") if done is not None]


def drop_acknowledged(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    acked = sorted(
        {(i["tenant"], i["event_id"]) for i, d in ops_of(records, "insert") if d and d["type"] == "ok"}
    )
    if not acked:
        raise NotApplicable("no acknowledged insert")
    tenant, event_id = rng.choice(acked)
    for inv, done in _reads(records):
        if inv["tenant"] == tenant:
            value = done["value"]
            i = value["event_ids"].index(event_id)
            del value["event_ids"][i]
            if "windows" in value:
                del value["windows"][i]
    return records


def failed_but_present(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    reads = _reads(records)
    if not reads:
        raise NotApplicable("no final_events read")
    inv, done = rng.choice(reads)
    # a write that certainly failed (the server said so) and yet is stored
    event_id = f"failed-{rng.randrange(10**6)}"
    t = min(r["time_ns"] for r in records if r["id"] == inv["id"]) - 10
    append_op(
        records,
        "insert",
        "fail",
        t,
        {"error": "WriteConcernError"},
        tenant=inv["tenant"],
        event_id=event_id,
        wc="1",
    )
    done["value"]["event_ids"].append(event_id)
    if "windows" in done["value"]:
        done["value"]["windows"].append(0)
    return records


def stranger(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    reads = _reads(records)
    if not reads:
        raise NotApplicable("no final_events read")
    _, done = rng.choice(reads)
    done["value"]["event_ids"].append(f"never-written-{rng.randrange(10**6)}")
    if "windows" in done["value"]:
        done["value"]["windows"].append(0)
    return records


ANOMALIES = {
    "lost-acknowledged-write": drop_acknowledged,
    "failed-write-present": failed_but_present,
    "unexpected-event": stranger,
}
