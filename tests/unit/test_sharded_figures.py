"""The sharded case studies' figures, from inputs shaped as the servers give them: inserts per shard
from the primaries' opcounters, the busiest share and the imbalance ratio; mongos's targeting from
explain replies (6.0 classic, 7.0 slot-based, 8.0); the reads' slow share. Each figure also gets
the input that would fool it, and must not be fooled."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from harness.clients.mongo_explain import ExplainError, Targeting, targeting
from harness.workload.model.tenants import TenantMix, TenantPicker
from harness.workload.mongo_plane.shard_load import CounterSample, load_figures, shard_inserts
from harness.workload.mongo_plane.shard_reads import ReadStats, explain_figures

SHARDS = ["shard1", "shard2"]


def samples(*rows: tuple[float, str, str, int]) -> list[CounterSample]:
    return [CounterSample(t, shard, node, n) for t, shard, node, n in rows]


# -- inserts per shard from the counters ----------------------------------------------------------


def test_inserts_per_shard_are_counter_deltas_with_a_rate_per_second() -> None:
    got = shard_inserts(
        samples(
            (0.0, "shard1", "s1m1", 1000), (0.0, "shard2", "s2m1", 50),  # baselines: before the run
            (1.0, "shard1", "s1m1", 1700), (1.0, "shard2", "s2m1", 350),
            (2.0, "shard1", "s1m1", 2400), (2.0, "shard2", "s2m1", 650),
        )
    )  # fmt: skip
    assert got.total == {"shard1": 1400, "shard2": 600}
    assert got.per_second == {"shard1": [700.0, 700.0], "shard2": [300.0, 300.0]}
    assert got.primary_changes == 0


def test_a_restarted_counter_counts_from_zero_and_a_new_primary_from_its_first_sample() -> None:
    got = shard_inserts(
        samples(
            (0.0, "shard1", "s1m1", 5000),
            (1.0, "shard1", "s1m1", 5400),  # +400
            (2.0, "shard1", "s1m1", 120),  # restarted: 120 since
            (3.0, "shard1", "s1m2", 90_000),  # a failover: s1m2's counter is its own
            (4.0, "shard1", "s1m2", 90_300),  # +300
        )
    )
    assert got.total == {"shard1": 400 + 120 + 300}
    assert got.primary_changes == 1


def test_the_hot_shard_and_the_balanced_ones() -> None:
    hot = load_figures({"shard1": 3300, "shard2": 6700}, SHARDS, sent=10_000)
    assert (hot["busiest_shard"], hot["busiest_share"], hot["imbalance_ratio"]) == ("shard2", 0.67, 1.34)
    assert hot["share_per_shard"] == {"shard1": 0.33, "shard2": 0.67}
    even = load_figures({"shard1": 5020, "shard2": 4980}, SHARDS, sent=10_000)
    assert even["imbalance_ratio"] == pytest.approx(1.004)
    alone = load_figures({"shard1": 10_000, "shard2": 0}, SHARDS, sent=10_000)
    assert (alone["busiest_share"], alone["imbalance_ratio"]) == (1.0, 2.0)  # zero is a count, not a gap


@pytest.mark.parametrize(
    ("inserts", "sent", "why"),
    [
        # A shard never sampled: the other one's share would read 100%, a hot shard that is not.
        ({"shard1": 5000}, 10_000, "no counters from shard2"),
        # Counters read from secondaries (they count replicated writes elsewhere): nearly nothing.
        ({"shard1": 12, "shard2": 9}, 10_000, "counted 21 inserts for 10000 documents sent"),
        # Another writer's inserts on one shard (or a chunk migration's) on top of ours.
        ({"shard1": 30_000, "shard2": 5000}, 10_000, "outside 0.9-1.1"),
        ({"shard1": 0, "shard2": 0}, 0, "nothing was inserted"),
    ],
)
def test_shares_are_withheld_when_the_counters_do_not_stand_for_the_writes(
    inserts: dict[str, int], sent: int, why: str
) -> None:
    got = load_figures(inserts, SHARDS, sent)
    assert got["busiest_share"] is None and got["imbalance_ratio"] is None and got["busiest_shard"] is None
    assert why in got["unjudged"]


# -- what the scenario's layout gives, by design --------------------------------------------------


def test_the_hot_partition_scenario_layout_puts_the_whale_on_one_shard_and_the_fix_spreads_it() -> None:
    """The shard each event lands on, by the zones the kind makes for hot-partition-mongo's tenants
    (2,000, Zipf 0.3, a whale at 40%, 4 ranges per shard): the targets' thresholds hold with room."""
    from harness.workload.mongo_plane.sharded_events import events_zones, shard_suffix
    from tests.sharded import zone_of

    mix = TenantMix(2000, 0.3, "whale", 0.4)
    picker = TenantPicker(mix, random.Random(7))
    tenants = picker.draw(40_000)
    ids = [f"evt_{random.Random(i).getrandbits(64):016x}" for i in range(len(tenants))]
    shares: dict[str, float] = {}
    for name, key, hot in [
        ("before", {"tenant_id": 1}, {}),
        ("compound", {"tenant_id": 1, "event_time": 1}, {}),
        ("after", {"tenant_id": 1, "shard_suffix": 1, "event_time": 1}, {"whale": 10}),
    ]:
        zones = events_zones(key, SHARDS, 2000, 4, hot)
        per = Counter(
            zone_of(zones, t, shard_suffix(e, hot[t]) if t in hot else 0)
            for t, e in zip(tenants, ids, strict=True)
        )
        shares[name] = max(per.values()) / len(tenants)
    assert shares["before"] >= 0.65 and shares["compound"] >= 0.65  # targets: >= 0.62
    assert shares["after"] * 2 <= 1.1  # target: imbalance <= 1.15
    assert shares["after"] <= shares["before"] * 0.85


# -- mongos's targeting, from its explain ---------------------------------------------------------


def shard_entry(name: str, version: str) -> dict[str, Any]:
    """One shard's part of mongos's plan as each version writes it."""
    entry: dict[str, Any] = {
        "shardName": name,
        "connectionString": f"{name}/10.213.9.1:3100{name[-1]}",
        "serverInfo": {"host": f"s{name[-1]}m1", "port": 27017, "version": version},
        "namespace": "eventlog.events",
        "indexFilterSet": False,
        "parsedQuery": {"tenant_id": {"$eq": "t00001"}},
        "rejectedPlans": [],
    }
    plan = {
        "stage": "LIMIT",
        "limitAmount": 100,
        "inputStage": {
            "stage": "FETCH",
            "inputStage": {
                "stage": "SHARDING_FILTER",
                "inputStage": {"stage": "IXSCAN", "indexName": "tenant_id_1_event_time_-1"},
            },
        },
    }
    if version.startswith("6."):  # classic engine: the plan itself, explainVersion 1
        entry |= {"explainVersion": "1", "winningPlan": plan}
    else:  # slot-based engine (7.0's default, 8.0): queryPlan + slotBasedPlan, explainVersion 2
        entry |= {
            "explainVersion": "2",
            "winningPlan": {"queryPlan": plan, "slotBasedPlan": {"stages": "..."}},
        }
    return entry


def explain_reply(stage: str, shards: list[str], version: str) -> dict[str, Any]:
    planner: dict[str, Any] = {
        "winningPlan": {"stage": stage, "shards": [shard_entry(s, version) for s in shards]}
    }
    if not version.startswith("8."):
        planner["mongosPlannerVersion"] = 1
    return {"queryPlanner": planner, "serverInfo": {"host": "mongos1"}, "ok": 1.0}


@pytest.mark.parametrize("version", ["6.0.19", "7.0.14", "8.0.4"])
def test_targeting_of_a_scatter_gather_and_of_a_targeted_query(version: str) -> None:
    scatter = targeting(explain_reply("SHARD_MERGE_SORT", SHARDS, version))
    assert scatter == Targeting("SHARD_MERGE_SORT", ("shard1", "shard2")) and not scatter.targeted
    merge = targeting(explain_reply("SHARD_MERGE", SHARDS, version))
    assert merge.shards == ("shard1", "shard2")
    single = targeting(explain_reply("SINGLE_SHARD", ["shard2"], version))
    assert single == Targeting("SINGLE_SHARD", ("shard2",)) and single.targeted


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        # An unsharded server's own plan: a stage, no shards. Not "one shard".
        ({"queryPlanner": {"winningPlan": {"stage": "LIMIT"}}}, "has no shards"),
        ({"queryPlanner": {"winningPlan": {"queryPlan": {"stage": "EOF"}}}}, "has no shards"),
        ({"ok": 1}, "no queryPlanner.winningPlan"),
        # A stage that contradicts its shards: believe neither.
        (explain_reply("SINGLE_SHARD", SHARDS, "7.0.14"), "SINGLE_SHARD with 2 shards"),
        (explain_reply("SHARD_MERGE_SORT", ["shard1"], "7.0.14"), "merging one shard's results"),
        # One shard listed twice would count as two.
        (explain_reply("SHARD_MERGE", ["shard1", "shard1"], "7.0.14"), "listed twice"),
        (
            {"queryPlanner": {"winningPlan": {"stage": "SHARD_MERGE", "shards": [{}, {}]}}},
            "without a shardName",
        ),
        (explain_reply("SHARD_WRITE", SHARDS, "7.0.14"), "not mongos's plan for a read"),
    ],
)
def test_a_reply_that_does_not_say_which_shards_is_refused(reply: dict[str, Any], problem: str) -> None:
    with pytest.raises(ExplainError, match=problem):
        targeting(reply)


def test_explain_figures_over_a_sample() -> None:
    scatter = [(f"t{i}", Targeting("SHARD_MERGE_SORT", ("shard1", "shard2"))) for i in range(4)]
    got = explain_figures(scatter, 2)
    assert (got["shards_per_query_mean"], got["shards_per_query_max"]) == (2.0, 2)
    assert (got["targeted_share"], got["scatter_share"]) == (0.0, 1.0)
    assert got["stages"] == {"SHARD_MERGE_SORT": 4} and got["whale_shards"] is None

    mixed = [(f"t{i}", Targeting("SINGLE_SHARD", (SHARDS[i % 2],))) for i in range(3)]
    mixed.append(("whale", Targeting("SHARD_MERGE_SORT", ("shard1", "shard2"))))
    got = explain_figures(mixed, 2, whale="whale")
    assert (got["targeted_share"], got["scatter_share"], got["whale_shards"]) == (0.75, 0.25, 2)
    assert got["shards_per_query_mean"] == 1.25


def test_one_unreadable_explain_withholds_the_figures() -> None:
    """Counting only the plans that could be read could report all-targeted for a sample whose
    scatter-gathers failed to explain."""
    results: list[tuple[str, Targeting | str]] = [
        ("t1", Targeting("SINGLE_SHARD", ("shard1",))),
        ("t2", "ExplainError: stage SINGLE_SHARD with 2 shards"),
    ]
    got = explain_figures(results, 2)
    assert got["targeted_share"] is None and got["shards_per_query_mean"] is None
    assert got["unjudged"] == "ExplainError: stage SINGLE_SHARD with 2 shards"
    assert explain_figures([], 2)["unjudged"] == "no query was explained"


# -- the reads ------------------------------------------------------------------------------------


def test_a_read_that_fails_fast_or_never_runs_is_no_fast_read() -> None:
    st = ReadStats(reads=10, not_ok=6, slow=1, dropped=2, latency_ms=[1.0, 2.0, 80.0, 3.0])
    got = st.summary(50)
    assert got["slow_share"] == pytest.approx((1 + 6 + 2) / 12)
    assert got["read_latency_ms"]["max"] == 80.0  # over the reads that returned only
    failing = ReadStats(reads=100, not_ok=100).summary(50)
    assert failing["slow_share"] == 1.0 and failing["read_latency_ms"]["p50"] is None
    assert ReadStats().summary(50)["slow_share"] is None
