"""Detection-matrix case: linearizable registers (Wing–Gong–Lowe search) over a simulated register."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

from hypothesis.strategies import SearchStrategy

from harness.checkers.linearizable import check_linearizable
from harness.checkers.verdict import Verdict
from harness.history.loader import Op
from tests.quality.cases import NotApplicable
from tests.quality.cases._sim import completion_record
from tests.quality.cases._sim_register import impossible_reads, simulate, steps_st

CHECK: Callable[[Iterable[Op]], Verdict] = check_linearizable
Mutation = Callable[[list[dict[str, Any]], random.Random], list[dict[str, Any]]]


def clean() -> SearchStrategy[list[dict[str, Any]]]:
    return steps_st.map(simulate)


def _nonlinearizable(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """One read returns a value overwritten (by an acknowledged write) before it began. Half the
    time a read of a key with ops of unknown outcome is preferred, which the search must try both
    ways before it can tell."""
    spots = impossible_reads(records)
    if not spots:
        raise NotApplicable("no read after a value was overwritten")
    keys = {r["id"]: r["key"] for r in records if r["type"] == "invoke" and "key" in r}
    done = {r["id"] for r in records if r["type"] != "invoke"}
    unsure = {r["id"] for r in records if r["type"] == "info"} | (set(keys) - done)
    murky = {keys[i] for i in unsure if i in keys}
    hidden = [sp for sp in spots if keys[sp[0]] in murky]
    read_id, value = rng.choice(hidden if hidden and rng.random() < 0.5 else spots)
    completion_record(records, read_id)["value"] = value
    return records


ANOMALIES: dict[str, Mutation] = {"nonlinearizable": _nonlinearizable}
