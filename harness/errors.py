"""Exceptions the harness raises on purpose, each carrying a message a user can act on."""

from __future__ import annotations


class HarnessError(Exception):
    """Base class: the CLI prints these as one clear line and exits non-zero, without a traceback."""


class SpecError(HarnessError):
    """A scenario or topology file is malformed: names the file, the field and what is expected."""

    def __init__(self, path: str, field: str, problem: str) -> None:
        self.path = path
        self.field = field
        self.problem = problem
        super().__init__(f"{path}: field '{field}': {problem}")


class MissingBinaryError(HarnessError):
    """A server binary the run needs is not installed."""

    def __init__(self, binary: str, hint: str) -> None:
        self.binary = binary
        super().__init__(f"'{binary}' not found. {hint}")


class PortInUseError(HarnessError):
    def __init__(self, host: str, port: int, what: str) -> None:
        super().__init__(
            f"port {host}:{port} needed for {what} is already in use; stop whatever listens there "
            f"(ss -ltnp 'sport = :{port}') or run 'harness clean' if it is a leftover of ours"
        )


class NotHealthyError(HarnessError):
    """A topology did not become healthy in time; the message carries the failing node's log tail."""


class UnsupportedError(HarnessError):
    """Something the backend cannot do here (e.g. partitions without root)."""


class HistoryError(HarnessError):
    """A history file (``history.jsonl``) is unreadable: names the file, the line and the problem."""
