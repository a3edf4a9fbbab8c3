"""Is a duplicate-key error that names no index on the one unique index a writer relies on?

MongoDB names the index of a duplicate (``keyPattern`` since 4.4, and ``index: <name>`` in the
message). FerretDB 1.x names neither ("E11000 duplicate key error collection: db.coll"), so a
writer that sends documents with fresh ``_id``s can still tell: if its index is the collection's
only unique index besides ``_id``, that is the index the duplicate is on. The collection is asked
once, when the first such error needs it (never on mongod), and only its answer counts.
"""

from __future__ import annotations

from typing import Any

from pymongo.collection import Collection
from pymongo.errors import PyMongoError


class SoleUniqueIndex:
    """Callable: True when ``index`` is ``coll``'s only unique index other than ``_id_``."""

    def __init__(self, coll: Collection[dict[str, Any]], index: str) -> None:
        self.coll = coll
        self.index = index
        self._known: bool | None = None

    def __call__(self) -> bool:
        if self._known is None:
            try:
                unique = {
                    ix["name"] for ix in self.coll.list_indexes() if ix.get("unique") and ix["name"] != "_id_"
                }
            except PyMongoError:
                return False  # cannot tell now: not attributed (asked again next time)
            self._known = unique == {self.index}
        return self._known
