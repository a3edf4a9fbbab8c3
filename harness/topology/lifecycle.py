"""What a run started, recorded on disk as it is started, so it can always be torn down.

Every run owns ``resources.json`` in its run directory, rewritten atomically after each new
resource, and a pointer file in the state directory (``$HARNESS_STATE_DIR``, default
``~/.local/state/eventlog-harness/runs``). A run whose owner process is gone is a crashed run: its
leftovers are reaped by ``harness clean`` and by the next ``harness up``.

Processes are also labelled with ``HARNESS_RUN_ID`` in their environment (the testcontainers idea),
so a sweep finds them even if ``resources.json`` was lost.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.topology import forward
from harness.topology.cgroups import our_groups, remove_group
from harness.topology.docker_cli import remove_docker, sweep_docker
from harness.topology.pids import REAP_TIMEOUT_S, parent_of, terminate, wait_gone

# Imported from here by the rest of the harness (they lived here before pids.py).
from harness.topology.pids import is_stopped as is_stopped
from harness.topology.pids import pid_alive as pid_alive
from harness.topology.pids import proc_start_time as proc_start_time
from harness.topology.pids import stop_process as stop_process

RUN_ID_ENV = "HARNESS_RUN_ID"
NETNS_PREFIX = "hx-"
BRIDGE_PREFIX = "hxb"
VETH_PREFIX = "hxv"
LINK_PREFIXES = (BRIDGE_PREFIX, VETH_PREFIX)  # every link a run creates starts with one of these


def state_dir() -> Path:
    base = os.environ.get("HARNESS_STATE_DIR")
    path = Path(base) if base else Path.home() / ".local" / "state" / "eventlog-harness"
    (path / "runs").mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class ProcessRecord:
    name: str
    pid: int
    start_time: int | None
    cmd: list[str]
    log: str


@dataclass
class RunResources:
    run_id: str
    run_dir: str
    owner_pid: int | None
    owner_start: int | None
    detached: bool = False
    topology: str = ""
    processes: list[ProcessRecord] = field(default_factory=list)
    netns: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)
    # iptables rules (in FORWARD, root namespace) accepting traffic across the run's bridge
    forward_rules: list[list[str]] = field(default_factory=list)
    #: the docker backend's containers and networks, as "container:<name>" / "network:<name>"
    docker: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    # Set (under SPAWN_LOCK) when teardown starts: a fault restarting a server from another thread
    # (a timed restart after a kill) must not start one that teardown has already passed over.
    closing: bool = False

    # -- persistence -------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return Path(self.run_dir) / "resources.json"

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        tmp.replace(self.path)
        pointer = state_dir() / "runs" / f"{self.run_id}.json"
        if not pointer.exists():
            pointer.write_text(json.dumps({"run_id": self.run_id, "run_dir": self.run_dir}))

    @classmethod
    def load(cls, path: Path) -> RunResources:
        raw = json.loads(path.read_text())
        raw["processes"] = [ProcessRecord(**p) for p in raw.get("processes", [])]
        return cls(**raw)

    def owner_alive(self) -> bool:
        return self.owner_pid is not None and pid_alive(self.owner_pid, self.owner_start)

    # -- recording ---------------------------------------------------------------------------
    def add_process(self, rec: ProcessRecord) -> None:
        self.processes.append(rec)
        self.save()

    def add_netns(self, name: str) -> None:
        self.netns.append(name)
        self.save()

    def add_cgroup(self, path: str) -> None:
        self.cgroups.append(path)
        self.save()

    def add_link(self, name: str) -> None:
        self.links.append(name)
        self.save()

    def add_forward_rule(self, rule: list[str]) -> None:
        self.forward_rules.append(rule)
        self.save()

    def add_docker(self, kind: str, name: str) -> None:
        self.docker.append(f"{kind}:{name}")
        self.save()


#: Held while a server process is started and recorded, and while teardown marks a run as closing,
#: so that every process is either recorded before teardown walks the list or never started.
SPAWN_LOCK = threading.RLock()


def lock_dir() -> Path:
    return Path("/run/lock") if Path("/run/lock").is_dir() else Path(tempfile.gettempdir())


@contextlib.contextmanager
def machine_lock(name: str, *, shared: bool = False) -> Iterator[None]:
    """A lock every process on the machine sees (``flock`` on a file in ``/run/lock``)."""
    with open(lock_dir() / f"eventlog-harness-{name}.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def creating() -> contextlib.AbstractContextManager[None]:
    """Held (shared) while a run creates a server, netns, link or cgroup and records it: the reap
    of another run starting at that moment (which holds it exclusive) would otherwise see the thing
    on the machine but not yet in any run's record, and remove it as a leftover."""
    return machine_lock("resources", shared=True)


def new_resources(run_id: str, run_dir: Path, *, detached: bool, topology: str) -> RunResources:
    me = os.getpid()
    res = RunResources(
        run_id=run_id,
        # Absolute: the pointer in the state directory is read by every other harness process (a
        # reap at each bring-up), whatever its working directory. A relative 'reports/…' read from
        # elsewhere names nothing, the pointer was dropped as stale, and the live run's servers were
        # swept as strays (seen: 'make scenario' beside a run started in another directory).
        run_dir=str(Path(run_dir).absolute()),
        owner_pid=None if detached else me,
        owner_start=None if detached else proc_start_time(me),
        detached=detached,
        topology=topology,
    )
    res.save()
    return res


# -- teardown ----------------------------------------------------------------------------------


def _run_quiet(cmd: list[str]) -> None:
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=15)


def teardown(res: RunResources) -> list[str]:
    """Stops everything ``res`` records, in dependency order. Returns what it removed."""
    removed: list[str] = []
    with SPAWN_LOCK:
        res.closing = True  # no fault may start a server from now on (see ServerProcess)
    # Servers first: a namespace with live processes in it would outlive 'ip netns del'.
    procs = [(p.pid, p.start_time) for p in reversed(res.processes)]
    for proc in reversed(res.processes):
        if pid_alive(proc.pid, proc.start_time):
            terminate(proc.pid, proc.start_time)
            removed.append(f"process {proc.name} (pid {proc.pid})")
    for pid in labelled_pids(res.run_id):
        procs.append((pid, proc_start_time(pid)))
        terminate(*procs[-1])
        removed.append(f"process pid {pid} (labelled {res.run_id})")
    removed += _wait_reaped(procs)
    removed += remove_docker(res.docker)  # containers (killed if still running), then networks
    for group in res.cgroups:  # empty once its processes are gone
        if remove_group(group):
            removed.append(f"cgroup {group}")
    for rule in res.forward_rules:
        if forward.delete(rule):
            removed.append(f"iptables {forward.CHAIN} rule {' '.join(rule[:4])}")
    # Links before namespaces: deleting a veth end removes the pair at once, whereas a deleted
    # namespace releases its interfaces asynchronously.
    present = set(list_links())
    for link in res.links:
        if link in present:
            _run_quiet(["ip", "link", "del", link])
            removed.append(f"link {link}")
    for ns in res.netns:
        if ns in list_netns():
            _run_quiet(["ip", "netns", "del", ns])
            removed.append(f"netns {ns}")
    _wait_links_gone(set(res.links))
    with contextlib.suppress(FileNotFoundError):
        (state_dir() / "runs" / f"{res.run_id}.json").unlink()
    return removed


def _wait_reaped(procs: list[tuple[int, int | None]]) -> list[str]:
    """Waits until every pid is gone, not just signalled: an exited server keeps its pid until it is
    reaped, and 'harness down && harness up' must start from a clean table. All at once, since a
    detached run's servers are reaped by init in its own time (see pids.py). Reports what is left."""
    return [
        f"process pid {pid} exited but its parent (pid {parent_of(pid)}) did not reap it "
        f"within {REAP_TIMEOUT_S:g}s"
        for pid in wait_gone(procs, REAP_TIMEOUT_S)
    ]


def _wait_links_gone(links: set[str], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while links & set(list_links()) and time.monotonic() < deadline:
        time.sleep(0.05)


def labelled_pids(run_id: str | None = None) -> list[int]:
    """Pids whose environment carries our run label (any run when ``run_id`` is None)."""
    needle = f"{RUN_ID_ENV}=".encode()
    wanted = needle + run_id.encode() if run_id else None
    found: list[int] = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            env = (entry / "environ").read_bytes()
        except OSError:
            continue
        for var in env.split(b"\0"):
            if (wanted is not None and var == wanted) or (wanted is None and var.startswith(needle)):
                found.append(int(entry.name))
                break
    return found


def list_netns() -> list[str]:
    try:
        out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def list_links(prefixes: tuple[str, ...] = LINK_PREFIXES) -> list[str]:
    try:
        out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    names = []
    for line in out.splitlines():
        parts = line.split(":", 2)
        if len(parts) >= 2:
            name = parts[1].strip().split("@")[0]
            if name.startswith(prefixes):
                names.append(name)
    return names


def registered_runs() -> list[RunResources]:
    runs = []
    for pointer in sorted((state_dir() / "runs").glob("*.json")):
        try:
            run_dir = Path(json.loads(pointer.read_text())["run_dir"])
            runs.append(RunResources.load(run_dir / "resources.json"))
        except (OSError, ValueError, KeyError, TypeError):
            # The run dir was deleted by hand: keep a stub so the sweep below still runs.
            pointer.unlink(missing_ok=True)
    return runs


def reap(*, include_detached: bool) -> list[str]:
    """Tears down crashed runs (owner gone), and detached ones when asked; then sweeps anything
    carrying our names or labels that no live run claims."""
    with machine_lock("resources"):  # no run is between creating something and recording it
        return _reap_locked(include_detached)


def _reap_locked(include_detached: bool) -> list[str]:
    removed: list[str] = []
    live_ids: set[str] = set()
    live_netns: set[str] = set()
    live_links: set[str] = set()
    live_groups: set[str] = set()
    for res in registered_runs():
        if res.owner_alive() or (res.detached and not include_detached):
            live_ids.add(res.run_id)
            live_netns.update(res.netns)
            live_links.update(res.links)
            live_groups.update(res.cgroups)
            continue
        removed += teardown(res)
    strays: list[tuple[int, int | None]] = []
    for pid in labelled_pids():
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        label = next((v.split(b"=", 1)[1].decode() for v in env if v.startswith(RUN_ID_ENV.encode())), "")
        if label not in live_ids:
            strays.append((pid, proc_start_time(pid)))
            terminate(*strays[-1])
            removed.append(f"process pid {pid} (labelled {label}, no live run)")
    removed += _wait_reaped(strays)
    for ns in list_netns():
        if ns.startswith(NETNS_PREFIX) and ns not in live_netns:
            _run_quiet(["ip", "netns", "del", ns])
            removed.append(f"netns {ns}")
    for link in list_links():
        if link not in live_links:
            _run_quiet(["ip", "link", "del", link])
            removed.append(f"link {link}")
    for group in our_groups():
        if group not in live_groups and remove_group(group):
            removed.append(f"cgroup {group}")
    for run_id, rule in forward.our_rules():  # a crashed run's, even without its resources.json
        if run_id not in live_ids and forward.delete(rule):
            removed.append(f"iptables {forward.CHAIN} rule {' '.join(rule[:4])} (run {run_id}, no live run)")
    removed += sweep_docker(live_ids)
    return removed
