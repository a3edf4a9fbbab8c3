"""harness.doctor: binary lookup, version parsing, collect(); syntax check of scripts/setup.sh."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import doctor

REPO_ROOT = Path(__file__).resolve().parents[2]
SETUP_SH = REPO_ROOT / "scripts" / "setup.sh"
SLEEP = shutil.which("sleep") or "/bin/sleep"

EXPECTED_KEYS = {
    "python",
    "harness",
    "redis-server",
    "redis-cli",
    "toxiproxy-server",
    "mongod",
    "mongos",
    "ferretdb",
    "docker",
    "iptables",
    "ip netns",
    "root",
}


def _fake_exe(directory: Path, name: str, output: str = "", exit_code: int = 0, sleep: float = 0) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    lines = ["#!/bin/sh"]  # PATH may be an empty dir: only builtins and absolute paths below
    if sleep:
        lines.append(f"{SLEEP} {sleep}")
    lines += [f"printf '%s\\n' {shlex.quote(output)}", f"exit {exit_code}"]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """PATH, the tools dir and MONGODB_BIN_DIR all point at (distinct) empty directories, and
    /usr/sbin, /sbin are not searched for iptables/ip."""
    dirs = {k: tmp_path / k for k in ("path", "tools", "mongo")}
    for d in dirs.values():
        d.mkdir()
    monkeypatch.setenv("PATH", str(dirs["path"]))
    monkeypatch.setenv("HARNESS_TOOLS_DIR", str(dirs["tools"]))
    monkeypatch.setenv("MONGODB_BIN_DIR", str(dirs["mongo"]))
    monkeypatch.setattr(doctor, "ADMIN_DIRS", ())
    # no daemon to find: keep the docker probe fast and deterministic
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-docker.sock'}")
    return dirs


# --- find_binary -----------------------------------------------------------------------------------


def test_find_binary_in_tools_dir(isolated: dict[str, Path]) -> None:
    exe = _fake_exe(isolated["tools"], "toxiproxy-server")
    assert doctor.find_binary("toxiproxy-server") == str(exe)


def test_find_binary_on_path(isolated: dict[str, Path]) -> None:
    exe = _fake_exe(isolated["path"], "redis-server")
    assert doctor.find_binary("redis-server") == str(exe)


def test_find_binary_prefers_path_over_tools_dir(isolated: dict[str, Path]) -> None:
    on_path = _fake_exe(isolated["path"], "toxiproxy-server")
    _fake_exe(isolated["tools"], "toxiproxy-server")
    assert doctor.find_binary("toxiproxy-server") == str(on_path)


def test_find_binary_mongodb_bin_dir_only_for_mongo(isolated: dict[str, Path]) -> None:
    mongod = _fake_exe(isolated["mongo"], "mongod")
    _fake_exe(isolated["mongo"], "redis-server")
    assert doctor.find_binary("mongod") == str(mongod)
    assert doctor.find_binary("redis-server") is None


def test_find_binary_prefers_mongodb_bin_dir_for_mongo(isolated: dict[str, Path]) -> None:
    """$MONGODB_BIN_DIR is the user's explicit choice: it wins over an older mongod on PATH."""
    _fake_exe(isolated["path"], "mongod", "db version v5.0.3")
    chosen = _fake_exe(isolated["mongo"], "mongod", "db version v7.0.14")
    _fake_exe(isolated["path"], "redis-server")
    on_path = _fake_exe(isolated["mongo"], "redis-server")  # only mongo* names look there
    assert doctor.find_binary("mongod") == str(chosen)
    assert doctor.find_binary("redis-server") == str(isolated["path"] / "redis-server") != str(on_path)


def test_find_binary_ignores_non_executable(isolated: dict[str, Path]) -> None:
    (isolated["tools"] / "toxiproxy-server").write_text("not executable")
    assert doctor.find_binary("toxiproxy-server") is None


def test_find_binary_absent(isolated: dict[str, Path]) -> None:
    assert doctor.find_binary("redis-server") is None
    assert doctor.find_binary("mongod") is None


def test_tools_dir_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_TOOLS_DIR", raising=False)
    assert doctor.tools_dir() == REPO_ROOT / "tools" / "bin"


# --- parsers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (
            "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=ae4d7c971a948f0\n",
            "7.0.15",
        ),
        ("Redis server v=7.2.4 sha=00000000:0 malloc=libc bits=64 build=1234", "7.2.4"),
        (
            "Redis server v=6.0.16 sha=00000000:0 malloc=jemalloc-5.2.1 bits=64 build=a3fdef44459b3ad6",
            "6.0.16",
        ),
        ("redis-cli 7.0.15\n", "7.0.15"),
        ("", None),
        ("command not found", None),
    ],
)
def test_parse_redis_version(output: str, expected: str | None) -> None:
    assert doctor.parse_redis_version(output) == expected


GO_VERSION_M = """\
/work/main/tools/bin/toxiproxy-server: go1.26.8
\tpath\tgithub.com/Shopify/toxiproxy/v2/cmd/server
\tmod\tgithub.com/Shopify/toxiproxy/v2\tv2.12.0\th1:Wc0ETcsvIxGmVCAqa/ybUEFAnGpbx5QxHlAl0wrEfQ0=
\tdep\tgithub.com/gorilla/mux\tv1.8.1\th1:TuBL49tXwgrFYWhqrNgrUNEY92u81SPhu7sTdzQEiWY=
\tdep\tgithub.com/rs/zerolog\tv1.33.0\th1:1cU2KZkvPxNyfgEmhHAz/1A9Bz+llsdYzklWFzgp0r8=
\tbuild\t-ldflags="-X github.com/Shopify/toxiproxy/v2.Version=2.12.0"
\tbuild\tCGO_ENABLED=0
"""


def test_parse_go_module_version() -> None:
    assert doctor.parse_go_module_version(GO_VERSION_M) == "v2.12.0"
    assert doctor.parse_go_module_version(GO_VERSION_M, "github.com/gorilla/mux") == "v1.8.1"
    assert doctor.parse_go_module_version(GO_VERSION_M, "example.com/absent") is None
    assert doctor.parse_go_module_version("") is None
    assert doctor.parse_go_module_version("/bin/ls: could not read Go build info") is None


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ('db version v7.0.14\nBuild Info: {\n    "version": "7.0.14",\n}\n', "7.0.14"),
        ("mongos version v7.0.2\nBuild Info: {}\n", "7.0.2"),
        ("db version v8.0.0-rc9\n", "8.0.0-rc9"),
        ("", None),
        ("garbage", None),
    ],
)
def test_parse_mongod_version(output: str, expected: str | None) -> None:
    assert doctor.parse_mongod_version(output) == expected


def test_parse_toxiproxy_version() -> None:
    assert doctor.parse_toxiproxy_version("toxiproxy-server version 2.12.0\n") == "v2.12.0"
    assert doctor.parse_toxiproxy_version("toxiproxy-server version git") == "git"
    assert doctor.parse_toxiproxy_version("flag provided but not defined: -version") is None


def test_parse_ferretdb_version() -> None:
    assert doctor.parse_ferretdb_version("ferretdb v1.24.2 (sqlite handler, embedded)\n") == "1.24.2"
    assert doctor.parse_ferretdb_version("ferretdb unknown (sqlite handler, embedded)") is None
    assert doctor.parse_ferretdb_version("") is None


def test_parse_iptables_version() -> None:
    assert doctor.parse_iptables_version("iptables v1.8.9 (nf_tables)\n") == "1.8.9 (nf_tables)"
    assert doctor.parse_iptables_version("iptables v1.8.7 (legacy)") == "1.8.7 (legacy)"
    assert doctor.parse_iptables_version("iptables v1.6.1") == "1.6.1"
    assert doctor.parse_iptables_version("") is None


# --- collect / main ------------------------------------------------------------------------------


def test_collect_with_nothing_installed(isolated: dict[str, Path]) -> None:
    info = doctor.collect()
    assert set(info) == EXPECTED_KEYS
    assert all(isinstance(v, str) and v for v in info.values())
    for name in ("mongod", "mongos", "ferretdb", "redis-server", "redis-cli", "toxiproxy-server", "iptables"):
        assert info[name] == "not found", name
    assert info["docker"] == (
        "not reachable: no engine installed (no dockerd; run 'make setup' as root, or start dockerd: "
        "it installs docker.io)"
    )
    assert info["root"] in ("yes", "no")
    assert info["ip netns"].startswith("no")


def test_collect_uses_fake_binaries(isolated: dict[str, Path]) -> None:
    _fake_exe(isolated["path"], "redis-server", "Redis server v=7.2.4 sha=00000000:0 malloc=libc bits=64")
    _fake_exe(isolated["path"], "redis-cli", "redis-cli 7.2.4")
    _fake_exe(isolated["mongo"], "mongod", "db version v7.0.14\nBuild Info: {}")
    _fake_exe(isolated["tools"], "toxiproxy-server", "toxiproxy-server version 2.12.0")
    _fake_exe(isolated["tools"], "ferretdb", "ferretdb v1.24.2 (sqlite handler, embedded)")
    info = doctor.collect()
    assert info["ferretdb"] == "1.24.2"
    assert info["redis-server"] == "7.2.4"
    assert info["redis-cli"] == "7.2.4"
    assert info["mongod"] == "7.0.14"
    assert info["mongos"] == "not found"
    # no go on PATH and no Go build info in a shell script: falls back to -version output
    assert info["toxiproxy-server"] == "v2.12.0"


def test_collect_flags_old_redis(isolated: dict[str, Path]) -> None:
    _fake_exe(isolated["path"], "redis-server", "Redis server v=6.0.16 sha=00000000:0")
    assert doctor.collect()["redis-server"] == "6.0.16 (need >= 7)"


def test_collect_reports_errors_instead_of_raising(
    isolated: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(doctor, "TIMEOUT_S", 0.3)
    _fake_exe(isolated["path"], "redis-server", "boom", exit_code=3)
    _fake_exe(isolated["path"], "mongod", "", sleep=5)
    info = doctor.collect()
    assert info["redis-server"].startswith("error: exit 3")
    assert info["mongod"].startswith("error:") and "timed out" in info["mongod"]


def test_toxiproxy_version_from_embedded_build_info(isolated: dict[str, Path]) -> None:
    """Without go on PATH the module version is read from the binary's embedded build info."""
    binary = isolated["tools"] / "toxiproxy-server"
    binary.write_bytes(
        b"\x7fELF...\xff Go buildinf:..." + GO_VERSION_M.encode() + b"\x00\x00"
        b"#!/bin/sh\n"  # never executed: the build info is found first
    )
    binary.chmod(0o755)
    assert doctor.collect()["toxiproxy-server"] == "v2.12.0"


def test_main_prints_table(isolated: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert doctor.main() == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["name", "version/status"]
    names = [line[: lines[0].index("version/status")].strip() for line in lines[1:]]
    assert names == list(doctor.collect())
    assert any(line.startswith("mongod") and "not found" in line for line in lines)


# --- the Docker engine ------------------------------------------------------------------------------


class _FakeEngine:
    def version(self) -> dict[str, str]:
        return {"Version": "20.10.24+dfsg1", "ApiVersion": "1.41"}

    def info(self) -> dict[str, str]:
        return {"Driver": "overlay2"}

    def close(self) -> None:
        pass


def test_docker_engine_reports_version_driver_and_api(
    isolated: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import docker

    monkeypatch.setattr(docker, "from_env", lambda **kw: _FakeEngine())
    assert doctor.docker_engine() == ({"version": "20.10.24+dfsg1", "api": "1.41", "driver": "overlay2"}, "")
    assert doctor.collect()["docker"] == "20.10.24+dfsg1 (storage driver overlay2, API 1.41)"


def test_docker_not_running_says_how_to_start_it(isolated: dict[str, Path], tmp_path: Path) -> None:
    _fake_exe(isolated["path"], "dockerd")  # installed, but no socket
    engine, why = doctor.docker_engine()
    assert engine is None
    sock = tmp_path / "no-docker.sock"
    assert why == f"dockerd is not running (no {sock}; run 'make setup' as root, or start dockerd)"


def test_docker_socket_that_refuses_is_named(
    isolated: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    path = tmp_path / "stale.sock"  # a socket file nobody listens on: what a killed dockerd leaves
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    engine, why = doctor.docker_engine()
    assert engine is None and why.startswith(f"{path}: ") and why.endswith("or start dockerd)"), why


def test_docker_remote_host_reason_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://192.0.2.1:2375")
    why = doctor.docker_unreachable_reason(OSError("connection timed out"))
    assert why == "tcp://192.0.2.1:2375: connection timed out"


# --- scripts/setup.sh ------------------------------------------------------------------------------


def test_setup_sh_syntax() -> None:
    proc = subprocess.run(["bash", "-n", str(SETUP_SH)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr


def test_setup_sh_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck not installed (apt-get install shellcheck)")
    proc = subprocess.run([shellcheck, str(SETUP_SH)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- MongoDB versions (checked where the binaries are chosen, not by the locator) -----------------


@pytest.mark.parametrize(
    ("mongod", "mongos", "refused"),
    [
        ("db version v5.0.3", "mongos version v7.0.14", "mongod 5.0.3"),
        ("db version v7.0.14", "mongos version v4.4.29", "mongos 4.4.29"),
    ],
)
def test_mongodb_older_than_6_is_refused_with_what_to_do(
    isolated: dict[str, Path], mongod: str, mongos: str, refused: str
) -> None:
    from harness.errors import HarnessError
    from harness.topology.mongo import mongo_binaries

    _fake_exe(isolated["mongo"], "mongod", mongod)
    _fake_exe(isolated["mongo"], "mongos", mongos)
    with pytest.raises(HarnessError) as err:
        mongo_binaries(need_mongos=True)
    text = str(err.value)
    name = refused.split()[0]
    assert f"{refused} at {isolated['mongo'] / name} (from $MONGODB_BIN_DIR)" in text
    assert "6.0 or newer" in text
    assert "MONGODB_BIN_DIR" in text.split("6.0 or newer", 1)[1]  # and how to point at a newer one


def test_mongodb_6_and_newer_are_accepted(isolated: dict[str, Path]) -> None:
    from harness.topology.mongo import mongo_binaries

    _fake_exe(isolated["path"], "mongod", "db version v6.0.16\nBuild Info: {}")
    _fake_exe(isolated["mongo"], "mongos", "mongos version v8.0.0-rc9")
    assert mongo_binaries(need_mongos=True) == {
        "mongod": str(isolated["path"] / "mongod"),
        "mongos": str(isolated["mongo"] / "mongos"),
    }
