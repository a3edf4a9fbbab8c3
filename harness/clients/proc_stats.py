"""A server process's own use of the machine as the kernel counts it: CPU seconds
(``/proc/<pid>/stat`` utime + stime) and I/O (``/proc/<pid>/io``). Pure parsers plus reads; a
figure the kernel does not give here is ``None``, never guessed."""

from __future__ import annotations

import os
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def parse_cpu_s(stat: str, clk_tck: int = CLK_TCK) -> float:
    """utime + stime of a ``/proc/<pid>/stat`` line, in seconds. Fields are counted after the
    command name's closing parenthesis (a name may hold spaces and parentheses)."""
    rest = stat[stat.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state): utime is field 14, stime field 15
    return (int(rest[11]) + int(rest[12])) / clk_tck


def parse_io(text: str) -> dict[str, int]:
    """The ``key: value`` lines of ``/proc/<pid>/io``."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if value.strip().isdigit():
            out[key.strip()] = int(value)
    return out


def cpu_s(pid: int) -> float:
    return parse_cpu_s(Path(f"/proc/{pid}/stat").read_text())


def io(pid: int) -> dict[str, int] | None:
    """``/proc/<pid>/io`` or ``None`` where it cannot be read (not root, no task I/O accounting)."""
    try:
        return parse_io(Path(f"/proc/{pid}/io").read_text()) or None
    except OSError:
        return None
