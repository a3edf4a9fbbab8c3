"""The fold protocol: run_checkers dispatches by ``fs`` in one pass; a crash yields ``unknown``."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from harness.checkers import CHECKERS, Verdict, build_checkers, checker_params, fold, run_checkers
from harness.checkers.verdict import MAX_EXAMPLES
from harness.errors import SpecError
from harness.history.loader import Op, pair_ops


class Recorder:
    """Remembers what it was given; valid."""

    def __init__(self, name: str, fs: frozenset[str] | None) -> None:
        self.name = name
        self.fs = fs
        self.seen: list[int] = []

    def observe(self, op: Op) -> None:
        self.seen.append(op.id)

    def finish(self) -> Verdict:
        return Verdict(self.name, "valid", 0, f"{len(self.seen)} ops")


class Boom(Recorder):
    def __init__(self, on: int | None) -> None:
        super().__init__("boom", None)
        self.on = on

    def observe(self, op: Op) -> None:
        if op.id == self.on:
            raise KeyError("value")
        super().observe(op)

    def finish(self) -> Verdict:
        if self.on is None:
            raise ZeroDivisionError("in finish")
        return super().finish()


class Junk(Recorder):
    def finish(self) -> Any:
        return {"status": "valid"}


def _history() -> list[Op]:
    recs: list[dict[str, Any]] = []
    for i, f in enumerate(["incr", "rate_limit", "incr", "final_read"], 1):
        recs.append({"id": i, "type": "invoke", "process": "w", "f": f, "time_ns": i, "key": "k"})
        recs.append({"id": i, "type": "ok", "process": "w", "f": f, "time_ns": i + 10, "value": 1})
    return pair_ops(recs)


def test_ops_go_only_to_checkers_that_consume_their_f() -> None:
    incr = Recorder("incr-only", frozenset({"incr"}))
    every = Recorder("every", None)
    none = Recorder("nothing", frozenset())
    verdicts = run_checkers([incr, every, none], _history())
    assert incr.seen == [1, 3] and every.seen == [1, 2, 3, 4] and none.seen == []
    assert [v.summary for v in verdicts] == ["2 ops", "4 ops", "0 ops"]


def test_a_checker_raising_in_observe_is_unknown_and_dropped_while_others_continue() -> None:
    boom, other = Boom(on=2), Recorder("other", None)
    v_boom, v_other = run_checkers([boom, other], _history())
    assert boom.seen == [1]  # dropped from dispatch after the crash
    assert other.seen == [1, 2, 3, 4] and v_other.status == "valid"
    assert v_boom.name == "boom" and v_boom.status == "unknown" and v_boom.violations == 0
    assert "KeyError" in v_boom.summary and "observe" in v_boom.summary
    assert v_boom.details["op"] == 2 and v_boom.details["ops_observed"] == 1
    assert "in observe" in v_boom.details["traceback"] and "raise KeyError" in v_boom.details["traceback"]
    orjson.dumps([v.to_dict() for v in (v_boom, v_other)])  # reports can serialise them


def test_a_checker_raising_in_finish_is_unknown() -> None:
    [v] = run_checkers([Boom(on=None)], _history())
    assert v.status == "unknown" and v.details["phase"] == "finish"
    assert "ZeroDivisionError" in v.details["traceback"]


def test_a_checker_returning_junk_becomes_unknown() -> None:
    v = fold(Junk("junk", None), _history())
    assert v.status == "unknown" and "dict" in v.summary


def test_a_damaged_history_is_not_blamed_on_a_checker() -> None:
    def ops() -> Any:
        yield from _history()[:1]
        raise OSError("disk")

    with pytest.raises(OSError):
        run_checkers([Recorder("r", None)], ops())


def test_registered_checkers_on_an_empty_history_are_unknown() -> None:
    verdicts = run_checkers(build_checkers(sorted(CHECKERS)), [])
    assert [v.name for v in verdicts] == sorted(CHECKERS)
    assert all(v.status == "unknown" for v in verdicts), [(v.name, v.status) for v in verdicts]


def test_every_registered_checker_follows_the_protocol() -> None:
    for name, cls in CHECKERS.items():
        checker = cls()
        assert checker.name == name
        assert checker.fs is None or isinstance(checker.fs, frozenset)
        assert callable(checker.observe) and callable(checker.finish)


def test_build_checkers_rejects_unknown_names_and_params() -> None:
    with pytest.raises(SpecError, match="unknown checker 'nope'; known: "):
        build_checkers(["nope"], source="s.yaml")
    with pytest.raises(SpecError, match=r"s.yaml: field 'checker_params.rate-limit-holds.bogus'"):
        build_checkers(["rate-limit-holds"], {"rate-limit-holds": {"bogus": 1}}, source="s.yaml")
    with pytest.raises(SpecError, match="not in the checkers list"):
        build_checkers([], {"rate-limit-holds": {}})
    with pytest.raises(SpecError, match="must not contain 'rate_limit'"):
        build_checkers(["rate-limit-holds"], {"rate-limit-holds": {"write_fs": ["rate_limit"]}})
    assert "write_fs" in checker_params("rate-limit-holds")
    [c] = build_checkers(["rate-limit-holds"], {"rate-limit-holds": {"write_fs": ["insert"]}})
    assert c.fs == frozenset({"insert", "rate_limit"})


def test_verdict_keeps_at_most_max_examples() -> None:
    v = Verdict("x", "invalid", 50, "s", [{"i": i} for i in range(50)])
    assert len(v.examples) == MAX_EXAMPLES and v.examples[0] == {"i": 0}
    assert v.to_dict()["violations"] == 50
