"""A set of op ids that stays small for a recorder's ids (the loader's "invoked once" check).

A plain ``set`` of every id invoked held 64 MiB over a 1M-op history (an int object and a slot
per id). A recorder hands out consecutive ids from 1, so :class:`IdSet` keeps ints below
:data:`BITMAP_IDS` as bits of a bytearray (125 KiB for a million ids) and anything else in a set.
Membership is exactly a set's: a value equal to a small int (``True``, ``2.0``) is that int.
"""

from __future__ import annotations

from collections.abc import Hashable

#: Ints in [0, BITMAP_IDS) are bits (the bitmap grows to at most 16 MiB); others go to a set.
BITMAP_IDS = 1 << 27


def _small(x: Hashable) -> int | None:
    """``x`` as an int in [0, BITMAP_IDS) when it equals one, else None."""
    if type(x) is int:
        return x if 0 <= x < BITMAP_IDS else None
    if isinstance(x, bool) or (type(x) is float and x.is_integer()):
        n = int(x)  # a bool or an integral float
        return n if 0 <= n < BITMAP_IDS else None
    return None


class IdSet:
    """``add_new`` and ``in`` as for a set of the ids added (never removes)."""

    __slots__ = ("_bits", "_others")

    def __init__(self) -> None:
        self._bits = bytearray(1 << 13)
        self._others: set[Hashable] = set()

    def __contains__(self, x: Hashable) -> bool:
        n = _small(x)
        if n is None:
            return x in self._others
        i = n >> 3
        return i < len(self._bits) and bool(self._bits[i] & (1 << (n & 7)))

    def add_new(self, x: Hashable) -> bool:
        """Adds ``x``; False (and nothing added) when it was in already. One call per invoke: the
        loader's hot path, so the common case (a small int) is tested first."""
        n = x if type(x) is int and 0 <= x < BITMAP_IDS else _small(x)
        if n is None:
            if x in self._others:
                return False
            self._others.add(x)
            return True
        bits = self._bits
        i = n >> 3
        if i >= len(bits):
            bits.extend(bytes(max(i + 1, 2 * len(bits)) - len(bits)))  # doubling: amortized O(1)
        mask = 1 << (n & 7)
        if bits[i] & mask:
            return False
        bits[i] |= mask
        return True
