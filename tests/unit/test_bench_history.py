"""The checker benchmark's synthetic history: seeded, in time order, every checker's vocabulary, and
a correct platform, so every registered checker says ``valid`` (no timing here)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
import pytest

from harness.bench.checkers import not_valid, run_all
from harness.bench.history import generate
from harness.checkers import CHECKERS

OPS = 40_000


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    path = tmp_path_factory.mktemp("bench") / "history.jsonl"
    return path, generate(path, OPS, seed=3)


def test_every_checker_is_valid_on_the_generated_history(history: tuple[Path, dict[str, object]]) -> None:
    path, _ = history
    verdicts = run_all(path, sorted(CHECKERS))
    assert {v.name: v.status for v in verdicts} == dict.fromkeys(CHECKERS, "valid"), [
        (v.name, v.summary, v.examples[:2]) for v in verdicts if v.status != "valid"
    ]


def test_history_speaks_every_checkers_vocabulary(history: tuple[Path, dict[str, object]]) -> None:
    _, counts = history
    by_f = counts["ops_by_f"]
    assert isinstance(by_f, dict)
    for f in (
        "rate_limit",
        "insert",
        "incr",
        "final_read",
        "final_events",
        "write",
        "read",
        "query_events",
        "audit_insert",
        "final_audit",
        "doc_insert",
        "doc_read",
        "final_docs",
        "ttl_write",
        "key_read",
        "final_keys",
        "session_create",
        "session_touch",
        "session_read",
        "final_sessions",
        "pfadd",
        "pfcount",
        "reg_read",
        "reg_write",
        "reg_cas",
    ):
        assert by_f.get(f, 0) > 0, f
    share = counts["ingestion_share"]
    assert isinstance(share, float) and 0.6 <= share <= 0.75  # ingestion dominates, as on the platform


def test_records_are_in_time_order_and_every_op_completes(history: tuple[Path, dict[str, object]]) -> None:
    path, counts = history
    last, invokes, completions = -1, set(), 0
    with open(path, "rb") as fh:
        for line in fh:
            rec = orjson.loads(line)
            assert rec["time_ns"] >= last  # as the recorder writes: checkers rely on completion order
            last = rec["time_ns"]
            if rec["type"] == "invoke":
                invokes.add(rec["id"])
            else:
                assert rec["id"] in invokes  # a completion never precedes its invoke
                completions += 1
    assert len(invokes) == completions == counts["ops"]


def test_same_seed_same_bytes(tmp_path: Path, history: tuple[Path, dict[str, object]]) -> None:
    path, _ = history
    again = tmp_path / "again.jsonl"
    generate(again, OPS, seed=3)
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (path, again)]
    assert digest[0] == digest[1]
    other = tmp_path / "other.jsonl"
    generate(other, 2_000, seed=4)
    assert other.read_bytes()[:20_000] != path.read_bytes()[:20_000]


def test_not_valid_names_every_checker_that_did_not_pass() -> None:
    run = {"verdicts": [{"name": "a", "status": "valid"}, {"name": "b", "status": "unknown"}]}
    assert not_valid(run, ["a", "b", "c"]) == ["b", "c"]
    assert not_valid({"status": "error", "error": "boom"}, ["a"]) == ["a"]
