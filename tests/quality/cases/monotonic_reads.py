"""Detection-matrix case: monotonic reads over a simulated session-consistent record store."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

from hypothesis.strategies import SearchStrategy

from harness.checkers.monotonic_reads import check_monotonic_reads
from harness.checkers.verdict import Verdict
from harness.history.loader import Op
from tests.quality.cases import NotApplicable
from tests.quality.cases._sim import completion_record
from tests.quality.cases._sim_versions import earlier_read_floors, simulate, steps_st, written_bounds

CHECK: Callable[[Iterable[Op]], Verdict] = check_monotonic_reads


def clean() -> SearchStrategy[list[dict[str, Any]]]:
    return steps_st.map(simulate)


def _regressing_read(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """One read returns a version older than one its session's earlier completed read saw."""
    candidates = earlier_read_floors(records)
    if not candidates:
        raise NotApplicable("no read follows a completed read of a nonzero version in its session")
    read_id, seen = rng.choice(candidates)
    completion_record(records, read_id)["value"] = (seen - 1) or None
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
    "regressing-read": _regressing_read,
}
