"""Detection-matrix case: linearizable registers (Wing–Gong–Lowe search) over a simulated register."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

from hypothesis.strategies import SearchStrategy

from harness.checkers.linearizable import check_linearizable
from harness.checkers.verdict import Verdict
from harness.history.loader import Op
from tests.quality.cases._sim import completion_record
from tests.quality.cases._sim_register import impossible_reads, simulate, steps_st

CHECK: Callable[[Iterable[Op]], Verdict] = check_linearizable
Mutation = Callable[[list[dict[str, Any]], random.Random], list[dict[str, Any]]]


def clean() -> SearchStrategy[list[dict[str, Any]]]:
    return steps_st.map(simulate)


def _nonlinearizable(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """One read returns a value overwritten before it began, or, where the history has no such
    place, a value nobody wrote."""
    spots = impossible_reads(records)
    if spots and rng.random() < 0.8:
        read_id, value = rng.choice(spots)
    else:
        reads = [r for r in records if r["f"] == "reg_read" and r["type"] == "ok"]
        read_id, value = rng.choice(reads)["id"], "never-written"  # the prelude has one
    completion_record(records, read_id)["value"] = value
    return records


ANOMALIES: dict[str, Mutation] = {"nonlinearizable": _nonlinearizable}
