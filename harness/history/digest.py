"""What ``history.jsonl`` held when the run ended: its line count, size and SHA-256, recorded in
``results.json`` (``history``) by the runner and compared by ``harness check`` before judging, so a
line dropped or edited since the run (a completion deleted turns a lost write into an unknown one)
is an error, never a quiet pass."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HistoryError

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class FileDigest:
    lines: int
    size: int
    sha256: str


def file_digest(path: Path) -> FileDigest:
    """One read of ``path``: its newlines, bytes and SHA-256 (hex)."""
    sha, lines, size = hashlib.sha256(), 0, 0
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                sha.update(chunk)
                lines += chunk.count(b"\n")
                size += len(chunk)
    except OSError as exc:
        raise HistoryError(f"{path}: cannot read the history: {exc.strerror or exc}") from exc
    return FileDigest(lines, size, sha.hexdigest())
