"""A server running as a container, supervised like a local server process.

The container is started by ``docker run`` attached to the node's log file (``docker start -a``
when started again), so the harness keeps what it has for local servers: a child process whose
exit is the server's exit (``wait``), the server's output in its log, and teardown by signal (the
attached client passes signals on). What faults signal is the container's main process itself, by
its host pid: SIGKILL, SIGSTOP and SIGCONT reach the server as they would a local one."""

from __future__ import annotations

import time
from pathlib import Path

from harness.errors import NotHealthyError
from harness.topology.docker_cli import container_pid
from harness.topology.lifecycle import RunResources
from harness.topology.pids import pid_alive, proc_start_time
from harness.topology.processes import ServerProcess

START_TIMEOUT_S = 30.0


class ContainerProcess(ServerProcess):
    """``pid`` is the container's main process on this host; ``client_pid`` the attached client's."""

    def __init__(
        self,
        name: str,
        container: str,
        cmd: list[str],
        log: Path,
        res: RunResources,
    ) -> None:
        super().__init__(name, cmd, log, res)
        self.container = container
        self.client_pid = self.popen.pid
        self.pid = self._wait_started()
        self.pid_start = proc_start_time(self.pid)  # so a reused pid is never taken for the server

    def _wait_started(self) -> int:
        """The container's host pid once it runs; an error with the log tail if the client exits
        first (no such image, a name in use) or nothing runs in time."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise NotHealthyError(
                    f"container {self.container} ({self.name}) did not start:\n{self.tail()}"
                )
            pid = container_pid(self.container)
            if pid:
                return pid
            time.sleep(0.05)
        raise NotHealthyError(
            f"container {self.container} not running after {START_TIMEOUT_S:g}s:\n{self.tail()}"
        )

    def wait_gone(self, timeout_s: float) -> bool:
        """True as soon as the container's main process is gone: the kernel ends it at once on
        SIGKILL, while the attached client learns of the exit from the engine a while later
        (about 0.1 s here), which would make a kill look late."""
        deadline = time.monotonic() + timeout_s
        while pid_alive(self.pid, self.pid_start):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.002)
        return True

    def running(self) -> bool:
        return self.popen.poll() is None and pid_alive(self.pid, self.pid_start)

    def again(self, res: RunResources) -> ServerProcess:
        """The same container started again (same command, mounts, address and data)."""
        return ContainerProcess(
            self.name, self.container, ["docker", "start", "-a", self.container], self.log, res
        )
