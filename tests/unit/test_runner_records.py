"""The runner's per-variant figures for targets, built as typed records (harness.scenario.runner)."""

from __future__ import annotations

from harness.records import Invariant, RecoveryFigures, RunMetrics, VariantMetrics
from harness.scenario.measure import faults_summary, invariant_numbers


def test_faults_summary_is_the_worst_figure_overall_and_per_fault_kind() -> None:
    figures = [
        RecoveryFigures(fault="kill", errors_until_ms=10.0, apply_delay_ms=2),
        RecoveryFigures(fault="link-down", errors_until_ms=30.0, apply_delay_ms=1),
        RecoveryFigures(fault="kill", status="not applied", apply_delay_ms=5),
    ]
    worst = faults_summary(figures).dump()
    assert worst == {
        "errors_until_ms": 30.0,
        "first_ok_after_heal_ms": None,
        "election_ms": None,
        "apply_delay_ms": 5,
        "heal_delay_ms": None,
        "kill": {
            "errors_until_ms": 10.0,
            "first_ok_after_heal_ms": None,
            "election_ms": None,
            "apply_delay_ms": 5,
            "heal_delay_ms": None,
        },
        "link_down": {
            "errors_until_ms": 30.0,
            "first_ok_after_heal_ms": None,
            "election_ms": None,
            "apply_delay_ms": 1,
            "heal_delay_ms": None,
        },
    }
    metrics = RunMetrics(variants={"before": VariantMetrics(faults_summary=faults_summary(figures))})
    assert metrics.lookup("before.faults_summary.link_down.errors_until_ms") == 30.0


def test_invariant_numbers_are_the_violations_and_numeric_details_by_checker() -> None:
    verdicts = [
        Invariant(
            name="acknowledged-increments-survive",
            violations=2,
            details={
                "lost": 2,
                "ok": True,
                "k": "x",
                "staleness_ms": {"p50": 3.0, "max": None},
                "violations_by_kind": {"incr-went-backwards": 1},
                "by_pref": {"primary": {"reads": 1, "seen": [1]}},
                "deeper": {"a": {"b": {"c": 1}}},  # three levels down is not a figure
                "empty": {},
            },
        ),
        Invariant(name="sessions", violations=None, details={"alive": 1.5}),
    ]
    assert invariant_numbers(verdicts) == {
        "acknowledged_increments_survive": {  # no bools, no text
            "violations": 2,
            "lost": 2,
            "staleness_ms_p50": 3.0,
            "staleness_ms_max": None,
            "violations_by_kind_incr_went_backwards": 1,
            "by_pref_primary_reads": 1,
        },
        "sessions": {"violations": None, "alive": 1.5},
    }


def test_an_empty_run_still_writes_its_variants_key() -> None:
    assert RunMetrics(variants={}).dump() == {"variants": {}}
