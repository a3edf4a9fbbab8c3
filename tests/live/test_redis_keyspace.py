"""Filler keys on a real redis-server: the tables grown past the filler and settled before a
measurement, which a fill alone leaves rehashing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from harness.bench.suite import standalone_topology
from harness.clients.redis_keyspace import _FILL, FILLER_PREFIX, prefill, tables
from harness.topology.local import run_id_now
from tests.conftest import needs_servers
from tests.live.backend import deploy

pytestmark = [pytest.mark.live, needs_servers]


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[redis.Redis]:
    run_id = run_id_now("test-")
    with deploy(standalone_topology(), tmp_path / run_id, run_id) as dep:
        node = dep.redis[0]
        client = redis.Redis(host=node.host.address, port=node.port, decode_responses=True)
        # serverCron would finish a small table's rehash between two calls: the state must come
        # from the sweep alone for the test to show it
        client.config_set("activerehashing", "no")
        yield client
        client.close()


def test_a_fill_that_crosses_a_power_of_two_leaves_both_tables_rehashing(admin: redis.Redis) -> None:
    # 104 keys past 4,096: the table doubled, and each SET moved it on by only a few buckets
    admin.eval(_FILL, 1, FILLER_PREFIX, 0, 4_200, 3600)
    state = tables(admin)
    assert state["main"].rehashing is True and state["expires"].rehashing is True
    assert state["main"].buckets == 4_096 + 8_192


def test_prefill_settles_both_tables_before_it_returns(admin: redis.Redis) -> None:
    filler = prefill(admin, 4_200, 3600)
    assert filler["settled"] is True and filler["sweeps"] >= 1
    assert filler["tables"] == {
        "main": {"buckets": 8_192, "rehashing": False},
        "expires": {"buckets": 8_192, "rehashing": False},
    }
    assert admin.dbsize() == 4_200 and filler["used_memory"] > 4_200 * 40
    assert 3500 < admin.ttl(f"{FILLER_PREFIX}4199") <= 3600  # filler expires with the expires table
