"""Case modules of the detection matrix: one module per checker, discovered by ``test_matrix.py``.

Contract (every module ``tests/quality/cases/<module>.py`` whose name does not start with ``_``)::

    CHECK: Callable[[Iterable[Op]], Verdict]
        The checker's pure function with its parameters bound, e.g.
        ``functools.partial(check_no_duplicates)``. It is fed the mutated or clean history paired by
        the streaming loader (``harness.history.loader.stream_pairs``), i.e. in completion order.

    def clean() -> SearchStrategy[list[dict]]
        History records (``invoke`` and completion dicts, exactly as ``HistoryRecorder`` writes
        them, in file order) produced by a seeded model of *correct* behaviour, built from
        hypothesis draws so that a failing case shrinks to a small history. ``CHECK`` must call
        every one of them ``valid``.

    ANOMALIES: dict[str, Callable[[list[dict], random.Random], list[dict]]]
        Anomaly class -> mutation. The key is exactly the ``kind`` the checker reports in its
        examples. A mutation gets a deep copy of a clean history and a ``random.Random`` drawn from
        hypothesis (so its choices shrink too), injects exactly one anomaly of that class and
        returns the records. It raises :class:`NotApplicable` when the history offers no place for
        that anomaly (e.g. no acknowledged write to drop); the matrix then discards the example.
        ``CHECK`` must call the result ``invalid`` with an example whose ``kind`` is the key.

Helpers shared by several case modules live in modules whose names start with ``_`` (not cases);
``_platform.py`` is a seeded model of the whole ingestion path with mutation helpers.

Import this package as ``tests.quality.cases`` (or relatively, ``from . import NotApplicable``):
``tests/`` is a package, so pytest and ``python -m tests.quality.matrix_report`` load one and the
same ``NotApplicable`` class.
"""

from __future__ import annotations


class NotApplicable(Exception):
    """The clean history offers no place for this anomaly; the example is discarded."""
