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


ANOMALIES = {"counter-mismatch": counter_off, "planes-disagree": planes_apart}
