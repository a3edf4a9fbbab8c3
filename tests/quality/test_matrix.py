"""The detection matrix: every case module's clean histories are ``valid``, and each of its anomaly
classes, injected once into a clean history, is ``invalid`` with an example of exactly that kind.

Case modules are discovered in ``cases/`` (contract in ``cases/__init__.py``). Every history, clean
or mutated, is judged under an encoding drawn by hypothesis (``cases/_encodings.py``: one line per
op, batch records, completion lines out of time order, or both; per-op first, so a failure shrinks
to it), read as the loader reads a file (through JSON, batch records exploded) and paired by the
streaming loader (completion order), as in a real run. Hypothesis is derandomized, and every choice
(the history, the mutation's and the encoding's ``random.Random``) comes from it, so a failure
shrinks to a small history. ``matrix_report.py`` runs the same over many more histories and counts,
per encoding.
"""

from __future__ import annotations

import copy
import functools
import importlib
import pkgutil
import random
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from harness.checkers import KINDS_OF
from harness.checkers.verdict import Verdict
from harness.history.loader import Op, stream_pairs

from . import cases
from .cases import NotApplicable
from .cases._encodings import ENCODINGS, as_read, batched, encode, reordered
from .cases._ingest_model import simulate

# every verdict below keeps the kind contract: kinds declared by its checker, counted completely
pytestmark = pytest.mark.usefixtures("every_verdict_kinds_checked")

SETTINGS = settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


def case_modules() -> list[ModuleType]:
    names = sorted(m.name for m in pkgutil.iter_modules(cases.__path__) if not m.name.startswith("_"))
    return [importlib.import_module(f"{cases.__name__}.{name}") for name in names]


MODULES = case_modules()
ANOMALY_ROWS = [(m, kind) for m in MODULES for kind in sorted(m.ANOMALIES)]


def _id(m: ModuleType) -> str:
    return m.__name__.rsplit(".", 1)[-1]


def checker_of(m: ModuleType) -> str:
    """The verdict name of the checker a case module judges with: ``NAME`` of the module defining
    its ``CHECK`` (a checker's ``check_<x>`` function, possibly bound by ``functools.partial``)."""
    f = m.CHECK
    while isinstance(f, functools.partial):
        f = f.func
    return str(importlib.import_module(f.__module__).NAME)


def covered_kinds() -> dict[str, set[str]]:
    """Checker name -> the kinds its case modules inject (the keys of their ``ANOMALIES``)."""
    out: dict[str, set[str]] = {}
    for m in MODULES:
        out.setdefault(checker_of(m), set()).update(m.ANOMALIES)
    return out


#: Declared kinds without a matrix case yet, ``(checker, kind) -> why``. Only for a kind the
#: simulated platform cannot produce today; this must shrink: an entry that has a case fails.
NOT_YET: dict[tuple[str, str], str] = {}


def judge(
    check: Callable[[Iterable[Op]], Verdict],
    records: list[dict[str, Any]],
    encoding: str = "per-op",
    rng: random.Random | None = None,
) -> Verdict:
    """``check``'s verdict on ``records`` written under ``encoding`` (its choices from ``rng``) and
    read back as the loader reads a history file."""
    return judge_encoded(check, encode(encoding, records, rng or random.Random(0)))


def judge_encoded(check: Callable[[Iterable[Op]], Verdict], lines: list[dict[str, Any]]) -> Verdict:
    """``check``'s verdict on a history written as ``lines``, read back as the loader reads it."""
    return check(stream_pairs(as_read(lines)))


#: The encoding of each judged history, drawn: per-op first, so failures shrink to it.
encodings = st.sampled_from(ENCODINGS)


def mutate(
    mutation: Callable[[list[dict[str, Any]], random.Random], list[dict[str, Any]]],
    records: list[dict[str, Any]],
    rng: random.Random,
) -> list[dict[str, Any]] | None:
    """The mutated copy, or None when the history offers no place for the anomaly."""
    try:
        return mutation(copy.deepcopy(records), rng)
    except NotApplicable:
        return None


def test_every_case_module_follows_the_contract() -> None:
    assert MODULES, "no case modules found"
    for m in MODULES:
        assert callable(m.CHECK), _id(m)
        assert isinstance(m.ANOMALIES, dict) and m.ANOMALIES, _id(m)
        assert all(callable(f) for f in m.ANOMALIES.values()), _id(m)


def test_every_declared_kind_has_a_case() -> None:
    """The matrix is derived from the checkers' declared kinds: each one has a case (an
    ``ANOMALIES`` entry of a case module judging with that checker), and a case injects only a
    kind its checker declares."""
    covered = covered_kinds()
    assert set(covered) <= set(KINDS_OF), (
        f"case modules judge unknown checkers: {set(covered) - set(KINDS_OF)}"
    )
    missing = sorted(
        f"{name}:{kind}"
        for name, kinds in KINDS_OF.items()
        for kind in kinds
        if kind not in covered.get(name, set()) and (name, kind) not in NOT_YET
    )
    assert not missing, f"declared kinds without a matrix case: {', '.join(missing)}"
    undeclared = sorted(
        f"{name}:{kind}" for name, kinds in covered.items() for kind in kinds - KINDS_OF[name]
    )
    assert not undeclared, f"matrix cases for kinds their checker does not declare: {', '.join(undeclared)}"
    done = sorted(f"{n}:{k}" for n, k in NOT_YET if k in covered.get(n, set()))
    assert not done, f"NOT_YET entries that now have a case (remove them): {', '.join(done)}"
    stale = sorted(f"{n}:{k}" for n, k in NOT_YET if k not in KINDS_OF.get(n, frozenset()))
    assert not stale, f"NOT_YET entries for kinds no checker declares: {', '.join(stale)}"


@pytest.mark.parametrize("module", MODULES, ids=_id)
def test_clean_histories_are_valid(module: ModuleType) -> None:
    @SETTINGS
    @given(records=module.clean(), encoding=encodings, enc_rng=st.randoms(use_true_random=False))
    def run(records: list[dict[str, Any]], encoding: str, enc_rng: random.Random) -> None:
        v = judge(module.CHECK, records, encoding, enc_rng)
        note(f"{encoding}: {v.summary}\n{v.examples}")
        assert v.status == "valid", v.summary

    run()


@pytest.mark.parametrize(("module", "kind"), ANOMALY_ROWS, ids=[f"{_id(m)}:{k}" for m, k in ANOMALY_ROWS])
def test_injected_anomaly_is_detected(module: ModuleType, kind: str) -> None:
    @SETTINGS
    @given(
        records=module.clean(),
        rng=st.randoms(use_true_random=False),
        encoding=encodings,
        enc_rng=st.randoms(use_true_random=False),
    )
    def run(records: list[dict[str, Any]], rng: random.Random, encoding: str, enc_rng: random.Random) -> None:
        mutated = mutate(module.ANOMALIES[kind], records, rng)
        assume(mutated is not None)
        assert mutated is not None
        v = judge(module.CHECK, mutated, encoding, enc_rng)
        note(f"{encoding}, {v.status}: {v.summary}\n{v.examples}")
        assert v.status == "invalid", v.summary
        assert kind in {ex.get("kind") for ex in v.examples}, [ex.get("kind") for ex in v.examples]

    run()


def _key(rec: dict[str, Any]) -> bytes:
    return orjson.dumps(rec, option=orjson.OPT_SORT_KEYS)


@pytest.mark.parametrize("module", MODULES, ids=_id)
def test_encodings_keep_the_history(module: ModuleType) -> None:
    """Batching round-trips (the exploded batch records are the per-op records, in order);
    reordering keeps every record and its times, moves only completions and only later (each stays
    after its invoke); both together read back as the same records."""

    @settings(SETTINGS, max_examples=10)
    @given(records=module.clean(), seed=st.integers(0, 2**32 - 1))
    def run(records: list[dict[str, Any]], seed: int) -> None:
        enc_rng = random.Random(seed)
        plain = list(as_read(records))
        assert list(as_read(batched(records, enc_rng))) == plain
        moved = reordered(records, enc_rng)
        assert sorted(map(_key, moved)) == sorted(map(_key, records))
        assert [r for r in moved if r["type"] == "invoke"] == [r for r in records if r["type"] == "invoke"]
        seen: set[int] = set()
        for rec in moved:
            assert rec["type"] == "invoke" or rec["id"] in seen, rec
            seen.add(rec["id"])
        both = list(as_read(encode("batched+reordered", records, enc_rng)))
        assert sorted(map(_key, both)) == sorted(map(_key, plain))

    run()


def test_compact_ingest_histories_are_written_as_batch_records() -> None:
    """The batched encoding is no no-op where a real run batches: a batch of compact ingest ops
    comes out as batch records of invokes (dotted common fields) and of mixed outcomes."""
    step = (0, 1, "ok", False, "ok", False, 5)
    records = simulate("pipeline", 1, [(0, [step, (0, 1, "fail", False, "ok", False, 5), step])])
    lines = [r for seed in range(20) for r in batched(records, random.Random(seed)) if "batch" in r]
    assert any(r["type"] == "invoke" and "value.limit" in r["common"] for r in lines)
    assert any("type" in r["columns"] for r in lines)
