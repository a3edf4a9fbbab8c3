"""How ``harness fault`` in another terminal reaches a running rehearsal: request files in the
rehearsal's control directory (``<run dir>/control/``), each answered by a reply file.

Files rather than a socket: a request is written whole (to a temporary name, then renamed, so the
rehearsal never reads half of one), survives a busy rehearsal loop, and is left behind as a record
if nothing answers. The rehearsal finds itself by ``info.rehearsal`` in its run's resources, which
``harness fault`` reads through :func:`harness.topology.lifecycle.registered_runs`.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.topology.lifecycle import RunResources, registered_runs

REQUEST = "req-"
REPLY = "rep-"


def pending(control: Path) -> list[tuple[str, dict[str, Any]]]:
    """Requests waiting, oldest first, as (id, request); a malformed one is answered at once."""
    out = []
    for path in sorted(control.glob(f"{REQUEST}*.json")):
        rid = path.stem[len(REQUEST) :]
        try:
            request = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            answer(control, rid, {"ok": False, "error": f"unreadable request {path.name}: {exc}"})
            continue
        out.append((rid, request))
    return out


def answer(control: Path, rid: str, reply: dict[str, Any]) -> None:
    tmp = control / f".{REPLY}{rid}.tmp"
    tmp.write_text(json.dumps(reply))
    tmp.replace(control / f"{REPLY}{rid}.json")
    (control / f"{REQUEST}{rid}.json").unlink(missing_ok=True)


def send(control: Path, request: dict[str, Any], timeout_s: float = 60.0) -> dict[str, Any]:
    """Writes ``request`` and waits (bounded) for its reply."""
    rid = f"{time.time_ns()}-{os.getpid()}"
    tmp = control / f".{REQUEST}{rid}.tmp"
    tmp.write_text(json.dumps(request))
    tmp.replace(control / f"{REQUEST}{rid}.json")
    reply_path = control / f"{REPLY}{rid}.json"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if reply_path.exists():
            reply: dict[str, Any] = json.loads(reply_path.read_text())
            reply_path.unlink(missing_ok=True)
            return reply
        time.sleep(0.05)
    (control / f"{REQUEST}{rid}.json").unlink(missing_ok=True)
    raise HarnessError(f"the rehearsal did not answer within {timeout_s:.0f}s (its control dir: {control})")


def running_rehearsal(run_id: str | None = None) -> RunResources | None:
    """The rehearsal running on this machine (its owner alive), or the one named; None when there
    is none. Several running and none named is an error listing them."""
    live = [r for r in registered_runs() if r.info.get("rehearsal") and r.owner_alive()]
    if run_id is not None:
        named = [r for r in live if r.run_id == run_id]
        if not named:
            running = ", ".join(r.run_id for r in live) or "none"
            raise HarnessError(f"--run {run_id}: no such rehearsal running (running: {running})")
        return named[0]
    if len(live) > 1:
        raise HarnessError(
            "several rehearsals are running: name one with --run "
            + ", ".join(f"{r.run_id} ({r.topology})" for r in live)
        )
    return live[0] if live else None
