"""run_checkers: a checker that crashes yields an ``unknown`` verdict and the others still run."""

from __future__ import annotations

from typing import Any

import orjson

from harness.checkers import DEFAULT_CHECKS, Verdict, run_checkers
from harness.checkers.verdict import MAX_EXAMPLES
from harness.history.loader import Op, pair_ops


def _boom(ops: list[Op]) -> Verdict:
    raise KeyError("value")


def _valid(ops: list[Op]) -> Verdict:
    return Verdict("always", "valid", 0, f"{len(ops)} ops")


def _not_a_verdict(ops: list[Op]) -> Any:
    return {"status": "valid"}


HISTORY = pair_ops(
    [
        {"id": 1, "type": "invoke", "process": "w", "f": "incr", "time_ns": 5, "key": "k"},
        {"id": 1, "type": "ok", "process": "w", "f": "incr", "time_ns": 9, "value": 1},
    ]
)


def test_a_raising_checker_becomes_unknown_and_others_still_run() -> None:
    verdicts = run_checkers([("boom", _boom), ("always", _valid)], HISTORY)
    assert [v.name for v in verdicts] == ["boom", "always"]
    boom, ok = verdicts
    assert boom.status == "unknown" and boom.violations == 0
    assert "KeyError" in boom.summary and "value" in boom.summary
    assert "_boom" in boom.details["traceback"]
    assert ok.status == "valid" and ok.summary == "1 ops"
    orjson.dumps([v.to_dict() for v in verdicts])  # reports can serialise them


def test_a_checker_returning_junk_becomes_unknown() -> None:
    [v] = run_checkers([("junk", _not_a_verdict)], HISTORY)
    assert v.status == "unknown" and "dict" in v.summary


def test_default_checks_on_an_empty_history_are_unknown() -> None:
    verdicts = run_checkers(DEFAULT_CHECKS, [])
    assert [v.name for v in verdicts] == ["acknowledged-increments-survive", "rate-limit-holds"]
    assert [v.status for v in verdicts] == ["unknown", "unknown"]
    assert verdicts[0].summary == "no incr ops in history"
    assert verdicts[1].summary == "no rate_limit ops in history"


def test_verdict_keeps_at_most_max_examples() -> None:
    v = Verdict("x", "invalid", 50, "s", [{"i": i} for i in range(50)])
    assert len(v.examples) == MAX_EXAMPLES and v.examples[0] == {"i": 0}
    assert v.to_dict()["violations"] == 50
