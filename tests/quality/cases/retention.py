"""Detection-matrix case: retention over a simulated TTL monitor and Redis key TTLs.

Each injection is one observation, placed 1 ms past the bound the model's truth allows (not where
the checker's margins say): a read that finds a document 1 ms after its expiry + the monitor's
largest lag + the clock skew (half the time one whose insert had an unknown outcome), a read that
misses an acknowledged document 1 ms before its expiry - skew, a read that finds a Redis key 1 ms
past the latest deadline its TTL writes could have set (half the time one an unknown-outcome write
set), or a read that finds a document or key nothing could have written."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterable
from typing import Any

from hypothesis.strategies import SearchStrategy

from harness.checkers.retention import check_retention
from harness.checkers.verdict import Verdict
from harness.history.loader import Op
from tests.quality.cases import NotApplicable
from tests.quality.cases._sim import MS, add_call, completion_record, wall_ms
from tests.quality.cases._sim_retention import (
    RETENTION_MS,
    SKEW_MS,
    TTL_LAG_MS,
    early_doc_spots,
    late_doc_spots,
    late_key_spots,
    phantom_spots,
    simulate,
    steps_st,
)

CHECK: Callable[[Iterable[Op]], Verdict] = functools.partial(
    check_retention, retention_ms=RETENTION_MS, ttl_lag_ms=TTL_LAG_MS, clock_skew_ms=SKEW_MS
)
Mutation = Callable[[list[dict[str, Any]], random.Random], list[dict[str, Any]]]


def clean() -> SearchStrategy[list[dict[str, Any]]]:
    return steps_st.map(simulate)


def _read(records: list[dict[str, Any]], f: str, key: str, t: int, found: bool) -> list[dict[str, Any]]:
    fields = {"keys": [key], "now_ms": wall_ms(t)}
    return add_call(records, f, (t, t + MS), fields, {"value": [key] if found else []})


def _expired_too_late(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    spots = late_doc_spots(records)
    if not spots:
        raise NotApplicable("no document that may exist")
    hidden = [sp for sp in spots if sp[0].outcome != "ok"]
    ins, t = rng.choice(hidden if hidden and rng.random() < 0.5 else spots)
    return _read(records, "doc_read", ins.get("key"), t, True)


def _removed_too_early(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    spots = early_doc_spots(records)
    if not spots:
        raise NotApplicable("no acknowledged document")
    ins, t = rng.choice(spots)
    return _read(records, "doc_read", ins.get("key"), t, False)


def _key_too_late(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    spots = late_key_spots(records)
    if not spots:
        raise NotApplicable("no completed TTL write")
    hidden = [sp for sp in spots if sp[2]]
    key, t, _ = rng.choice(hidden if hidden and rng.random() < 0.5 else spots)
    return _read(records, "key_read", key, t, True)


def _phantom(kind: str) -> Mutation:
    def mutate(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
        spots = phantom_spots(records, kind)
        if not spots:
            raise NotApplicable(f"no read of a key nothing could have written ({kind})")
        op_id, key = rng.choice(spots)
        done = completion_record(records, op_id)
        done["value"] = [*done["value"], key]
        return records

    mutate.__doc__ = f"One read finds a key nothing that did not fail wrote ({kind})."
    return mutate


ANOMALIES: dict[str, Mutation] = {
    "expired-too-late": _expired_too_late,
    "removed-too-early": _removed_too_early,
    "ttl-expired-too-late": _key_too_late,
    **{kind: _phantom(kind) for kind in ("phantom-document", "phantom-key")},
}
