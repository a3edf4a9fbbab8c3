"""Detection-matrix case: retention over a simulated TTL monitor and Redis key TTLs."""

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
from tests.quality.cases._sim import completion_record
from tests.quality.cases._sim_retention import (
    RETENTION_MS,
    SKEW_MS,
    TTL_LAG_MS,
    candidates,
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


def _flip(kind: str) -> Mutation:
    def mutate(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
        spots = candidates(records, kind)
        if not spots:
            raise NotApplicable(f"no observation to flip into {kind}")
        op_id, key = rng.choice(spots)
        done = completion_record(records, op_id)
        found = key in done["value"]
        done["value"] = [k for k in done["value"] if k != key] if found else [*done["value"], key]
        return records

    mutate.__doc__ = f"One read observation flipped so that it shows {kind}."
    return mutate


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
    **{kind: _flip(kind) for kind in ("expired-too-late", "removed-too-early", "ttl-expired-too-late")},
    **{kind: _phantom(kind) for kind in ("phantom-document", "phantom-key")},
}
