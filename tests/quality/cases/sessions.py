"""Detection-matrix case: sessions with a sliding TTL over a simulated Redis session store."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterable
from typing import Any

from hypothesis.strategies import SearchStrategy

from harness.checkers.sessions import check_sessions
from harness.checkers.verdict import Verdict
from harness.history.loader import Op
from tests.quality.cases import NotApplicable
from tests.quality.cases._sim import completion_record
from tests.quality.cases._sim_sessions import SKEW_MS, TTL_MS, candidates, phantom_spots, simulate, steps_st

CHECK: Callable[[Iterable[Op]], Verdict] = functools.partial(
    check_sessions, ttl_ms=TTL_MS, clock_skew_ms=SKEW_MS
)
Mutation = Callable[[list[dict[str, Any]], random.Random], list[dict[str, Any]]]


def clean() -> SearchStrategy[list[dict[str, Any]]]:
    return steps_st.map(simulate)


def _flip(records: list[dict[str, Any]], rng: random.Random, found: bool) -> list[dict[str, Any]]:
    spots = candidates(records, found)
    if not spots:
        raise NotApplicable("no observation the model guarantees")
    op_id, key = rng.choice(spots)
    done = completion_record(records, op_id)
    if done["f"] == "final_sessions":
        done["value"] = [k for k in done["value"] if k != key] if found else [*done["value"], key]
    else:
        done["value"] = None if found else {"user_id": "ghost"}
    return records


def _phantom(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """One observation finds a session nobody created (no create or touch invoked before it)."""
    spots = phantom_spots(records)
    if not spots:
        raise NotApplicable("no observation of a session nobody could have created")
    op_id, key = rng.choice(spots)
    done = completion_record(records, op_id)
    if done["f"] == "final_sessions":
        done["value"] = [*done["value"], key]
    else:
        done["value"] = {"user_id": "ghost", "role": "admin"}
    return records


ANOMALIES: dict[str, Mutation] = {
    "session-lost": lambda records, rng: _flip(records, rng, found=True),
    "session-outlived-ttl": lambda records, rng: _flip(records, rng, found=False),
    "phantom-session": _phantom,
}
