"""Starting server processes the harness supervises (foreground children, never daemonized)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from harness.errors import HarnessError
from harness.topology.lifecycle import (
    RUN_ID_ENV,
    SPAWN_LOCK,
    ProcessRecord,
    RunResources,
    creating,
    proc_start_time,
)


def log_tail(path: Path | str, lines: int = 20) -> str:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


class ServerProcess:
    """A child server process: started in its own session (so a terminal's Ctrl-C reaches the
    harness, which then tears down in order) and labelled with the run id."""

    def __init__(self, name: str, cmd: list[str], log: Path, res: RunResources, cwd: Path | None = None):
        self.name = name
        self.cmd = cmd
        self.log = log
        self.cwd = cwd
        env = dict(os.environ)
        env[RUN_ID_ENV] = res.run_id
        log.parent.mkdir(parents=True, exist_ok=True)
        # Started and recorded under the lock teardown takes to mark the run closing, so a server
        # started from a fault's thread is either torn down with the rest or never started.
        with SPAWN_LOCK, creating(), open(log, "ab") as fh:
            if res.closing:
                raise HarnessError(f"not starting {name}: run {res.run_id} is being torn down")
            self.popen = subprocess.Popen(
                cmd,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
            self.pid = self.popen.pid
            self.start_time = proc_start_time(self.pid)
            res.add_process(ProcessRecord(name, self.pid, self.start_time, cmd, str(log)))

    def running(self) -> bool:
        return self.popen.poll() is None

    def wait_gone(self, timeout_s: float) -> bool:
        """True once the server process has exited (and is reaped), False if it still runs."""
        try:
            self.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True

    def exit_code(self, wait_s: float = 0.0) -> int | None:
        """The server's exit status once known (None: still running, or not reported within
        ``wait_s``)."""
        try:
            return self.popen.wait(timeout=wait_s) if wait_s > 0 else self.popen.poll()
        except subprocess.TimeoutExpired:
            return None

    def again(self, res: RunResources) -> ServerProcess:
        """The same command started anew (same log, same working directory), recorded in ``res``."""
        return ServerProcess(self.name, self.cmd, self.log, res, cwd=self.cwd)

    def tail(self, lines: int = 20) -> str:
        return log_tail(self.log, lines)
