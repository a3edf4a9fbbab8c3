"""acknowledged-increments-survive on the compact ingest records: an acknowledged increment lost,
an INCR reply one below the real-time frontier (both expressed on ``ingest``/``ingest_fx``
completions and the ``final_read`` records)."""

from __future__ import annotations

import random
from typing import Any

from hypothesis.strategies import SearchStrategy

from harness.checkers.counters import check_acknowledged_increments
from harness.ops import INCR, INGEST

from . import NotApplicable
from ._ingest_model import expanded, histories, incr_source, pairs

CHECK = check_acknowledged_increments

Rec = dict[str, Any]


def clean() -> SearchStrategy[list[Rec]]:
    return histories()


def lost(records: list[Rec], rng: random.Random) -> list[Rec]:
    """A key's final read holds one increment fewer than were acknowledged."""
    acked: dict[str, int] = {}
    for op in expanded(records, INCR):
        if op.outcome == "ok":
            acked[op.get("key")] = acked.get(op.get("key"), 0) + 1
    finals = [
        done
        for inv, done in pairs(records).values()
        if inv["f"] == "final_read" and done is not None and acked.get(inv["key"], 0) > 0
    ]
    if not finals:
        raise NotApplicable("no acknowledged increment")
    done = rng.choice(finals)
    done["value"] = acked[done["key"]] - 1 or None
    return records


def rolled_back(records: list[Rec], rng: random.Random) -> list[Rec]:
    """One acknowledged INCR, invoked after another one on its key completed with ``v``, returns
    ``v - 1`` (a failover rolled the counter back), written where the compact records say it."""
    ok = [op for op in expanded(records, INCR) if op.outcome == "ok"]
    spots = []
    for b in ok:
        before = [a.value for a in ok if a.get("key") == b.get("key") and a.complete_ns < b.invoke_ns]
        if before and max(before) >= 1:
            spots.append((b.id, max(before)))
    if not spots:
        raise NotApplicable("no acknowledged INCR after another acknowledged one")
    real = [s for s in spots if s[1] >= 2]  # an INCR never returns 0: prefer a frontier >= 2
    op_id, frontier = rng.choice(real or spots)
    done = incr_source(records, op_id)
    if pairs(records)[done["id"]][0]["f"] == INGEST:
        done["value"][2] = frontier - 1
    else:
        done["value"] = frontier - 1
    return records


ANOMALIES = {
    "lost": lost,
    "incr-went-backwards": rolled_back,
}
