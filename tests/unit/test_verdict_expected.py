"""A variant meant to show the case study's anomaly passes when it does and fails when it does not."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.records import Invariant, Plane, RunResults
from harness.scenario.judge import mark_expected, overall_verdict


def results(before: str, after: str) -> RunResults:
    invs = [
        Invariant(variant="before", name="acknowledged-increments-survive", status=before),
        Invariant(variant="after", name="acknowledged-increments-survive", status=after),
    ]
    mark_expected(invs, {"before": ["acknowledged-increments-survive"]})
    return RunResults.model_validate(
        {"error": None, "targets": [{"name": "t", "status": "pass"}]}
    ).model_copy(update={"invariants": invs})


def test_reproduced_anomaly_in_before_and_none_after_is_a_pass() -> None:
    verdict, reason = overall_verdict(results("invalid", "valid"))
    assert verdict == "pass" and reason == (
        "all 1 targets met, all 1 invariant checks valid and 1 expected anomaly reproduced"
    )


@pytest.mark.parametrize(
    ("before", "after", "why"),
    [
        ("valid", "valid", "should show did not appear"),  # the case was not reproduced
        ("unknown", "valid", "should show did not appear"),
        ("invalid", "invalid", "after/acknowledged-increments-survive: invalid"),  # the fix did not work
    ],
)
def test_anything_else_fails(before: str, after: str, why: str) -> None:
    verdict, reason = overall_verdict(results(before, after))
    assert verdict == "fail" and why in reason


def test_only_the_named_variant_and_checker_are_marked() -> None:
    invs = [
        Invariant(variant="before", name="rate-limit-holds", status="invalid"),
        Invariant(variant="after", name="acknowledged-increments-survive", status="invalid"),
    ]
    mark_expected(invs, {"before": ["acknowledged-increments-survive"]})
    assert all(i.expected is None and "expected" not in i.dump() for i in invs)


def test_checks_of_a_plane_that_did_not_run_are_reported_not_run(tmp_path: Path) -> None:
    from harness.scenario.judge import check_variant
    from harness.scenario.planes import plane_skips

    planes = {"redis": Plane(status="ran"), "mongodb": Plane(status="not_run", reason="no mongod: get it")}
    skip = plane_skips(["acknowledged-writes-survive", "counters-reconcile", "no-duplicates"], planes)
    assert skip == {
        "acknowledged-writes-survive": "mongodb plane not run: no mongod: get it",
        "no-duplicates": "mongodb plane not run: no mongod: get it",
    }
    assert plane_skips(["no-duplicates"], {"mongodb": Plane(status="ran")}) == {}
    history = tmp_path / "history.jsonl"
    history.write_text("")
    verdicts = check_variant(
        history, "v", ["acknowledged-writes-survive", "counters-reconcile"], {}, skip=skip
    )
    assert (verdicts[0].name, verdicts[0].status) == ("acknowledged-writes-survive", "not_run")
    assert str(verdicts[0].summary).startswith("mongodb plane not run")
    assert verdicts[1].name == "counters-reconcile" and verdicts[1].status != "not_run"
    # not_run is neither a pass nor a failure of the invariant, and the reason says it was not run
    results = RunResults(invariants=[verdicts[0]], targets=[])
    # nothing judged at all is not a pass that proves nothing: not_run, with why
    assert overall_verdict(results) == (
        "not_run",
        f"nothing judged here: 1 check not run ({verdicts[0].summary})",
    )
    results.invariants.append(Invariant(variant="v", name="y", status="valid"))
    verdict, reason = overall_verdict(results)
    assert verdict == "pass" and "1 check not run" in reason
    results.invariants.append(Invariant(variant="v", name="x", status="invalid"))
    assert overall_verdict(results)[0] == "fail"
