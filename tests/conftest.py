"""Shared fixtures: skips with reasons when a server binary or root is missing; under
``HARNESS_STRICT_SKIPS=1`` (``.ci/run`` sets it) a skip for any other reason fails the run."""

from __future__ import annotations

import os

import pytest

from harness.doctor import docker_engine, find_binary
from harness.topology.network import netns_supported


def missing_servers() -> str | None:
    missing = [b for b in ("redis-server", "toxiproxy-server") if find_binary(b) is None]
    return f"needs {', '.join(missing)} (run 'make setup')" if missing else None


needs_servers = pytest.mark.skipif(missing_servers() is not None, reason=missing_servers() or "")
needs_mongod = pytest.mark.skipif(
    find_binary("mongod") is None or find_binary("mongos") is None,
    reason="no mongod (put mongod/mongos 7.0+ on PATH or set MONGODB_BIN_DIR)",
)
needs_ferretdb = pytest.mark.skipif(
    find_binary("ferretdb") is None,
    reason="no ferretdb (run 'make setup': it builds tools/bin/ferretdb with Go >= 1.24)",
)
_ns_ok, _ns_reason = netns_supported()
needs_netns = pytest.mark.skipif(not _ns_ok, reason=f"needs network namespaces: {_ns_reason}")
_engine, _engine_why = docker_engine()
needs_engine = pytest.mark.skipif(_engine is None, reason=f"no docker engine reachable: {_engine_why}")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        choices=("local", "docker"),
        default=os.environ.get("HARNESS_BACKEND") or "local",
        help="backend the live tests bring topologies up on (default: $HARNESS_BACKEND or local)",
    )


def pytest_configure(config: pytest.Config) -> None:
    from tests.live import backend

    backend.chosen = config.getoption("backend")
    os.environ["HARNESS_BACKEND"] = backend.chosen  # for the subprocesses some live tests start


def pytest_report_header(config: pytest.Config) -> str:
    return f"harness backend for live tests: {config.getoption('backend')}"


@pytest.fixture(autouse=True, scope="session")
def _tools_on_path() -> None:
    # The Makefile puts tools/bin on PATH; do the same when pytest is run directly.
    tools = os.path.join(os.path.dirname(os.path.dirname(__file__)), "tools", "bin")
    os.environ["PATH"] = f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.fixture(autouse=True, scope="session")
def _docker_images(request: pytest.FixtureRequest) -> None:
    """On the docker backend, the local images the live tests' containers run (built once, then
    reused: about a second when present)."""
    if request.config.getoption("backend") != "docker" or _engine is None:
        return
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(__file__))
    cmd = [sys.executable, "-m", "harness.cli", "images", "build"]
    subprocess.run(cmd, cwd=root, check=True, timeout=600, capture_output=True)


@pytest.fixture
def every_verdict_kinds_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every :class:`Verdict` made while the test runs keeps the anomaly-kind contract
    (:func:`tests.kinds.assert_kinds`): its kinds declared by its checker, counted completely.
    Verdicts a test builds by hand under a name no checker has are left alone."""
    from harness.checkers import KINDS_OF
    from harness.checkers.verdict import Verdict
    from tests.kinds import assert_kinds

    original = Verdict.__post_init__

    def checked(self: Verdict) -> None:
        original(self)
        if self.name in KINDS_OF:
            assert_kinds(self)

    monkeypatch.setattr(Verdict, "__post_init__", checked)


#: The only skips ``HARNESS_STRICT_SKIPS=1`` lets pass: what our machines cannot have (a MongoDB
#: server) and its mirror image on a machine that has one. Anything else (no root, no cgroups, a
#: leftover topology, a missing tool) is something CI here must have, so a skip would hide a test.
ALLOWED_SKIPS = ("no mongod", "mongod is on this machine")
_skipped: list[tuple[str, str]] = []


def _reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return text.removeprefix("Skipped: ")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append((report.nodeid, _reason(report)))


def _disallowed() -> list[tuple[str, str]]:
    if os.environ.get("HARNESS_STRICT_SKIPS") != "1":
        return []
    return [(node, why) for node, why in _skipped if not why.startswith(ALLOWED_SKIPS)]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    bad = _disallowed()
    if bad:
        terminalreporter.section("skips not allowed under HARNESS_STRICT_SKIPS=1", red=True)
        for node, why in bad:
            terminalreporter.write_line(f"{node}: {why}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _disallowed() and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
