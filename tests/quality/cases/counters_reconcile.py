"""counters-reconcile: a tenant/window counter off its increments, and counters vs MongoDB."""

from __future__ import annotations

import random
from typing import Any

from hypothesis.strategies import SearchStrategy

from harness.checkers.counters_reconcile import check_counters_reconcile

from . import NotApplicable
from ._platform import histories, ops_of

CHECK = check_counters_reconcile


def clean() -> SearchStrategy[list[dict[str, Any]]]:
    return histories()


def counter_off(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    incr = [inv for inv, _ in ops_of(records, "incr")]
    keys = sorted({inv["key"] for inv in incr})
    if not keys:
        raise NotApplicable("no counter")
    key = rng.choice(keys)
    for inv, done in ops_of(records, "final_read"):
        if inv["key"] == key and done is not None:
            # more than every INCR of the whole run could explain
            done["value"] = (done["value"] or 0) + len(incr) + 1
    return records


def planes_apart(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    reads = [(inv, done) for inv, done in ops_of(records, "final_events") if done is not None]
    groups = sorted({(inv["tenant"], inv.get("window")) for inv, _ in ops_of(records, "incr")}, key=str)
    groups = [g for g in groups if any(inv["tenant"] == g[0] for inv, _ in reads)]
    if not groups:
        raise NotApplicable("no tenant with both a counter and a final_events read")
    tenant, window = rng.choice(groups)
    done = next(d for i, d in reads if i["tenant"] == tenant)
    value = done["value"]
    # MongoDB holds more documents for the group than any outcome of its writes explains
    extra = len(records) + 1
    value["event_ids"] += [f"ghost-{i}" for i in range(extra)]
    if "windows" in value:
        value["windows"] += [window] * extra
    return records


def stored_off(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """MongoDB holds one document too few or too many for a group, by its own inserts: an
    acknowledged event's document is gone while no unknown-outcome insert of the group is stored,
    or a document of an event never inserted appears while every unknown one is stored."""
    outcome: dict[tuple[str, str], set[Any]] = {}
    window: dict[tuple[str, str], Any] = {}
    for inv, done in ops_of(records, "insert"):
        key = (inv["tenant"], inv["event_id"])
        outcome.setdefault(key, set()).add(None if done is None else done["type"])
        window[key] = inv.get("window")
    spots = []
    for inv, done in ops_of(records, "final_events"):
        if done is None or done["type"] != "ok":
            continue
        tenant, value = inv["tenant"], done["value"]
        windows = value.get("windows") or [window.get((tenant, e)) for e in value["event_ids"]]
        for w in sorted({window[k] for k in outcome if k[0] == tenant}, key=str):
            group = [k[1] for k in outcome if k[0] == tenant and window[k] == w]
            acked = {e for e in group if "ok" in outcome[(tenant, e)]}
            unknown = {e for e in group if e not in acked and outcome[(tenant, e)] & {"info", None}}
            stored = {e for e, sw in zip(value["event_ids"], windows, strict=True) if sw == w}
            if acked & stored and not unknown & stored:
                spots += [(value, "drop", e, w) for e in sorted(acked & stored)]
            if unknown <= stored:
                spots.append((value, "add", f"ghost-{tenant}", w))
    if not spots:
        raise NotApplicable("no group at either end of its stored-count interval")
    value, how, event_id, w = rng.choice(spots)
    if how == "drop":
        i = value["event_ids"].index(event_id)
        del value["event_ids"][i]
        if "windows" in value:
            del value["windows"][i]
    else:
        value["event_ids"].append(event_id)
        if "windows" in value:
            value["windows"].append(w)
    return records


ANOMALIES = {
    "counter-mismatch": counter_off,
    "planes-disagree": planes_apart,
    "stored-count-mismatch": stored_off,
}
