"""Server processes by pid: running, stopped, exited, gone; and stopping them until they are gone.

An exited process stays in the process table as a zombie until its parent reaps it, and its pid is
not free until then. Our own children we reap ourselves (``waitpid``). A detached run's servers
(``harness up``, then ``harness down`` from another process) are not our children: their parent
exited, so they were re-parented to init (or a subreaper), which reaps them in its own time (about
1.5 s on the machine this was written on). So a stopped process is one whose pid is gone from
/proc, or now names a newer process (another start time), never one merely signalled.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path

#: How long to wait for an exited process to be reaped by its parent before giving up on it.
REAP_TIMEOUT_S = 10.0


def _stat(pid: int) -> list[str] | None:
    """Fields 3 onwards of /proc/<pid>/stat (state first), or None when the pid does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parens: split after its last ')'.
    return stat.rsplit(")", 1)[1].split()


def proc_start_time(pid: int) -> int | None:
    """Kernel start time of a pid (clock ticks since boot), to tell a live process from a reused pid."""
    fields = _stat(pid)
    return int(fields[19]) if fields else None


def parent_of(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[1]) if fields else None


def pid_exists(pid: int, start_time: int | None = None) -> bool:
    """True while the recorded process holds its pid at all: running, stopped or a zombie."""
    current = proc_start_time(pid)
    return current is not None and (start_time is None or current == start_time)


def pid_alive(pid: int, start_time: int | None = None) -> bool:
    """True for a running (not zombie) process that is the one recorded, not a reused pid."""
    return pid_exists(pid, start_time) and not _is_zombie(pid)


def is_stopped(pid: int) -> bool:
    """True for a process in state T (stopped by a signal, e.g. a pause fault's SIGSTOP)."""
    fields = _stat(pid)
    return fields is not None and fields[0] in ("T", "t")


def _is_zombie(pid: int) -> bool:
    """True for a process that exited and is not reaped yet, and for one already gone."""
    fields = _stat(pid)
    return fields is None or fields[0] == "Z"


def _reap(pid: int, start_time: int | None) -> None:
    """Reaps ``pid`` if it is an exited child of ours (checked against its start time first, so a
    reused pid that happens to be another child of ours is left alone)."""
    if pid_exists(pid, start_time):
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)


def terminate(pid: int, start_time: int | None, grace_s: float = 3.0) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``; returns once the process has exited (it may still
    await reaping: see :func:`wait_gone`).

    A server paused by a fault (SIGSTOP) would hold SIGTERM pending and never shut down cleanly,
    and a stopped process must never outlive a run: so SIGCONT follows the SIGTERM (in that order,
    so it wakes up to the pending SIGTERM rather than running on for a moment)."""
    if not pid_alive(pid, start_time):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        os.kill(pid, signal.SIGCONT)
    if _wait_exited(pid, start_time, grace_s):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
        os.kill(pid, signal.SIGCONT)
    _wait_exited(pid, start_time, 5.0)


def _wait_exited(pid: int, start_time: int | None, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        _reap(pid, start_time)
        if not pid_alive(pid, start_time):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def wait_gone(procs: Sequence[tuple[int, int | None]], timeout_s: float = REAP_TIMEOUT_S) -> list[int]:
    """Waits until none of ``procs`` (pid, start time) exists any more, not even as a zombie,
    reaping our own children. Returns the pids still there at the deadline: exited processes whose
    parent has not reaped them (nothing more can be done about those from here)."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = []
        for pid, start in procs:
            _reap(pid, start)
            if pid_exists(pid, start):
                left.append((pid, start))
        if not left or time.monotonic() >= deadline:
            return [pid for pid, _ in left]
        procs = left
        time.sleep(0.02)


def stop_process(pid: int, start_time: int | None, grace_s: float = 3.0) -> bool:
    """:func:`terminate`, then :func:`wait_gone`; True when the pid is gone."""
    terminate(pid, start_time, grace_s)
    return not wait_gone([(pid, start_time)])
