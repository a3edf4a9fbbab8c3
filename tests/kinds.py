"""The anomaly-kind contract every verdict keeps (issue 13: ``expect_invalid: [checker:kind]``).

* every example's ``kind`` and every key of ``details["violations_by_kind"]`` is one of the kinds
  its checker declares (``harness.checkers.KINDS_OF[name]``);
* ``violations_by_kind`` is always there, counts only kinds that occurred (positive ints), and
  names every kind an example shows (it is complete, not a tally of the kept examples);
* an invalid verdict's counts add up to ``violations`` — except where a checker's ``violations``
  counts another unit (:data:`OTHER_UNIT`).

:func:`assert_kinds` checks one verdict; the fixture ``every_verdict_kinds_checked``
(``tests/conftest.py``) checks every verdict a test makes.
"""

from __future__ import annotations

from harness.checkers import KINDS_OF
from harness.checkers.verdict import Verdict

#: Checkers whose ``violations`` is not a count of findings, and what it counts instead.
OTHER_UNIT = {
    # violations = increments lost + increments phantom + INCR reply pairs that went backwards
    # (what its targets and summary speak of); violations_by_kind counts findings: the keys that
    # show each kind of evidence (one lost increment can show as lost, duplicate-incr-value and
    # incr-went-backwards at once), and the reply pairs for incr-went-backwards.
    "acknowledged-increments-survive": "increments",
}


def assert_kinds(v: Verdict) -> None:
    declared = KINDS_OF.get(v.name)
    assert declared is not None, f"{v.name}: no declared KINDS"
    by_kind = v.details.get("violations_by_kind")
    assert isinstance(by_kind, dict), f"{v.name}: details lack violations_by_kind"
    assert set(by_kind) <= declared, f"{v.name}: undeclared kinds {sorted(set(by_kind) - declared)}"
    assert all(isinstance(n, int) and n > 0 for n in by_kind.values()), f"{v.name}: {by_kind}"
    shown = {ex.get("kind") for ex in v.examples}
    assert shown <= declared, f"{v.name}: examples of undeclared kinds {sorted(map(str, shown - declared))}"
    assert shown <= set(by_kind), f"{v.name}: example kinds {shown} not counted in {by_kind}"
    if v.status == "invalid":
        assert by_kind, f"{v.name}: invalid without a kind"
        if v.name not in OTHER_UNIT:
            assert sum(by_kind.values()) == v.violations, f"{v.name}: {by_kind} vs {v.violations} violations"
    else:
        assert v.violations == 0 and not by_kind, f"{v.name}: {v.status} with {by_kind}"
