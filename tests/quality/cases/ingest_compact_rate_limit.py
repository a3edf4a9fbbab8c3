"""rate-limit-holds on the compact ingest records (``ingest``, ``ingest_rl`` + ``ingest_fx``): one
admission too many in a full window, an admitted event whose side effects never came."""

from __future__ import annotations

import random
from typing import Any

from hypothesis.strategies import SearchStrategy

from harness.checkers.rate_limit import check_rate_limit
from harness.ops import INGEST, INGEST_FX, INGEST_RL

from . import NotApplicable
from ._ingest_model import US, WINDOW_MS, histories, pairs

CHECK = check_rate_limit

Rec = dict[str, Any]


def clean() -> SearchStrategy[list[Rec]]:
    return histories()


def _limiter_ops(records: list[Rec]) -> list[tuple[Rec, Rec]]:
    """(invoke, completion) of every ``ingest``/``ingest_rl`` op that completed ok."""
    return [
        (inv, done)
        for inv, done in pairs(records).values()
        if inv["f"] in (INGEST, INGEST_RL) and done is not None and done["type"] == "ok"
    ]


def over_admit(records: list[Rec], rng: random.Random) -> list[Rec]:
    """A rejection at a window the definite admissions already fill becomes an admission (with its
    side effects done, so that only the window is wrong)."""
    ops = _limiter_ops(records)
    admitted = [(inv["keys"][0], inv["value"]["now_ms"]) for inv, done in ops if done["value"][0] == 1]
    candidates = []
    for inv, done in ops:
        key, now = inv["keys"][0], inv["value"]["now_ms"]
        full = sum(1 for k, t in admitted if k == key and now - WINDOW_MS < t <= now) >= inv["value"]["limit"]
        if done["value"][0] == 0 and full:
            candidates.append((inv, done))
    if not candidates:
        raise NotApplicable("no rejection at a full window")
    inv, done = rng.choice(candidates)
    done["value"][0] = 1
    if inv["f"] == INGEST:
        done["value"][2] = 1  # the script's INCR: its value is not what is judged here
        return records
    fx_id = max(r["id"] for r in records) + 1
    base = {"id": fx_id, "process": "ingest", "f": INGEST_FX}
    records.append({**base, "type": "invoke", "time_ns": done["time_ns"] + US, "rl": inv["id"]})
    records.append({**base, "type": "info", "time_ns": done["time_ns"] + 2 * US, "error": "TimeoutError"})
    records.sort(key=lambda r: r["time_ns"])
    return records


def lose_admission(records: list[Rec], rng: random.Random) -> list[Rec]:
    """Round 2 of one certainly admitted event was never sent: its ``ingest_fx`` is gone."""
    ops = pairs(records)
    fx = [inv["id"] for inv, _ in ops.values() if inv["f"] == INGEST_FX]
    if not fx:
        raise NotApplicable("no ingest_fx (design script, or nothing admitted)")
    gone = rng.choice(fx)
    return [r for r in records if r["id"] != gone]


ANOMALIES = {
    "over-limit": over_admit,
    "admitted-request-lost": lose_admission,
}
