"""The Docker engine as the docker backend uses it: the ``docker`` command line, the labels every
container and network of a run carries, and finding and removing them by label.

The CLI, not the ``docker`` Python package: ``docker run`` attached to a log file is how a
container's server is supervised like a local process (see :mod:`harness.topology.docker_process`),
and the CLI negotiates the API version with whatever engine runs (Debian's 20.10 here)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError

RUN_LABEL = "harness.run"  # every container and network of a run: harness.run=<run id>
NODE_LABEL = "harness.node"
ENGINE_HINT = "start the engine ('make setup' as root installs and starts it), then 'harness images build'"


def docker(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
    """One ``docker`` command; raises with the engine's own message when it fails and ``check``."""
    binary = shutil.which("docker")
    if binary is None:
        raise HarnessError(f"no docker command on PATH: {ENGINE_HINT}")
    try:
        proc = subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"docker {args[0]} did not answer within {timeout:g}s") from exc
    if check and proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
        # the engine's own words, not the CLI's closing "Run 'docker run --help'" hint
        why = next((ln for ln in lines if not ln.startswith("Run '")), str(proc.returncode))
        raise HarnessError(f"docker {' '.join(args[:2])} failed: {why}")
    return proc


def engine_running() -> bool:
    """Cheap: is there an engine socket at all (teardown and reaping skip Docker when not)."""
    return shutil.which("docker") is not None and _socket_present()


def _socket_present() -> bool:
    return Path("/var/run/docker.sock").exists()


@dataclass(frozen=True)
class Labelled:
    kind: str  # container | network | volume
    name: str
    run_id: str


def labelled(kind: str, run_id: str | None = None) -> list[Labelled]:
    """Containers (running or not), networks or volumes carrying our run label."""
    label = f"{RUN_LABEL}={run_id}" if run_id else RUN_LABEL
    listing = {"container": ["ps", "-a"], "network": ["network", "ls"], "volume": ["volume", "ls"]}[kind]
    fmt = (
        '{{.Names}}|{{.Label "harness.run"}}' if kind == "container" else '{{.Name}}|{{.Label "harness.run"}}'
    )
    proc = docker(*listing, "--filter", f"label={label}", "--format", fmt, check=False, timeout=20)
    if proc.returncode != 0:
        return []
    out = []
    for line in proc.stdout.splitlines():
        name, _, run = line.partition("|")
        if name:
            out.append(Labelled(kind, name, run))
    return out


def remove(items: list[Labelled]) -> list[str]:
    """Removes containers (forced: running ones are killed), then networks and volumes. Returns
    what it removed; one that is already gone is not an error."""
    removed: list[str] = []
    for kind, args in (
        ("container", ["rm", "-f", "-v"]),
        ("network", ["network", "rm"]),
        ("volume", ["volume", "rm"]),
    ):
        names = [i.name for i in items if i.kind == kind]
        if not names:
            continue
        proc = docker(*args, *names, check=False, timeout=60)
        gone = set(proc.stdout.split())
        removed += [f"{kind} {n}" for n in names if n in gone]
    return removed


def container_pid(name: str) -> int:
    """The host pid of a running container's main process (0 when it is not running)."""
    out = docker("inspect", "--format", "{{.State.Pid}}", name, check=False, timeout=10).stdout.strip()
    return int(out) if out.isdigit() else 0


def cap_cpu(container: str, cores: float, period_us: int) -> None:
    """Caps a container at ``cores`` with the engine's own CFS quota (kept across ``docker start``,
    so a restarted server keeps its node's cap)."""
    quota = max(1000, int(cores * period_us))  # the kernel's floor is 1 ms
    docker("update", "--cpu-period", str(period_us), "--cpu-quota", str(quota), container, timeout=30)


def remove_docker(recorded: list[str]) -> list[str]:
    """Removes what a run recorded (``container:<name>``, ``network:<name>``); nothing to do, or no
    engine, costs nothing."""
    if not recorded or not engine_running():
        return []
    items = [Labelled(kind, name, "") for kind, _, name in (r.partition(":") for r in recorded)]
    return remove(items)


def sweep_docker(live_runs: set[str]) -> list[str]:
    """Removes labelled containers, networks and volumes that no live run claims (a crashed run's,
    even one whose resources.json is lost)."""
    if not engine_running():
        return []
    strays = [
        i for kind in ("container", "network", "volume") for i in labelled(kind) if i.run_id not in live_runs
    ]
    return remove(strays)
