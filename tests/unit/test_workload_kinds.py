"""The workload kinds: the registry matches what a scenario file may name, each kind's figures are
what the runner judged by before there was a registry, a variant's random streams keep their names
(a seed recorded by an older run replays the same run), and the nemesis's workload capability is
granted by the workload's control, not by the shape of a driver."""

from __future__ import annotations

import ast
import typing
from pathlib import Path
from typing import Any

import pytest

import harness
from harness.clock import RunClock, seeded_random
from harness.errors import HarnessError
from harness.scenario.context import VariantContext
from harness.scenario.kinds import KINDS, WorkloadKind, kind_of, register
from harness.scenario.planes import NEEDS_PLANE, variant_planes
from harness.scenario.spec import VariantSpec, WorkloadSpec, load_scenario

RUN_LAYER = [Path(harness.__file__).parent / "scenario" / f"{m}.py" for m in ("runner", "play", "measure")]


def test_every_kind_a_scenario_may_name_is_registered_and_no_other() -> None:
    named = set(typing.get_args(WorkloadSpec.model_fields["kind"].annotation))
    assert set(KINDS) == named


def test_an_unknown_kind_is_one_clear_error_and_a_kind_registers_once() -> None:
    assert {"events", "growth", "mongo_growth", "sharded_events", "tenant_reads"} <= set(KINDS)
    with pytest.raises(HarnessError, match=rf"no workload kind .bulk. \(known: {', '.join(sorted(KINDS))}\)"):
        kind_of("bulk")
    with pytest.raises(ValueError, match="registered twice"):
        register(KINDS["events"])


@pytest.mark.parametrize(
    ("kind", "counted", "latency"),
    [
        ("events", {"rate_limit"}, {"rate_limit", "incr"}),
        ("increments", {"incr"}, {"rate_limit", "incr"}),
        ("sessions", {"session_create", "session_touch"}, {"session_create", "session_touch"}),
        ("platform", {"rate_limit", "shed"}, {"rate_limit", "incr"}),
    ],
)
def test_each_kind_counts_the_ops_the_runner_counted_before(
    kind: str, counted: set[str], latency: set[str]
) -> None:
    k: WorkloadKind = KINDS[kind]
    assert k.counted_ops == counted and k.latency_ops == latency


def test_plane_needs_per_kind() -> None:
    causal = VariantSpec(name="c", description="d", ryw_mode="causal", session_store="fallback")
    assert KINDS["platform"].checker_planes(causal) == variant_planes(causal)
    assert KINDS["platform"].checker_planes(causal)["sessions"] == "mongodb"
    plain = VariantSpec(name="p", description="d")
    for name in ("events", "increments", "sessions"):
        assert KINDS[name].checker_planes(plain) == NEEDS_PLANE == variant_planes(plain)


class _Dep:
    def __init__(self, cluster: bool) -> None:
        self.cluster = cluster

    def redis_cluster(self) -> bool:
        return self.cluster

    def router_seeds(self) -> list[tuple[str, int]]:
        return [("10.0.0.1", 7000)]


def test_a_variant_stream_is_named_stream_colon_variant() -> None:
    spec = load_scenario("hot-partition")
    variant = spec.variants[1]
    ctx = VariantContext.start(
        _Dep(True),  # type: ignore[arg-type]
        spec,
        variant,
        recorder=None,  # type: ignore[arg-type]
        clock=RunClock(),
        seed=7,
        duration_s=1.0,
        profile=spec.workload.rate_profile(),
    )
    assert ctx.seeds == [("10.0.0.1", 7000)] and ctx.cluster
    for stream in ("tenants", "shards", "schedule", "faults"):
        assert ctx.random(stream).random() == seeded_random(7, f"{stream}:{variant.name}").random()
    assert ctx.random("tenants").random() != ctx.random("shards").random()


def _calls(tree: ast.AST) -> list[str]:
    return [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.Compare | ast.Call)]


def test_the_runner_branches_on_no_kind_and_probes_no_driver() -> None:
    found = [c for path in RUN_LAYER for c in _calls(ast.parse(path.read_text()))]
    assert not [c for c in found if "kind ==" in c or "kind !=" in c], "a kind branch in the runner"
    assert not [c for c in found if c.startswith(("hasattr(", "isinstance(driver", "getattr(driver"))]


def test_the_workload_capability_follows_the_control(monkeypatch: pytest.MonkeyPatch) -> None:
    """The nemesis gets ``workload`` exactly when the workload hands it a control."""
    from harness.faults.base import Capability
    from harness.scenario import play

    seen: dict[str, Any] = {}

    class FakeNemesis:
        def __init__(self, planned: Any, rec: Any, clock: Any, **kw: Any) -> None:
            seen.update(kw)

        def start(self, origin_ns: int) -> None:
            pass

    monkeypatch.setattr(play, "Nemesis", FakeNemesis)
    spec = load_scenario("redis-failover")
    dep = _Dep(True)
    dep.capabilities = lambda: frozenset({"kill"})  # type: ignore[attr-defined]
    ctx = VariantContext(dep, spec, spec.variants[0], None, RunClock(), 1, 5.0, spec.workload.rate_profile())  # type: ignore[arg-type]
    opts = play.RunOptions(log=lambda _m: None)
    play._nemesis(ctx, opts, 0, None)
    assert seen["capabilities"] == {Capability.KILL}
    play._nemesis(ctx, opts, 0, object())  # type: ignore[arg-type]
    assert seen["capabilities"] == {Capability.KILL, Capability.WORKLOAD}
