"""The loader's id set answers exactly as a ``set`` of the ids added would."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.history.idset import BITMAP_IDS, IdSet

ids = st.one_of(
    st.integers(-5, 5000),
    st.integers(BITMAP_IDS - 3, BITMAP_IDS + 3),
    st.integers(1 << 48, (1 << 48) + 10),  # expanded compact-op ids
    st.booleans(),
    st.floats(-2, 40, allow_nan=False).map(lambda f: round(f, 1)),
    st.text(max_size=3),
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(adds=st.lists(ids, max_size=60), probes=st.lists(ids, max_size=30))
def test_idset_is_a_set(adds: list[object], probes: list[object]) -> None:
    mine, ref = IdSet(), set()
    for x in adds:
        assert mine.add_new(x) == (x not in ref), x
        ref.add(x)
    for x in [*adds, *probes]:
        assert (x in mine) == (x in ref), x
