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


def _attempts(records: list[dict[str, Any]]) -> dict[tuple[str, str], set[Any]]:
    """(tenant, event id) -> the outcomes of its insert attempts (None: never completed)."""
    out: dict[tuple[str, str], set[Any]] = {}
    for inv, done in ops_of(records, "insert"):
        out.setdefault((inv["tenant"], inv["event_id"]), set()).add(None if done is None else done["type"])
    return out


def _store(done: dict[str, Any], event_id: str, window: Any = 0) -> None:
    done["value"]["event_ids"].append(event_id)
    if "windows" in done["value"]:
        done["value"]["windows"].append(window)


def drop_acknowledged(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """One acknowledged event's document is gone; half the time one whose other attempts were of
    unknown outcome (a retry after a timeout), where the loss hides behind them."""
    attempts = _attempts(records)
    acked = sorted(k for k, seen in attempts.items() if "ok" in seen)
    if not acked:
        raise NotApplicable("no acknowledged insert")
    hidden = [k for k in acked if attempts[k] & {"info", None}]
    tenant, event_id = rng.choice(hidden if hidden and rng.random() < 0.5 else acked)
    for inv, done in _reads(records):
        if inv["tenant"] == tenant:
            value = done["value"]
            i = value["event_ids"].index(event_id)
            del value["event_ids"][i]
            if "windows" in value:
                del value["windows"][i]
    return records


def failed_but_present(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """One event whose every insert attempt certainly failed (the server said so) is stored; when
    the history has none, a new one (a failed insert of a new event) is."""
    reads = {inv["tenant"]: done for inv, done in _reads(records)}
    if not reads:
        raise NotApplicable("no final_events read")
    failed = sorted(k for k, seen in _attempts(records).items() if seen == {"fail"} and k[0] in reads)
    if failed:
        tenant, event_id = rng.choice(failed)
        ins = next(
            i for i, _ in ops_of(records, "insert") if (i["tenant"], i["event_id"]) == (tenant, event_id)
        )
        _store(reads[tenant], event_id, ins.get("window"))
        return records
    tenant = rng.choice(sorted(reads))
    event_id = f"failed-{rng.randrange(10**6)}"
    t = min(r["time_ns"] for r in records if r["id"] == reads[tenant]["id"]) - 10
    fields = {"tenant": tenant, "event_id": event_id, "wc": "1"}
    append_op(records, "insert", "fail", t, {"error": "WriteConcernError"}, **fields)
    _store(reads[tenant], event_id)
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
