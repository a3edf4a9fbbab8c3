"""Bad input gets one clear error, and nothing is left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import MissingBinaryError, NotHealthyError
from harness.topology.lifecycle import RunResources
from harness.topology.local import run_id_now
from harness.topology.spec import TopologySpec, load_topology
from tests.conftest import needs_servers
from tests.live.backend import deploy
from tests.live.leftovers import assert_nothing_left


def with_settings(name: str, **settings: str | int) -> TopologySpec:
    spec = load_topology(name)
    assert spec.redis is not None
    redis = spec.redis.model_copy(update={"settings": {**spec.redis.settings, **settings}})
    return spec.model_copy(update={"redis": redis})


@pytest.mark.live
@needs_servers
def test_a_node_that_cannot_start_fails_with_its_log_tail(tmp_path: Path) -> None:
    run_id = run_id_now("test-")
    bad = with_settings("redis-replicated", maxmemory="lots")
    with pytest.raises(NotHealthyError) as err, deploy(bad, tmp_path / run_id, run_id, timeout_s=5):
        pass
    message = str(err.value)
    assert "redis-server r1 exited" in message
    assert "last lines of" in message and "maxmemory" in message  # redis names the bad directive
    assert_nothing_left(RunResources.load(tmp_path / run_id / "resources.json"))


def test_missing_redis_server_is_named_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("HARNESS_TOOLS_DIR", str(empty))
    run_id = run_id_now("test-")
    with (
        pytest.raises(MissingBinaryError, match=r"'redis-server' not found\. Run 'make setup'"),
        deploy(load_topology("redis-replicated"), tmp_path / run_id, run_id, hosts="loopback"),
    ):
        pass
    # The binary is looked up before anything is created: not even the run directory exists.
    assert not (tmp_path / run_id).exists()
