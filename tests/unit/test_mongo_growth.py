"""The unbounded-growth MongoDB half: its figures from storage samples (and the samples that would
fool them), the commands its cleanup, sampler and collection set-up send (mockupdb), and how a
variant whose removal the server cannot do is reported."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from mockupdb import MockupDB, go
from pydantic import ValidationError
from pymongo import MongoClient

from harness.scenario.judge import checking_config
from harness.scenario.kinds.mongo_growth import growth_planes
from harness.scenario.spec import ScenarioSpec, VariantSpec, load_scenario
from harness.workload.mongo_plane.growth import (
    GrowthCounts,
    StorageSample,
    delete_batch,
    prepare_collection,
    sample_storage,
)
from harness.workload.mongo_plane.growth_figures import bytes_per_event, deletion_lags, storage_summary
from tests.mockrs import WIRE, mock_standalone

NAIVE = datetime(2026, 12, 7, 10, 0, 0)  # as pymongo decodes a BSON date (naive UTC)


def sample(
    t: float, docs: int, age: float | None, data_per: int = 900, index_per: int = 100
) -> StorageSample:
    return StorageSample(t, docs, docs * data_per + 4096, docs * data_per, docs * index_per + 12288, age)


def test_a_collection_that_keeps_everything_grows_at_the_ingest_rate() -> None:
    counts = GrowthCounts(stored=4000, samples=[sample(t, 400 * t, t * 1000.0) for t in range(11)])
    out = storage_summary(counts, 4000, "none")
    assert out["slope_docs_per_s_second_half"] == 400.0
    assert out["bytes_per_event"] == 1000.0  # data + index per document
    assert out["deletion_lag_ms_max"] == 6000.0  # the oldest, 10 s old, 6 s past its 4 s
    assert out["capstone_tb_after_18_months"] == 548.0  # 1,000 B x 1B a day x 548 days
    assert out["capstone_tb_kept_90_days"] == 90.0
    assert out["gb_per_hour_at_run_rate"] == 1.44  # 400 kB/s


def test_a_levelled_collection_has_no_slope_and_no_lag() -> None:
    docs = [0, 400, 800, 1200, 1600, 1600, 1600, 1600, 1600, 1600]
    ages = [0.0, 1000, 2000, 3000, 4000, 4000, 3900, 4000, 3950, 4000]
    counts = GrowthCounts(samples=[sample(t, d, a) for t, (d, a) in enumerate(zip(docs, ages, strict=True))])
    out = storage_summary(counts, 4000, "batched_cleanup")
    assert out["slope_docs_per_s_second_half"] == 0.0
    assert out["deletion_lag_ms_max"] == 0.0
    assert out["documents_peak"] == 1600


def test_samples_that_would_fool_the_figures() -> None:
    # The count never rose (a wiped collection, a server that reports 0): no bytes per event, not
    # a division by zero or a negative size.
    flat = [sample(0, 100, 50.0), sample(1, 100, 60.0), sample(2, 0, None)]
    assert bytes_per_event(flat) is None
    # Before anything could expire a young oldest document says nothing; an empty collection has
    # no oldest document: neither is a lag of 0 that would make a late deletion look on time.
    assert deletion_lags([sample(1, 10, 900.0), sample(2, 0, None), sample(5, 10, 7000.0)], 4000) == [3000.0]
    # One sample is not a trend.
    out = storage_summary(GrowthCounts(samples=[sample(0, 5, 1.0)]), 4000, "none")
    assert "slope_docs_per_s_second_half" not in out and "bytes_per_event" not in out


def test_a_ttl_index_variant_needs_the_servers_ttl_indexes() -> None:
    ttl = VariantSpec(name="ttl", description="d", mongo_retention="ttl_index")
    job = VariantSpec(name="job", description="d", mongo_retention="batched_cleanup")
    assert growth_planes(ttl)["retention"] == "mongodb:ttl_index"
    assert growth_planes(job)["retention"] == "mongodb"
    # 'harness check' re-judges with the same rule the run used (the kind's)
    spec = load_scenario("unbounded-growth-mongo")
    assert checking_config(spec).needs_plane["ttl-index"]["retention"] == "mongodb:ttl_index"


def test_retention_must_be_whole_seconds() -> None:
    raw = load_scenario("unbounded-growth-mongo").model_dump(exclude_unset=True)
    raw["workload"]["retention_ms"] = 4500
    with pytest.raises(ValidationError, match="whole seconds"):
        ScenarioSpec.model_validate(raw)


# -- commands (mockupdb) ---------------------------------------------------------------------------


@pytest.fixture
def server() -> Any:
    with mock_standalone(WIRE["7.0"]) as s:
        yield s


@pytest.fixture
def coll(server: MockupDB) -> Any:
    client: MongoClient[dict[str, Any]] = MongoClient(server.uri, directConnection=True)
    yield client["eventlog"]["growth_events"]
    client.close()


def _cmd(server: MockupDB, name: str) -> Any:
    req = server.receives(timeout=10)
    assert req.command_name == name, req.doc
    assert req.namespace == "eventlog"
    return req


def test_a_cleanup_batch_deletes_a_range_bounded_by_the_batchs_latest(server: MockupDB, coll: Any) -> None:
    cutoff = datetime(2026, 12, 7, 10, 0, 5, tzinfo=UTC)
    future = go(delete_batch, coll, cutoff, 3)
    req = _cmd(server, "find")
    assert req["filter"] == {"created_at": {"$lt": cutoff.replace(tzinfo=None)}}  # decoded naive UTC
    assert req["projection"] == {"created_at": 1} and req["limit"] == 3
    times = [NAIVE.replace(second=s) for s in (1, 3, 2)]
    req.replies(
        {
            "cursor": {
                "id": 0,
                "ns": "eventlog.growth_events",
                "firstBatch": [{"created_at": t} for t in times],
            }
        }
    )
    req = _cmd(server, "delete")
    # the latest of the batch bounds it, never the cutoff (a delete up to the cutoff is one huge batch)
    assert req["deletes"] == [{"q": {"created_at": {"$lte": NAIVE.replace(second=3)}}, "limit": 0}]
    req.ok(n=4)
    assert future() == (4, True)  # a full batch: more may be due


def test_nothing_due_sends_no_delete(server: MockupDB, coll: Any) -> None:
    future = go(delete_batch, coll, datetime(2026, 12, 7, tzinfo=UTC), 1000)
    _cmd(server, "find").replies({"cursor": {"id": 0, "ns": "eventlog.growth_events", "firstBatch": []}})
    assert future() == (0, False)


def test_storage_sample_sums_collstats_over_shards_and_ages_the_oldest(server: MockupDB, coll: Any) -> None:
    now_ms = NAIVE.replace(tzinfo=UTC).timestamp() * 1000 + 7000
    future = go(sample_storage, coll, 3.0, now_ms)
    req = _cmd(server, "aggregate")
    assert req["pipeline"] == [{"$collStats": {"storageStats": {}}}]
    per_shard = [
        {"storageStats": {"count": 10, "size": 9000, "storageSize": 4096, "totalIndexSize": 2000}},
        {"storageStats": {"count": 5, "size": 4500, "storageSize": 4096, "totalIndexSize": 1000}},
    ]
    req.replies({"cursor": {"id": 0, "ns": "eventlog.growth_events", "firstBatch": per_shard}})
    req = _cmd(server, "find")
    assert req["filter"] == {} and req["sort"] == {"created_at": 1} and req["limit"] == 1
    req.replies(
        {
            "cursor": {
                "id": 0,
                "ns": "eventlog.growth_events",
                "firstBatch": [{"_id": "a", "created_at": NAIVE}],
            }
        }
    )
    assert future() == StorageSample(3.0, 15, 13500, 8192, 3000, 7000.0)


@pytest.mark.parametrize(
    ("retention", "index"),
    [
        ("ttl_index", {"key": {"created_at": 1}, "name": "ttl_created_at", "expireAfterSeconds": 4}),
        ("batched_cleanup", {"key": {"created_at": 1}, "name": "created_at"}),
        ("none", {"key": {"created_at": 1}, "name": "created_at"}),
    ],
)
def test_the_collection_is_made_with_the_variants_index(
    server: MockupDB, coll: Any, retention: str, index: dict[str, Any]
) -> None:
    future = go(prepare_collection, coll, retention, 4000)
    _cmd(server, "drop").ok()
    req = _cmd(server, "createIndexes")
    assert req["indexes"] == [{"key": {"tenant_id": 1, "created_at": -1}, "name": "tenant_timeline"}]
    req.ok()
    req = _cmd(server, "createIndexes")
    assert req["indexes"] == [index]
    req.ok()
    future()
