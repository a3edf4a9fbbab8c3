"""The streaming helpers the session checkers share: the max-frontier, percentiles, example keeping."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.checkers._common import Examples, MaxFrontier, percentiles
from harness.checkers.verdict import MAX_EXAMPLES

points_st = st.lists(st.tuples(st.integers(0, 50), st.integers(0, 20)), max_size=40)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(points=points_st, t=st.integers(0, 52), v=st.integers(-1, 21))
def test_frontier_matches_brute_force_in_any_arrival_order(
    points: list[tuple[int, int]], t: int, v: int
) -> None:
    f = MaxFrontier()
    for i, (time, value) in enumerate(points):
        f.add(time, value, i)
    earlier = [value for time, value in points if time < t]
    got = f.before(t)
    assert (got[0] if got else None) == (max(earlier) if earlier else None)
    if got is not None:
        assert points[got[1]][1] == got[0] and points[got[1]][0] < t  # names a real point
    above = [time for time, value in points if value > v]
    first = f.first_above(v)
    assert (first[0] if first else None) == (min(above) if above else None)


def test_percentiles_nearest_rank() -> None:
    assert percentiles([]) == {"count": 0, "p50": None, "p90": None, "p99": None, "max": None}
    p = percentiles([float(x) for x in range(1, 101)])
    assert (p["count"], p["p50"], p["p90"], p["p99"], p["max"]) == (100, 50.0, 90.0, 99.0, 100.0)


def test_examples_keep_the_earliest_and_every_kind() -> None:
    ex = Examples()
    ex.add(5000, {"kind": "rare"})  # the latest, and added first: trimming must not drop it
    for i in range(500):
        ex.add(1000 - i, {"kind": "a", "i": i})
    kept = ex.examples()
    assert ex.count == 501 and len(ex._kept) <= 4 * MAX_EXAMPLES + 1 and ex.by_kind == {"a": 500, "rare": 1}
    assert len(kept) == MAX_EXAMPLES and kept[-1]["kind"] == "rare"
    assert [k["i"] for k in kept[:3]] == [499, 498, 497]
