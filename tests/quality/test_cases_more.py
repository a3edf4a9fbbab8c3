"""Detection matrix for the checkers of branch checkers-more: clean histories are ``valid``; one
injected anomaly is ``invalid`` with an example of that kind. (The generic runner,
``test_matrix.py``, covers every case module; this one keeps these modules honest on their own.)

``CASES_MORE_EXAMPLES=1000`` runs more examples per case (the default stays quick)."""

from __future__ import annotations

import copy
import importlib
import os
import random
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.quality.cases import NotApplicable
from tests.quality.cases._sim import completion_order

MODULES = [
    "read_your_writes",
    "monotonic_reads",
    "tenant_isolation",
    "audit_trail",
    "sessions",
    "unique_users",
    "retention",
    "linearizable",
]
EXAMPLES = int(os.environ.get("CASES_MORE_EXAMPLES", "50"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


def _case(name: str) -> ModuleType:
    return importlib.import_module(f"tests.quality.cases.{name}")


def _anomalies() -> list[tuple[str, str]]:
    return [(m, kind) for m in MODULES for kind in _case(m).ANOMALIES]


@pytest.mark.parametrize("module", MODULES)
def test_clean_histories_are_valid(module: str) -> None:
    case = _case(module)

    @SETTINGS
    @given(records=case.clean())
    def run(records: list[dict[str, Any]]) -> None:
        verdict = case.CHECK(completion_order(records))
        assert verdict.status == "valid", verdict

    run()


@pytest.mark.parametrize(("module", "kind"), _anomalies())
def test_one_injected_anomaly_is_detected(module: str, kind: str) -> None:
    case = _case(module)

    @SETTINGS
    @given(records=case.clean(), seed=st.integers(0, 2**32 - 1))
    def run(records: list[dict[str, Any]], seed: int) -> None:
        try:
            mutated = case.ANOMALIES[kind](copy.deepcopy(records), random.Random(seed))
        except NotApplicable:
            assume(False)
            return
        verdict = case.CHECK(completion_order(mutated))
        assert verdict.status == "invalid", verdict
        assert kind in {ex["kind"] for ex in verdict.examples}, verdict

    run()
