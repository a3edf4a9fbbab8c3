"""``expect_invalid: [checker:kind]`` (issue 13): a variant expecting one anomaly kind passes only on
that kind. "sessions lost" is not reproduced by "session outlived its TTL"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.checkers import KINDS_OF, expectation_problem, expected_kinds
from harness.errors import SpecError
from harness.records import Invariant, RunResults
from harness.report.render import _invariant
from harness.scenario.judge import checking_config, mark_expected, overall_verdict
from harness.scenario.spec import available_scenarios, load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def run(expect: list[str], by_kind: dict[str, int], status: str = "invalid") -> RunResults:
    n = sum(by_kind.values())
    examples: list[dict[str, Any]] = [{"kind": k} for k in by_kind]
    invs = [
        Invariant(
            variant="before",
            name="sessions",
            status=status,
            violations=n,
            examples=examples,
            details={"violations_by_kind": by_kind},
        ),
        Invariant(variant="after", name="sessions", status="valid", violations=0),
    ]
    mark_expected(invs, {"before": expect})
    return RunResults(invariants=invs, targets=[])


def test_the_named_kind_passes() -> None:
    verdict, reason = overall_verdict(run(["sessions:session-lost"], {"session-lost": 3}))
    assert verdict == "pass" and "1 expected anomaly reproduced" in reason


def test_another_kind_fails_and_says_which() -> None:
    results = run(["sessions:session-lost"], {"session-outlived-ttl": 2})
    verdict, reason = overall_verdict(results)
    assert verdict == "fail"
    assert "before/sessions: invalid with unexpected kinds session-outlived-ttl" in reason
    assert "should show only session-lost" in reason
    row = _invariant(results.invariants[0])
    assert "unexpected kinds: session-outlived-ttl; expected only session-lost" in str(row["status"])
    assert row["cls"] != "warn"  # not shown as the case's anomaly


def test_mixed_kinds_fail() -> None:
    verdict, reason = overall_verdict(
        run(["sessions:session-lost"], {"session-lost": 3, "phantom-session": 1})
    )
    assert verdict == "fail" and "unexpected kinds phantom-session" in reason


def test_several_kinds_named_any_subset_passes() -> None:
    expect = ["sessions:session-lost", "sessions:phantom-session"]
    assert overall_verdict(run(expect, {"phantom-session": 1}))[0] == "pass"
    assert overall_verdict(run(expect, {"session-lost": 2, "phantom-session": 1}))[0] == "pass"


@pytest.mark.parametrize("status", ["valid", "unknown"])
def test_named_kind_not_reproduced_fails(status: str) -> None:
    verdict, reason = overall_verdict(run(["sessions:session-lost"], {}, status=status))
    assert verdict == "fail" and "should show did not appear" in reason


def test_old_style_name_accepts_any_kind() -> None:
    for by_kind in (
        {"session-lost": 1},
        {"session-outlived-ttl": 2},
        {"session-lost": 1, "phantom-session": 1},
    ):
        results = run(["sessions"], by_kind)
        assert overall_verdict(results)[0] == "pass"
        assert "expected_kinds" not in results.invariants[0].dump()  # runs saved as before
    assert overall_verdict(run(["sessions"], {}, status="valid"))[0] == "fail"


def test_kinds_come_from_examples_when_a_saved_verdict_has_no_counts() -> None:
    inv = Invariant(variant="before", name="sessions", status="invalid", examples=[{"kind": "session-lost"}])
    mark_expected([inv], {"before": ["sessions:session-lost"]})
    assert inv.anomaly_reproduced() and inv.expected_kinds == ["session-lost"]


def test_expected_kinds_parsed() -> None:
    assert expected_kinds(["a", "b:x", "b:y"]) == {"a": set(), "b": {"x", "y"}}
    assert expectation_problem(["sessions:session-lost", "sessions:phantom-session"], ["sessions"]) is None


def test_every_shipped_scenario_names_declared_kinds() -> None:
    for name in available_scenarios():
        spec = load_scenario(name)
        for v in spec.variants:
            for name, kinds in expected_kinds(v.expect_invalid).items():
                assert kinds and kinds <= KINDS_OF[name], (spec.name, v.name, name)


def test_checking_config_keeps_the_kinds_for_harness_check() -> None:
    config = checking_config(load_scenario("redis-persistence-loss"))
    assert config.expect_invalid == {"before": ["sessions:session-lost"]}
    results = run(config.expect_invalid["before"], {"session-outlived-ttl": 1})
    assert overall_verdict(results)[0] == "fail"


@pytest.mark.parametrize(
    ("expect", "problem"),
    [
        ("[sessions:session-gone]", "'sessions' reports no kind 'session-gone'; its kinds: phantom-session,"),
        ("['sessions:']", "'sessions' reports no kind ''"),
        ("[nope:session-lost]", "unknown checker 'nope'"),
        ("[no-duplicates]", "checker 'no-duplicates' is not in the checkers list"),
        ("[sessions, sessions:session-lost]", "'sessions' is named both alone"),
    ],
)
def test_bad_expectations_are_refused_at_load(tmp_path: Path, expect: str, problem: str) -> None:
    text = (SCENARIOS / "redis-persistence-loss.yaml").read_text()
    assert "expect_invalid: [sessions:session-lost]" in text
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace("expect_invalid: [sessions:session-lost]", f"expect_invalid: {expect}"))
    with pytest.raises(SpecError) as err:
        load_scenario(path)
    assert err.value.path == str(path)
    # a whole-scenario check, reported like the checkers list's: the field path leads the problem
    assert "variants.0.expect_invalid: '" in str(err.value)
    assert problem in str(err.value) and "\n" not in str(err.value)


def test_invalid_without_any_kind_counted_is_not_the_named_anomaly() -> None:
    verdict, reason = overall_verdict(run(["sessions:session-lost"], {}))
    assert verdict == "fail" and "invalid with no kind counted" in reason
