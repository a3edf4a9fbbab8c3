"""Detection-matrix case: read-your-writes over a simulated session-consistent record store."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

from hypothesis.strategies import SearchStrategy

from harness.checkers.read_your_writes import check_read_your_writes
from harness.checkers.verdict import Verdict
from harness.history.loader import Op
from tests.quality.cases import NotApplicable
from tests.quality.cases._sim import completion_record
from tests.quality.cases._sim_versions import own_write_floors, simulate, steps_st, written_bounds

CHECK: Callable[[Iterable[Op]], Verdict] = check_read_your_writes


def clean() -> SearchStrategy[list[dict[str, Any]]]:
    return steps_st.map(simulate)


def _stale_read(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """One read after its session's acknowledged write returns the version before that write."""
    candidates = own_write_floors(records)
    if not candidates:
        raise NotApplicable("no read follows an acknowledged write of its session")
    read_id, version = rng.choice(candidates)
    completion_record(records, read_id)["value"] = (version - 1) or None
    return records


def _never_written(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """One read returns the version just above the highest any write invoked by its completion
    could have installed (e.g. a read served from a diverged replica)."""
    candidates = written_bounds(records)
    if not candidates:
        raise NotApplicable("no ok read")
    hidden = [c for c in candidates if c[2]]  # half the time behind writes of unknown outcome
    read_id, most, _ = rng.choice(hidden if hidden and rng.random() < 0.5 else candidates)
    completion_record(records, read_id)["value"] = most + 1
    return records


ANOMALIES: dict[str, Callable[[list[dict[str, Any]], random.Random], list[dict[str, Any]]]] = {
    "value-never-written": _never_written,
    "stale-read": _stale_read,
}
