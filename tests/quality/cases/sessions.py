"""Detection-matrix case: sessions with a sliding TTL over a simulated Redis session store.

Each injection is one added read, placed 1 ms past the bound the model's truth allows (not where
the checker's margins say), half the time on a session with ops of unknown outcome: a session
missing 1 ms before its TTL (minus the skew) could have expired it, a session found 1 ms past the
latest deadline (plus the skew) any of its extensions could have set, or a session nobody made."""

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
from tests.quality.cases._sim import MS, add_call, completion_record, wall_ms
from tests.quality.cases._sim_sessions import (
    SKEW_MS,
    TTL_MS,
    early_absent_spots,
    late_found_spots,
    phantom_spots,
    simulate,
    steps_st,
)

CHECK: Callable[[Iterable[Op]], Verdict] = functools.partial(
    check_sessions, ttl_ms=TTL_MS, clock_skew_ms=SKEW_MS
)
Mutation = Callable[[list[dict[str, Any]], random.Random], list[dict[str, Any]]]


def clean() -> SearchStrategy[list[dict[str, Any]]]:
    return steps_st.map(simulate)


def _read(records: list[dict[str, Any]], key: str, t: int, found: bool) -> list[dict[str, Any]]:
    fields = {"key": key, "tenant": key.split(":")[1], "now_ms": wall_ms(t)}
    value = {"user_id": "ghost", "role": "member"} if found else None
    return add_call(records, "session_read", (t, t + MS), fields, {"value": value})


def _spot(spots: list[tuple[str, int, bool]], rng: random.Random, what: str) -> tuple[str, int, bool]:
    """One spot; half the time one hidden behind an op of unknown outcome, when there is."""
    if not spots:
        raise NotApplicable(f"no place for {what}")
    hidden = [sp for sp in spots if sp[2]]
    return rng.choice(hidden if hidden and rng.random() < 0.5 else spots)


def _lost(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """One read misses a session 1 ms before its TTL (minus the skew) could have expired it."""
    key, t, _ = _spot(early_absent_spots(records), rng, "a session certainly alive")
    return _read(records, key, t, False)


def _outlived(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """One read finds a session 1 ms past the latest deadline (plus the skew) it could have had."""
    key, t, _ = _spot(late_found_spots(records), rng, "a session past every deadline")
    return _read(records, key, t, True)


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
    "session-lost": _lost,
    "session-outlived-ttl": _outlived,
    "phantom-session": _phantom,
}
