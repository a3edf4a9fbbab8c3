"""Unit-level fixtures: a throwaway standalone redis-server (skips when the binary is absent), a mock
MongoDB standalone (with a client) and replica set per wire version, and a history recorder in the
test's tmp dir."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from mockupdb import MockupDB
from pymongo import MongoClient

from harness.clock import RunClock
from harness.history.recorder import HistoryRecorder
from tests.mockrs import WIRE, mock_replset, mock_standalone


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that starts a redis-server is a live test wherever it stands: ``-m "not live"``
    (``make test-unit``) starts no server."""
    for item in items:
        if "redis_port" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.live)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redis_port(tmp_path: Path) -> Iterator[int]:
    """A redis-server in the foreground as our child, no persistence, stopped afterwards."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("needs redis-server on PATH (apt-get install redis-server, or 'make setup')")
    port = free_port()
    proc = subprocess.Popen(
        [
            exe,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port, socket_timeout=1)
        deadline = time.monotonic() + 10
        while True:  # readiness: the server answers PING
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on {port} did not start") from None
                time.sleep(0.02)
        client.close()
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module", params=sorted(WIRE), ids=lambda v: f"mongodb-{v}")
def server(request: pytest.FixtureRequest) -> Iterator[MockupDB]:
    """A mock standalone MongoDB, once per wire version."""
    with mock_standalone(WIRE[request.param]) as s:
        yield s


@pytest.fixture
def client(server: MockupDB) -> Iterator[MongoClient[dict[str, Any]]]:
    """A direct client of :func:`server`."""
    c: MongoClient[dict[str, Any]] = MongoClient(
        server.uri, directConnection=True, serverSelectionTimeoutMS=5000
    )
    yield c
    c.close()


@pytest.fixture(scope="module", params=sorted(WIRE), ids=lambda v: f"mongodb-{v}")
def rs(request: pytest.FixtureRequest) -> Iterator[tuple[MockupDB, MockupDB, MongoClient[dict[str, Any]]]]:
    """A mock two-member replica set (primary, secondary, client), once per wire version."""
    with mock_replset(WIRE[request.param]) as servers:
        yield servers


@pytest.fixture
def recorder(tmp_path: Path) -> Iterator[HistoryRecorder]:
    with HistoryRecorder(tmp_path / "history.jsonl", RunClock()) as rec:
        yield rec
