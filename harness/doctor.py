"""Report which external tools the harness can use, and where to find them.

``python -m harness.doctor`` prints a table of tool versions (``make setup`` runs it last).

:func:`find_binary` is the single place that decides where a tool binary comes from; the
topology code uses it to locate ``redis-server``, ``toxiproxy-server``, ``mongod``, ...
Search order:

1. for MongoDB binaries (``mongod``, ``mongos``, ``mongosh``, ...): ``$MONGODB_BIN_DIR`` when it
   is set (the user's explicit choice wins over whatever mongod happens to be on ``PATH``);
2. ``PATH``;
3. the repo's tools directory, ``<repo>/tools/bin`` (where ``scripts/setup.sh`` builds
   toxiproxy-server), or ``$HARNESS_TOOLS_DIR`` when that is set.

It only locates: whether a version is recent enough is the caller's decision.

Nothing in here raises: every probe runs with a timeout and reports ``"error: ..."``
instead of failing.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import signal
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import harness

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TOOLS_DIR = REPO_ROOT / "tools" / "bin"
TOOLS_DIR_ENV = "HARNESS_TOOLS_DIR"
MONGODB_BIN_DIR_ENV = "MONGODB_BIN_DIR"
TOXIPROXY_MODULE = "github.com/Shopify/toxiproxy/v2"
TIMEOUT_S = 5.0
ADMIN_DIRS: tuple[str, ...] = ("/usr/sbin", "/sbin")  # extra places for iptables and ip
NOT_FOUND = "not found"

__all__ = [
    "collect",
    "docker_engine",
    "docker_unreachable_reason",
    "find_binary",
    "main",
    "parse_ferretdb_version",
    "parse_go_module_version",
    "parse_mongod_version",
    "parse_redis_version",
    "parse_toxiproxy_version",
    "probe_output",
    "tools_dir",
]


# --- locating binaries --------------------------------------------------------------------------


def tools_dir() -> Path:
    """The repo-local tools directory: ``$HARNESS_TOOLS_DIR`` if set, else ``<repo>/tools/bin``."""
    override = os.environ.get(TOOLS_DIR_ENV)
    return Path(override) if override else DEFAULT_TOOLS_DIR


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_binary(name: str) -> str | None:
    """Absolute path of the executable ``name``, or ``None`` if it is nowhere to be found.

    Looks (for names starting with ``mongo``) in ``$MONGODB_BIN_DIR`` first, then on ``PATH``,
    then in :func:`tools_dir`. The environment is read on every call.
    """
    mongo_dir = os.environ.get(MONGODB_BIN_DIR_ENV)
    if name.startswith("mongo") and mongo_dir and _executable(Path(mongo_dir) / name):
        return str((Path(mongo_dir) / name).absolute())
    on_path = shutil.which(name)
    if on_path:
        return str(Path(on_path).absolute())
    candidate = tools_dir() / name
    return str(candidate.absolute()) if _executable(candidate) else None


# --- pure parsers --------------------------------------------------------------------------------

_REDIS_SERVER_RE = re.compile(r"\bv=(\d+\.\d+\.\d+\S*)")
_REDIS_CLI_RE = re.compile(r"^redis-cli (\d+\.\d+\.\d+\S*)", re.MULTILINE)
_MONGO_RE = re.compile(r"\bversion v(\d+\.\d+\.\d+\S*)")
_TOXIPROXY_RE = re.compile(r"\btoxiproxy-server version (\S+)")
_IPTABLES_RE = re.compile(r"\bv(\d+\.\d+\.\d+)(?:\s+\(([^)]+)\))?")
_FERRETDB_RE = re.compile(r"^ferretdb v(\d+\.\d+\.\d+\S*)", re.MULTILINE)


def parse_redis_version(output: str) -> str | None:
    """``redis-server --version`` ("Redis server v=7.0.15 sha=...") or ``redis-cli --version``
    ("redis-cli 7.0.15") → ``"7.0.15"``; ``None`` if unrecognised."""
    m = _REDIS_SERVER_RE.search(output) or _REDIS_CLI_RE.search(output)
    return m.group(1) if m else None


def parse_go_module_version(output: str, module: str = TOXIPROXY_MODULE) -> str | None:
    """The version of ``module`` in ``go version -m <binary>`` output, i.e. the third field of
    the line ``mod <module> v2.12.0 h1:...`` (or of a ``dep`` line); ``None`` if absent."""
    for line in output.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[0] in ("mod", "dep") and fields[1] == module:
            return fields[2]
    return None


def parse_mongod_version(output: str) -> str | None:
    """``mongod --version`` ("db version v7.0.14") or ``mongos --version``
    ("mongos version v7.0.14") → ``"7.0.14"``; ``None`` if unrecognised."""
    m = _MONGO_RE.search(output)
    return m.group(1) if m else None


def parse_ferretdb_version(output: str) -> str | None:
    """``ferretdb --version`` of the program ``make setup`` builds ("ferretdb v1.24.2 (sqlite
    handler, embedded)") → ``"1.24.2"``; ``None`` if unrecognised."""
    m = _FERRETDB_RE.search(output)
    return m.group(1) if m else None


def parse_toxiproxy_version(output: str) -> str | None:
    """``toxiproxy-server -version`` ("toxiproxy-server version 2.12.0") → ``"v2.12.0"`` (the Go
    module spelling used by :func:`parse_go_module_version`). ``go install`` builds without
    ``-ldflags -X ...Version=`` say "version git", which gives ``"git"``."""
    m = _TOXIPROXY_RE.search(output)
    if not m:
        return None
    version = m.group(1)
    return f"v{version}" if version[:1].isdigit() else version


def parse_iptables_version(output: str) -> str | None:
    """``iptables --version`` ("iptables v1.8.9 (nf_tables)") → ``"1.8.9 (nf_tables)"``."""
    m = _IPTABLES_RE.search(output)
    if not m:
        return None
    return f"{m.group(1)} ({m.group(2)})" if m.group(2) else m.group(1)


# --- probes --------------------------------------------------------------------------------------


class _ProbeError(Exception):
    pass


def _run(argv: Sequence[str]) -> tuple[int, str]:
    """Run ``argv`` with a timeout; return (exit code, stdout + stderr). Raises only _ProbeError.

    The command gets its own process group, all of which is killed on timeout."""
    name = Path(argv[0]).name
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as e:
        raise _ProbeError(f"{name}: {e.strerror or e}") from e
    try:
        out, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.kill()
        proc.communicate()
        raise _ProbeError(f"{name} timed out after {TIMEOUT_S:g}s") from e
    return proc.returncode, out.decode("utf-8", errors="replace")


def probe_output(argv: Sequence[str]) -> str:
    """stdout and stderr of ``argv``, run like every probe here (timeout, own process group); the
    reason as text when it could not run."""
    try:
        return _run(argv)[1]
    except _ProbeError as e:
        return f"error: {e}"


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _binary_version(name: str, args: Sequence[str], parse: Callable[[str], str | None]) -> str:
    path = find_binary(name)
    if path is None:
        return NOT_FOUND
    code, out = _run([path, *args])
    version = parse(out)
    if version:
        return version
    return f"error: exit {code}: {_first_line(out)[:120]}" if code else f"unknown ({_first_line(out)[:120]})"


def _redis_server() -> str:
    version = _binary_version("redis-server", ["--version"], parse_redis_version)
    major = version.split(".", 1)[0]
    if major.isdigit() and int(major) < 7:
        return f"{version} (need >= 7)"
    return version


def _go_buildinfo_version(binary: str, module: str) -> str | None:
    """Module version from the build info embedded in a Go binary: ``go version -m`` when go is
    on PATH, else a scan of the binary for the (plain-text) ``mod <module> <version>`` line."""
    go = shutil.which("go")
    if go:
        try:
            code, out = _run([go, "version", "-m", binary])
            if code == 0 and (version := parse_go_module_version(out, module)):
                return version
        except _ProbeError:
            pass
    try:
        data = Path(binary).read_bytes()
    except OSError:
        return None
    m = re.search(rb"(?:mod|dep)\t" + re.escape(module.encode()) + rb"\t(v[^\t\r\n]+)", data)
    return m.group(1).decode(errors="replace") if m else None


def _toxiproxy_server() -> str:
    path = find_binary("toxiproxy-server")
    if path is None:
        return NOT_FOUND
    version = _go_buildinfo_version(path, TOXIPROXY_MODULE)
    if version:
        return version
    code, out = _run([path, "-version"])
    version = parse_toxiproxy_version(out)
    if code == 0 and version:
        return version
    line = _first_line(out)[:120]
    return f"error: exit {code}: {line}" if code else f"unknown ({line})"


DOCKER_SOCKET = "/var/run/docker.sock"
ENGINE_HINT = "run 'make setup' as root, or start dockerd"


def docker_engine(timeout_s: float = 2.0) -> tuple[dict[str, str] | None, str]:
    """The Docker engine as the ``docker`` SDK sees it (``DOCKER_HOST`` or the default socket):
    ``({"version", "api", "driver"}, "")`` when it answers, else ``(None, why)``. The SDK negotiates
    the API version with the engine, so Debian's 20.10 (API 1.41) and newer engines both answer."""
    try:
        import docker

        client = docker.from_env(timeout=max(1, round(timeout_s)))
        try:
            version, info = client.version(), client.info()
        finally:
            client.close()
    except Exception as exc:
        return None, docker_unreachable_reason(exc)
    return {
        "version": str(version.get("Version", "?")),
        "api": str(version.get("ApiVersion", "?")),
        "driver": str(info.get("Driver", "?")),
    }, ""


def docker_unreachable_reason(exc: BaseException) -> str:
    """Why the engine did not answer, in words a user can act on (from what is on the machine, not
    from the SDK's wrapped exception text alone)."""
    host = os.environ.get("DOCKER_HOST", "")
    detail = _first_line(str(exc))[:160]
    if host and not host.startswith("unix://"):
        return f"{host}: {detail}"
    sock = host.removeprefix("unix://") or DOCKER_SOCKET
    if not os.path.exists(sock):
        if _find_admin_binary("dockerd") is None:
            return f"no engine installed (no dockerd; {ENGINE_HINT}: it installs docker.io)"
        return f"dockerd is not running (no {sock}; {ENGINE_HINT})"
    if not os.access(sock, os.R_OK | os.W_OK):
        return f"no permission on {sock} (root, or a member of the docker group)"
    return f"{sock}: {detail} ({ENGINE_HINT})"


def _docker() -> str:
    engine, why = docker_engine()
    if engine is None:
        return f"not reachable: {why}"
    return f"{engine['version']} (storage driver {engine['driver']}, API {engine['api']})"


def _find_admin_binary(name: str) -> str | None:
    """:func:`find_binary`, then /usr/sbin and /sbin (not on a normal user's PATH on Debian)."""
    found = find_binary(name)
    if found:
        return found
    for d in ADMIN_DIRS:
        if _executable(Path(d) / name):
            return str(Path(d) / name)
    return None


def _iptables() -> str:
    path = _find_admin_binary("iptables")
    if path is None:
        return NOT_FOUND
    code, out = _run([path, "--version"])
    version = parse_iptables_version(out)
    if version:
        return version
    line = _first_line(out)[:120]
    return f"error: exit {code}: {line}" if code else f"unknown ({line})"


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _ip_netns() -> str:
    if not _is_root():
        return "no (needs root)"
    ip = _find_admin_binary("ip")
    if ip is None:
        return "no (ip not found)"
    code, out = _run([ip, "netns", "list"])
    return "yes" if code == 0 else f"no (ip netns list: exit {code}: {_first_line(out)[:120]})"


def _safe(probe: Callable[[], str]) -> str:
    try:
        return probe()
    except Exception as e:  # a probe must never take the report down
        return f"error: {e}"


def collect() -> dict[str, str]:
    """Versions (or a status such as ``"not found"``) of everything the harness may use."""
    probes: dict[str, Callable[[], str]] = {
        "python": platform.python_version,
        "harness": lambda: harness.__version__,
        "redis-server": _redis_server,
        "redis-cli": lambda: _binary_version("redis-cli", ["--version"], parse_redis_version),
        "toxiproxy-server": _toxiproxy_server,
        "mongod": lambda: _binary_version("mongod", ["--version"], parse_mongod_version),
        "mongos": lambda: _binary_version("mongos", ["--version"], parse_mongod_version),
        "ferretdb": lambda: _binary_version("ferretdb", ["--version"], parse_ferretdb_version),
        "docker": _docker,
        "iptables": _iptables,
        "ip netns": _ip_netns,
        "root": lambda: "yes" if _is_root() else "no",
    }
    return {name: _safe(probe) for name, probe in probes.items()}


def main() -> int:
    info = collect()
    width = max(len(name) for name in info)
    vwidth = max(len(value) for value in info.values())
    print(f"{'name':<{width}}  {'version/status':<{vwidth}}  location")
    for name, value in info.items():
        location = ""
        if name == "docker":
            location = os.environ.get("DOCKER_HOST") or f"unix://{DOCKER_SOCKET}"
        elif name not in ("python", "harness", "ip netns", "root"):
            location = (_find_admin_binary if name == "iptables" else find_binary)(name) or ""
        print(f"{name:<{width}}  {value:<{vwidth}}  {location}".rstrip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
