"""Which server of a platform capacity run saturated first (harness.metrics.bottleneck), against
the step series that would fool it."""

from __future__ import annotations

from typing import Any

import pytest

from harness.metrics.bottleneck import first_saturated

CAPS = {"redis": 0.25, "mongo": 0.25}


def step(offered: float, redis: float, mongo: float) -> dict[str, Any]:
    return {"offered": offered, "servers": {"redis": {"cpu_cores": redis}, "mongo": {"cpu_cores": mongo}}}


def test_redis_saturated_is_not_blamed_on_mongo() -> None:
    # MongoDB's latency grew, but Redis hit its cap first: Redis is named
    steps = [step(1000, 0.10, 0.08), step(2000, 0.22, 0.15), step(3000, 0.245, 0.20)]
    got = first_saturated(steps, CAPS)
    assert got["server"] == "redis" and got["offered"] == 2000
    assert got["utilisation"] == {"redis": 0.88, "mongo": 0.6}
    assert got["note"].startswith("redis saturated first")


def test_mongo_saturated_first() -> None:
    steps = [step(500, 0.02, 0.15), step(600, 0.03, 0.235)]
    assert first_saturated(steps, CAPS)["server"] == "mongo"


def test_steps_are_judged_in_rate_order_not_run_order() -> None:
    # refinement steps run after the coarse ones: the lower rate where mongo saturated comes first
    steps = [step(1000, 0.05, 0.10), step(3000, 0.24, 0.24), step(2000, 0.10, 0.22)]
    got = first_saturated(steps, CAPS)
    assert got["server"] == "mongo" and got["offered"] == 2000


def test_each_server_against_its_own_cap() -> None:
    # uncapped: Redis one thread (1.0), the MongoDB plane 2 cores. 0.9 of Redis's core is saturated;
    # 1.5 cores of MongoDB's 2 is 75%: not, though it used more cores
    got = first_saturated([step(100, 0.9, 1.5)], {"redis": 1.0, "mongo": 2.0})
    assert got["server"] == "redis"


def test_both_in_the_same_step_names_the_one_nearer_its_cap() -> None:
    assert first_saturated([step(100, 0.22, 0.24)], CAPS)["server"] == "mongo"


def test_neither_saturated_names_none() -> None:
    got = first_saturated([step(100, 0.05, 0.05), step(200, 0.1, 0.1)], CAPS)
    assert got["server"] is None and "no server reached" in got["note"]


def test_a_cap_of_zero_is_refused() -> None:
    with pytest.raises(ValueError):
        first_saturated([step(1, 0, 0)], {"redis": 0.0, "mongo": 1.0})


def test_the_note_names_each_server_as_it_names_itself() -> None:
    names = {"redis": "redis-server 7.0.15", "mongo": "FerretDB 1.24.2 on SQLite, not MongoDB"}
    got = first_saturated([step(100, 0.05, 0.24)], CAPS, names=names)
    assert got["server"] == "mongo"
    assert got["note"].startswith("mongo (FerretDB 1.24.2 on SQLite, not MongoDB) saturated first")
    assert "redis (redis-server 7.0.15) 20%" in got["note"]
