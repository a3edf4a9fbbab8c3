"""The dashboard cache's origin and figures: the MongoDB dashboard query as the loader when that
plane runs (its exact command, recorded as its own op, on a client of its own), the Redis counters
when it did not, the tenants a cached dashboard holds (for tenant-isolation), and the summary's
origin queries per expiry as metrics.json and the report show them."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from mockupdb import MockupDB, go
from pymongo import MongoClient

from harness.checkers.tenant_isolation import check_tenant_isolation
from harness.clock import RunClock, seeded_random
from harness.history.loader import stream_ops
from harness.history.recorder import HistoryRecorder
from harness.records import CacheFigures
from harness.report.sections import _cache_fact
from harness.scenario.kinds.platform_mongo import LOADER_PROCESS, MongoSide
from harness.topology.mongo_features import ServerFeatures
from harness.topology.mongo_spec import load_collections
from harness.workload.model.keys import KeyScheme
from harness.workload.mongo_plane.queries import QueryService
from harness.workload.platform.config import ReadStats
from harness.workload.platform.mongo_side import dashboard_tenants, mongo_dashboard_loader
from harness.workload.redis_plane.cache import Cache, CacheStats, LoaderError
from tests.mockrs import body, cursor, history, receive
from tests.unit.test_read_workers import FakeRedis

Replset = tuple[MockupDB, MockupDB, MongoClient[dict[str, Any]]]
NOW_MS = 1_705_314_645_000


def event(tenant: str, event_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "tenant_id": tenant,
        "event_type": "user.login",
        "event_time": datetime.now(UTC),
    }


def test_the_mongodb_loader_is_the_dashboard_query_recorded_as_its_own_op(
    rs: Replset, recorder: HistoryRecorder
) -> None:
    primary, _secondary, client = rs
    service = QueryService(
        client["eventlog"], recorder, recorder.clock, "before", now_ms=lambda: NOW_MS, process=LOADER_PROCESS
    )
    load = mongo_dashboard_loader(service)
    future = go(load, "acme")
    req = receive(primary, "find")
    assert (body(req)["filter"]["tenant_id"], body(req)["limit"], body(req)["sort"]) == (
        "acme",
        100,
        {"event_time": -1},
    )
    req.ok(**cursor("eventlog.events", [event("acme", "e2"), event("acme", "e1")]))
    value = future()
    # JSON-serialisable (it is cached), small, and it names the tenant of every event it holds.
    assert value == {
        "tenant": "acme",
        "count": 2,
        "events": [["e2", "user.login"], ["e1", "user.login"]],
        "tenants": ["acme", "acme"],
    }
    assert dashboard_tenants(value) == ["acme", "acme", "acme"] and dashboard_tenants([1]) is None
    [op] = list(stream_ops(history(recorder)))
    assert (op.process, op.f, op.outcome, op.get("tenant")) == (LOADER_PROCESS, "dashboard", "ok", "acme")
    # A query that fails is the loader's failure (the cache records its read as unknown).
    future = go(load, "acme")
    receive(primary, "find").command_err(code=50, errmsg="operation exceeded time limit")
    with pytest.raises(LoaderError, match="dashboard of acme"):
        future()


def test_a_cached_dashboard_holding_another_tenants_event_is_a_cross_tenant_read(
    recorder: HistoryRecorder,
) -> None:
    def load(tenant: str) -> dict[str, Any]:  # a loader that lost its tenant filter
        return {"tenant": tenant, "count": 2, "events": [], "tenants": [tenant, "other"]}

    cache = Cache(
        FakeRedis(),  # type: ignore[arg-type]
        recorder,
        recorder.clock,
        KeyScheme({}),
        load,
        "cache_aside",
        tenants_of=dashboard_tenants,
        run_variant="v",
    )
    cache.get("acme", 5)  # loaded
    cache.get("acme", 6)  # served from the cache
    verdict = check_tenant_isolation(stream_ops(history(recorder)), reads=["cache_get"])
    assert verdict.status == "invalid" and verdict.violations == 2


class Plane(SimpleNamespace):
    spec = SimpleNamespace(load_collections=lambda: load_collections("platform"))


def side(
    mongo: Any, recorder: HistoryRecorder, cache_origin: str = "auto"
) -> tuple[MongoSide, list[dict[str, Any]]]:
    """A platform kind's MongoDB side on a fake context: what it asks the deployment for."""
    asked: list[dict[str, Any]] = []

    class Client(dict[str, Any]):
        def close(self) -> None:
            pass

    def mongo_client(**kwargs: Any) -> Client:
        asked.append(kwargs)
        return Client(eventlog=object())

    dep = SimpleNamespace(mongo=mongo, mongo_client=mongo_client)
    ctx = SimpleNamespace(
        dep=dep,
        recorder=recorder,
        clock=recorder.clock,
        name="before",
        variant=SimpleNamespace(read_pref="primary"),
        spec=SimpleNamespace(workload=SimpleNamespace(cache_origin=cache_origin)),
        router=lambda: object(),
    )
    return MongoSide(ctx), asked  # type: ignore[arg-type]


def test_the_origin_is_mongodb_when_that_plane_runs_else_redis(recorder: HistoryRecorder) -> None:
    ferret = ServerFeatures("ferretdb", "1.24.2", "standalone")
    parts, asked = side(Plane(features=ferret), recorder)
    origin = parts._dashboard_origin(KeyScheme({}))
    assert origin.name == "mongodb (ferretdb 1.24.2)" and origin.tenants_of is dashboard_tenants
    assert len(asked) == 1 and parts.loader_client is not None  # a client of its own, closed with the parts
    parts, asked = side(None, recorder)
    origin = parts._dashboard_origin(KeyScheme({}))
    assert origin.name == "redis" and not asked and parts.loader_client is None
    assert origin.tenants_of({"tenant": "acme", "events_last_5m": 3}) == ["acme"]
    # A scenario may keep the Redis origin beside a MongoDB plane, and the run says so.
    parts, asked = side(Plane(features=ferret), recorder, cache_origin="redis")
    assert parts._dashboard_origin(KeyScheme({})).name == "redis" and not asked
    assert "cache_origin: redis" in parts.notes["cache_origin"]


def test_figures_count_origin_queries_per_expiry() -> None:
    stats = CacheStats()
    assert stats.figures()["expiries"] == 0 and stats.figures()["loads_per_expiry_mean"] is None
    for _ in range(3):  # one expiry of k1 loaded by three readers
        stats.load_started("k1", by_reader=True)
    stats.filled("k1")
    stats.load_started("k1", by_reader=True)
    stats.filled("k1")
    stats.load_started("k2", by_reader=False)
    stats.filled("k2")
    fig = stats.figures()
    assert (fig["expiries"], fig["max_stampede"], fig["reader_loads"], fig["refresher_loads"]) == (3, 3, 4, 1)
    assert fig["loads_per_expiry_mean"] == pytest.approx(5 / 3)


def test_the_summary_names_the_origin_and_the_report_shows_the_figures(recorder: HistoryRecorder) -> None:
    parts, _ = side(None, recorder)
    parts.cache = Cache(
        FakeRedis(),  # type: ignore[arg-type]
        recorder,
        RunClock(),
        KeyScheme({}),
        lambda t: {"tenant": t},
        "mutex",
        rng=seeded_random(1, "c"),
    )
    parts.cache_origin = "mongodb (ferretdb 1.24.2)"
    parts.driver = SimpleNamespace(  # type: ignore[assignment]
        read_stats=ReadStats(), errors=[], sessions=None, queue_stats=None
    )
    parts.cache.get("acme")
    cache = CacheFigures.model_validate(parts.summary(0.0)["cache"])
    assert (cache.origin, cache.variant, cache.expiries, cache.loads_per_expiry_mean, cache.max_stampede) == (
        "mongodb (ferretdb 1.24.2)",
        "mutex",
        1,
        1.0,
        1,
    )
    fact = _cache_fact(cache)
    assert fact.startswith("queries of mongodb (ferretdb 1.24.2) per expiry: mean 1, max 1, over 1 expiries")
