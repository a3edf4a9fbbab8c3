"""The audit records' hash chain: the one definition the audit writer
(:mod:`harness.workload.mongo_plane.audit_writer`) and the audit-trail checker
(:mod:`harness.checkers.audit_trail`) share.

Each record carries ``hash``: SHA-256 over its canonical content and the previous record's hash::

    hash = "sha256:" + hex(SHA-256(prev_hash UTF-8 + "\\n" + canonical(content)))

where ``content`` is the record without ``hash``, ``prev_hash`` and ``_id``, and ``canonical`` is
JSON with sorted keys, no whitespace, UTF-8. The first record of a tenant has ``prev_hash`` =
:data:`GENESIS`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

GENESIS = "sha256:" + "0" * 64

_NOT_CONTENT = frozenset({"hash", "prev_hash", "_id"})


def canonical(content: Mapping[str, Any]) -> bytes:
    return json.dumps(
        content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def audit_hash(content: Mapping[str, Any], prev_hash: str) -> str:
    """The hash a record must carry: over its content (``hash``/``prev_hash``/``_id`` left out)."""
    body = {k: v for k, v in content.items() if k not in _NOT_CONTENT}
    digest = hashlib.sha256(prev_hash.encode("utf-8") + b"\n" + canonical(body)).hexdigest()
    return "sha256:" + digest
