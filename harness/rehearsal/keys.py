"""Single keys from the terminal without Enter (``q`` ends a rehearsal): the terminal is put in
cbreak mode for the rehearsal and always put back; without a terminal there are no keys."""

from __future__ import annotations

import contextlib
import os
import select
import sys
import termios
import tty
from collections.abc import Iterator


class Keys:
    def __init__(self, fd: int | None) -> None:
        self.fd = fd

    def read(self) -> str:
        """The keys typed since the last call ("" when none, or no terminal)."""
        if self.fd is None:
            return ""
        out = ""
        while select.select([self.fd], [], [], 0)[0]:
            chunk = os.read(self.fd, 64)
            if not chunk:
                break
            out += chunk.decode(errors="replace")
        return out


@contextlib.contextmanager
def keys() -> Iterator[Keys]:
    if not sys.stdin.isatty():
        yield Keys(None)
        return
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield Keys(fd)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
