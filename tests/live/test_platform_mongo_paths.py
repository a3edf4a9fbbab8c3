"""A platform variant that chose a MongoDB data path (a MongoDB read-your-writes mode, the session
fallback), assembled by the scenario's own code (``PlatformWorkload``) against real servers.

Without mongod (this machine) the variant's profile reads and sessions are not played at all (never
on Redis instead), the run says why, and the checkers that would judge them are reported not_run.
With mongod (``needs_mongod``) they run through MongoDB and their checkers judge them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.checkers import build_checkers, run_checkers
from harness.clients.redis_router import Address
from harness.clock import RunClock
from harness.history.loader import stream_ops
from harness.history.recorder import HistoryRecorder
from harness.records import Plane
from harness.scenario.context import VariantContext
from harness.scenario.kinds.platform import PlatformWorkload
from harness.scenario.planes import plane_skips, variant_planes
from harness.scenario.spec import ScenarioSpec, VariantSpec, load_scenario
from harness.topology.deployment import Deployment
from harness.topology.local import run_id_now
from harness.topology.spec import load_topology
from tests.conftest import needs_ferretdb, needs_mongod, needs_servers
from tests.live.backend import deploy

pytestmark = [pytest.mark.live, needs_servers]
SEED = 11


def spec_with(variant: VariantSpec, **workload: Any) -> ScenarioSpec:
    base = load_scenario("platform-steady")
    wl = base.workload.model_copy(
        update={
            "rate": 200,
            "duration_s": 1.5,
            "tenants": 20,
            "reads_per_s": 60,
            "sessions_per_s": 30,
            "sessions": 40,
            **workload,
        }
    )
    return base.model_copy(update={"workload": wl, "variants": [variant]})


def causal_fallback() -> VariantSpec:
    return VariantSpec(
        name="causal", description="d", ryw_mode="causal", session_store="fallback", cache="mutex"
    )


def play(
    dep: Deployment, spec: ScenarioSpec, history: Path, seeds: list[Address], cluster: bool
) -> tuple[dict[str, Any], int]:
    clock = RunClock()
    variant = spec.variants[0]
    assert dep.redis_cluster() == cluster
    with HistoryRecorder(history, clock) as rec:
        ctx = VariantContext(
            dep,
            spec,
            variant,
            rec,
            clock,
            SEED,
            spec.workload.duration_s,
            spec.workload.rate_profile(),
            seeds=seeds,
        )
        run = PlatformWorkload(ctx)
        try:
            run.driver.run()
            unread = run.final_reads()
            summary = run.summary(0)
        finally:
            run.close()
    return summary, unread


@pytest.fixture(scope="module")
def redis_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    run_id = run_id_now("test-")
    with deploy(load_topology("redis-replicated"), tmp_path_factory.mktemp("run") / run_id, run_id) as d:
        yield d


def test_without_mongodb_the_mongodb_paths_are_not_played_and_their_checkers_not_run(
    redis_only: Deployment, tmp_path: Path
) -> None:
    dep = redis_only
    assert dep.mongo is None
    master = dep.redis[0]
    master.admin().flushall()
    seeds = [(master.client_proxy.listen_host, master.client_proxy.listen_port)]
    spec = spec_with(causal_fallback())
    history = tmp_path / "history.jsonl"
    summary, unread = play(dep, spec, history, seeds, cluster=False)

    assert unread == 0 and summary["errors"] == []
    assert summary["not_run"] == {
        "profile_reads": "ryw_mode causal reads through MongoDB: the MongoDB plane did not run",
        "sessions": "session_store fallback keeps a copy in MongoDB, which did not run",
    }
    assert "sessions" not in summary and "profiles" not in summary
    by_kind = summary["reads"]["by_kind"]
    assert "profile" not in by_kind and sum(by_kind.values()) == 90  # the rest of the mix ran
    fs = {op.f for op in stream_ops(history)}
    assert "rate_limit" in fs and "counters_read" in fs
    # Nothing was played on Redis in their place.
    assert not fs & {"write", "read", "session_create", "session_touch", "final_sessions"}
    planes = {"redis": Plane(status="ran"), "mongodb": Plane(status="not_run", reason="no mongod")}
    skip = plane_skips(spec.checkers, planes, variant_planes(spec.variants[0]))
    assert {"read-your-writes", "monotonic-reads", "sessions"} <= set(skip)
    assert skip["sessions"] == "mongodb plane not run: no mongod"


@needs_mongod
def test_with_mongodb_profile_reads_and_sessions_run_through_it_and_check_valid(tmp_path: Path) -> None:
    run_id = run_id_now("test-")
    with deploy(load_topology("platform"), tmp_path / run_id, run_id, timeout_s=120) as dep:
        assert dep.mongo is not None
        seeds = [(n.client_proxy.listen_host, n.client_proxy.listen_port) for n in dep.redis]
        spec = spec_with(causal_fallback())
        history = tmp_path / "history.jsonl"
        summary, unread = play(dep, spec, history, seeds, cluster=True)
    assert unread == 0 and summary["errors"] == [] and "not_run" not in summary
    assert summary["sessions"]["store"] == "fallback" and summary["profiles"]["mode"] == "causal"
    ops = list(stream_ops(history))
    profile_ops = [op for op in ops if op.process == "ryw"]
    assert profile_ops and all(op.get("mode") == "causal" and "sched_ns" in op.invoke for op in profile_ops)
    assert any(op.f == "session_touch" for op in ops)
    verdicts = run_checkers(
        build_checkers(["read-your-writes", "monotonic-reads", "sessions"], {"sessions": {"ttl_ms": 60_000}}),
        iter(ops),
    )
    assert {v.name: v.status for v in verdicts} == {v.name: "valid" for v in verdicts}, [
        (v.name, v.summary) for v in verdicts
    ]


@needs_ferretdb
@pytest.mark.parametrize("mode", ["primary", "causal"])
def test_on_ferretdb_the_paths_it_can_serve_run_and_check_valid(mode: str, tmp_path: Path) -> None:
    """FerretDB serves the session fallback and primary profile reads; a causal session would wait
    for a cluster time FerretDB never gives, so that mode is not played and says why."""
    base = load_topology("platform-standalone")
    assert base.mongo is not None
    topology = base.model_copy(update={"mongo": base.mongo.model_copy(update={"server": "ferretdb"})})
    run_id = run_id_now("test-")
    with deploy(topology, tmp_path / run_id, run_id) as dep:
        master = dep.redis[0]
        seeds = [(master.client_proxy.listen_host, master.client_proxy.listen_port)]
        variant = VariantSpec(
            name="v", description="d", ryw_mode=mode, session_store="fallback", cache="mutex"
        )
        # Profile-heavy, few users: each user's session reads its profile several times.
        spec = spec_with(variant, read_mix={"profile": 3, "counters": 1}, users_per_tenant=2, tenants=5)
        history = tmp_path / "history.jsonl"
        summary, unread = play(dep, spec, history, seeds, cluster=False)
        assert dep.mongo is not None and dep.mongo.features is not None
        features = dep.mongo.features
        mongodb = Plane(status="ran", server=features.name, lacks=dict(features.lacks))
        planes = {"redis": Plane(status="ran"), "mongodb": mongodb}
    assert unread == 0 and summary["errors"] == []
    assert summary["sessions"]["store"] == "fallback"  # the fallback store runs on FerretDB
    ops = list(stream_ops(history))
    skip = plane_skips(spec.checkers, planes, variant_planes(variant))
    if mode == "causal":
        assert summary["not_run"]["profile_reads"].startswith(
            "ryw_mode causal reads through MongoDB: ferretdb"
        )
        assert not any(op.process == "ryw" for op in ops)  # not played, and not on Redis either
        assert set(skip) == {"read-your-writes", "monotonic-reads"}
        assert "without replication" in skip["read-your-writes"]
    else:
        assert "profile_reads" not in summary.get("not_run", {}) and skip == {}
        assert any(op.process == "ryw" and op.get("mode") == "primary" for op in ops)
    judged = [c for c in ["read-your-writes", "monotonic-reads", "sessions"] if c not in skip]
    verdicts = run_checkers(build_checkers(judged, {"sessions": {"ttl_ms": 60_000}}), iter(ops))
    assert {v.name: v.status for v in verdicts} == dict.fromkeys(judged, "valid"), [
        (v.name, v.summary) for v in verdicts
    ]
