"""Fault library without servers: construction checks, selectors on fake deployments, the
registry, capabilities, and apply/heal bookkeeping against fakes of Toxiproxy and the network."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from mockupdb import MockupDB

from harness.errors import HarnessError
from harness.faults import fault_kinds, make_fault
from harness.faults.base import (
    FAULTS,
    Capability,
    FaultContext,
    FaultError,
    FaultParamError,
    SelectorError,
    missing_capabilities,
)
from harness.faults.network import Isolate, IsolatePrimaries, Split
from harness.faults.redis_admin import ClusterFailover, ConfigSet
from harness.faults.selectors import parse_selector
from harness.faults.toxics import OPEN_CONNECTIONS, Latency, ProxyDown
from harness.faults.workload import HotTenant
from harness.topology.mongo import MongoNode, MongoPlane, ReplSet
from harness.topology.mongo_spec import MemberSpec
from harness.topology.network import Host
from harness.topology.toxiproxy import ProxyInfo

ALL_KINDS = {
    "isolate",
    "partition",
    "split",
    "isolate-primaries",
    "latency",
    "bandwidth",
    "blackhole",
    "reset-peer",
    "slicer",
    "limit-data",
    "proxy-down",
    "kill",
    "pause",
    "restart",
    "cluster-failover",
    "config-set",
    "hot-tenant",
    "stepdown",
    "freeze",
    "secondary-delay",
    "stop-repl-producer",
}

# -- fakes ---------------------------------------------------------------------------------------


class FakeAdmin:
    """Answers INFO replication, CLUSTER NODES, CONFIG GET/SET like a Redis node's admin client."""

    def __init__(self, node: FakeNode) -> None:
        self.node = node
        self.config: dict[str, str] = {"appendonly": "no", "save": ""}
        self.commands: list[tuple[Any, ...]] = []

    def info(self, section: str) -> dict[str, Any]:
        if self.node.master is None:
            return {"role": "master"}
        m = self.node.dep_nodes[self.node.master]
        return {
            "role": "slave",
            "master_host": m.client_proxy.listen_host,
            "master_port": m.client_proxy.listen_port,
        }

    def execute_command(self, *args: Any) -> Any:
        self.commands.append(args)
        if args[:2] == ("CLUSTER", "NODES"):
            return self.node.cluster_view
        if args[:2] == ("CONFIG", "SET"):
            pairs = args[2:]
            self.config.update(dict(zip(pairs[::2], pairs[1::2], strict=True)))
            return "OK"
        return "OK"

    def config_get(self, key: str) -> dict[str, str]:
        return {key: self.config.get(key, "")}


@dataclass
class FakeNode:
    name: str
    index: int
    master: str | None = None  # None: a master
    dep_nodes: dict[str, FakeNode] = field(default_factory=dict)
    cluster_view: str = ""
    process: Any = None
    up: bool = True

    def __post_init__(self) -> None:
        self.client_proxy = ProxyInfo(f"{self.name}-client", "10.0.0.1", 20000 + self.index, "x")
        self.bus_proxy = ProxyInfo(f"{self.name}-bus", "10.0.0.1", 30000 + self.index, "x")
        self.host = Host(self.name, f"10.0.0.{10 + self.index}", None)
        self.port = 6379
        self._admin = FakeAdmin(self)

    def running(self) -> bool:
        return self.up

    def admin(self) -> FakeAdmin:
        return self._admin


class FakeToxiproxy:
    def __init__(self) -> None:
        self.toxics: dict[str, dict[str, dict[str, Any]]] = {}
        self.disabled: set[str] = set()

    def add_toxic(self, proxy: str, toxic_type: str, attributes: dict[str, Any], **kw: Any) -> str:
        self.toxics.setdefault(proxy, {})[kw["name"]] = {"type": toxic_type, "attributes": attributes, **kw}
        return str(kw["name"])

    def remove_toxic(self, proxy: str, name: str) -> bool:
        return self.toxics.get(proxy, {}).pop(name, None) is not None

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        (self.disabled.discard if enabled else self.disabled.add)(proxy)


class FakeDep:
    """Six Redis nodes r1..r6 (r4..r6 replicas of r1..r3) and a recording partition primitive."""

    def __init__(self, mongo: MongoPlane | None = None) -> None:
        self.nodes: dict[str, FakeNode] = {}
        for i, (name, master) in enumerate(
            [("r1", None), ("r2", None), ("r3", None), ("r4", "r1"), ("r5", "r2"), ("r6", "r3")]
        ):
            self.nodes[name] = FakeNode(name, i, master, self.nodes)
        self.redis = list(self.nodes.values())
        self.mongo = mongo
        self.toxiproxy = FakeToxiproxy()
        self.blocked: list[tuple[list[str], list[str]]] = []
        self.set_cluster_views(
            {"r1": (0, 5460), "r2": (5461, 10922), "r3": (10923, 16383)},
        )

    def set_cluster_views(
        self, owners: dict[str, tuple[int, int]], observers: list[str] | None = None
    ) -> None:
        lines = []
        for n in self.redis:
            slots = f"{owners[n.name][0]}-{owners[n.name][1]}" if n.name in owners else ""
            flags = "master" if n.name in owners else "slave"
            addr = f"{n.client_proxy.listen_host}:{n.client_proxy.listen_port}@{n.bus_proxy.listen_port}"
            lines.append(f"id{n.index} {addr} {flags} - 0 0 1 connected {slots}".strip())
        for n in self.redis:
            if observers is None or n.name in observers:
                n.cluster_view = "\n".join(lines) + "\n"

    def node(self, name: str) -> FakeNode:
        return self.nodes[name]

    def node_names(self) -> list[str]:
        return [n.name for n in self.redis] + [m.name for m in (self.mongo.nodes if self.mongo else [])]

    def mongo_node(self, name: str) -> Any:
        raise HarnessError(f"no MongoDB node named '{name}'")

    def split(self, a: list[str], b: list[str]) -> int:
        self.blocked.append((a, b))
        return len(a) + len(b)

    def unsplit(self, a: list[str], b: list[str]) -> int:
        self.blocked.remove((a, b))
        return len(a) + len(b)

    def rules(self) -> dict[str, list[str]]:
        return {n: [f"DROP {b}" for a, b in self.blocked if n in a] for n in self.node_names()}


def ctx_for(dep: Any, seed: int = 7, workload: Any = None) -> FaultContext:
    return FaultContext(dep=dep, rng=random.Random(seed), workload=workload)


# -- registry and construction ------------------------------------------------------------------


def test_registry_is_complete_and_every_kind_has_a_line() -> None:
    assert set(FAULTS) == ALL_KINDS
    kinds = fault_kinds()
    assert set(kinds) == ALL_KINDS
    assert all(line and not line.startswith(" ") for line in kinds.values())
    assert set(OPEN_CONNECTIONS) <= ALL_KINDS


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("nope", {}, "unknown fault 'nope'"),
        ("latency", {"target": "r1"}, "missing \\['ms'\\]"),
        ("latency", {"target": "r1", "ms": 5, "delay": 3}, "unknown \\['delay'\\]"),
        ("latency", {"target": "r1", "ms": -1}, "'ms' must be >= 0"),
        ("latency", {"target": "r1", "ms": "100"}, "'ms' must be a number"),
        ("latency", {"target": "r1", "ms": True}, "'ms' must be a number"),
        ("latency", {"target": "r1", "ms": 5, "direction": "sideways"}, "'direction' must be one of"),
        ("latency", {"target": "r1", "ms": 5, "link": "gossip"}, "'link' must be one of"),
        ("latency", {"target": "r1", "ms": 5, "toxicity": 0}, "'toxicity' must be > 0"),
        ("bandwidth", {"target": "r1", "kb_s": -5}, "'kb_s' must be >= 0"),
        ("slicer", {"target": "r1", "average_size": 4, "size_variation": 4}, "below 'average_size'"),
        ("limit-data", {"target": "r1", "bytes": 0}, "'bytes' must be >= 1"),
        ("limit-data", {"target": "r1", "bytes": 1.5}, "'bytes' must be an integer"),
        ("split", {"minority": ["r1"], "minority_size": 1}, "only one of"),
        ("split", {"minority_share": 0.6}, "not a minority"),
        ("split", {"minority": []}, "non-empty list"),
        ("isolate-primaries", {"target": "r1"}, "takes no target"),
        ("kill", {"target": "r1", "restart_after_s": -1}, "'restart_after_s' must be >= 0"),
        ("cluster-failover", {"mode": "gentle"}, "'mode' must be one of default, force, takeover"),
        ("config-set", {"settings": {}}, "non-empty mapping"),
        ("config-set", {"settings": {"dir": "/tmp"}}, "chosen by the harness"),
        ("config-set", {"settings": {"save": ["900", "1"]}}, "must be a scalar"),
        ("hot-tenant", {"tenant": "t1", "share": 1}, "below 1"),
        ("hot-tenant", {"tenant": "", "share": 0.3}, "non-empty string"),
        ("isolate", {"target": "master-of-slot:16384"}, "slot must be an integer 0..16383"),
        ("isolate", {"target": "leader-of:x"}, "unknown selector 'leader-of:'"),
        ("isolate", {"target": "R1!"}, "unknown target"),
        ("pause", {"target": ""}, "target must be a selector"),
    ],
)
def test_bad_params_raise_one_clear_error(kind: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(FaultParamError, match=message) as err:
        make_fault(kind, params)
    assert isinstance(err.value, ValueError) and isinstance(err.value, HarnessError)


def test_good_params_build_every_kind() -> None:
    built = [
        make_fault("isolate", target="master-of-slot:0"),
        make_fault("partition", target="r2"),
        make_fault("split", {"minority_size": 2}),
        make_fault("split", target="r1"),
        make_fault("isolate-primaries"),
        make_fault(
            "latency", {"ms": 100, "jitter_ms": 10, "direction": "both", "link": "bus"}, "random-master"
        ),
        make_fault("bandwidth", {"kb_s": 64}, "r1"),
        make_fault("blackhole", {}, "r1"),
        make_fault("reset-peer", {"timeout_ms": 100}, "r1"),
        make_fault("slicer", {"average_size": 16, "size_variation": 4, "delay_us": 500}, "r1"),
        make_fault("limit-data", {"bytes": 1000}, "r1"),
        make_fault("proxy-down", {"link": "both"}, "r1"),
        make_fault("kill", {"restart_after_s": 2}, "random-master"),
        make_fault("pause", {}, "replicas-of:master-of-slot:0"),
        make_fault("restart", {}, "r1"),
        make_fault("cluster-failover", {"mode": "takeover"}),
        make_fault("config-set", {"settings": {"appendonly": True, "appendfsync": "always"}}),
        make_fault("hot-tenant", {"tenant": "t7", "share": 0.4}),
        make_fault("stepdown", {"seconds": 30, "secondary_catch_up_s": 5}, "primary:rs0"),
        make_fault("freeze", {"seconds": 20}, "random-secondary:rs0"),
        make_fault("secondary-delay", {"delay_s": 30}, "m2"),
        make_fault("stop-repl-producer", {"wait_ms": 5000}, "secondaries:rs0"),
    ]
    assert {f.kind for f in built} == ALL_KINDS


def test_selector_syntax() -> None:
    sel = parse_selector("replicas-of:master-of-slot:42")
    assert sel.kind == "replicas-of" and sel.inner is not None and sel.inner.slot == 42
    assert parse_selector("primary:shard1").arg == "shard1"
    assert parse_selector(" r1 ").kind == "node"
    for bad in ("master-of-slot:-1", "master-of-slot:x", "replicas-of:", "random-secondary:", "x:y"):
        with pytest.raises(FaultParamError):
            parse_selector(bad)


# -- capabilities ----------------------------------------------------------------------------------


def test_capability_mismatch_names_what_is_missing() -> None:
    iso = Isolate("r1")
    loopback = frozenset({"toxics", "kill", "pause", "restart", "redis-admin"})
    assert missing_capabilities(iso, loopback) == ["partition"]
    assert missing_capabilities(iso, loopback | {"partition"}) == []
    # Capability members and their string values are interchangeable.
    assert missing_capabilities(iso, frozenset({Capability.PARTITION})) == []
    surge = HotTenant("t1", 0.5)
    assert missing_capabilities(surge, loopback) == ["workload"]


# -- selectors on a fake deployment --------------------------------------------------------------


def test_role_selectors_follow_what_nodes_report() -> None:
    dep = FakeDep()
    ctx = ctx_for(dep)
    assert parse_selector("all-masters").resolve(ctx) == ["r1", "r2", "r3"]
    assert parse_selector("all-replicas").resolve(ctx) == ["r4", "r5", "r6"]
    assert parse_selector("master-of-slot:0").resolve(ctx) == ["r1"]
    assert parse_selector("master-of-slot:16383").resolve(ctx) == ["r3"]
    assert parse_selector("replicas-of:master-of-slot:6000").resolve(ctx) == ["r5"]
    # After a failover r4 reports master and r1 replica of r4: selectors follow.
    dep.nodes["r4"].master, dep.nodes["r1"].master = None, "r4"
    dep.set_cluster_views({"r4": (0, 5460), "r2": (5461, 10922), "r3": (10923, 16383)})
    assert parse_selector("master-of-slot:0").resolve(ctx) == ["r4"]
    assert parse_selector("replicas-of:master-of-slot:0").resolve(ctx) == ["r1"]
    assert parse_selector("all-masters").resolve(ctx) == ["r2", "r3", "r4"]


def test_master_of_slot_takes_the_majority_view() -> None:
    dep = FakeDep()
    # r1 (isolated) still believes it serves slot 0; the five others say r4 does.
    dep.set_cluster_views(
        {"r4": (0, 5460), "r2": (5461, 10922), "r3": (10923, 16383)}, ["r2", "r3", "r4", "r5", "r6"]
    )
    assert parse_selector("master-of-slot:0").resolve(ctx_for(dep)) == ["r4"]


def test_random_selectors_are_seeded_and_skip_down_nodes() -> None:
    dep = FakeDep()
    picks = [parse_selector("random-master").resolve(ctx_for(dep, seed))[0] for seed in range(20)]
    again = [parse_selector("random-master").resolve(ctx_for(dep, seed))[0] for seed in range(20)]
    assert picks == again and set(picks) == {"r1", "r2", "r3"}
    dep.nodes["r5"].up = False
    assert {parse_selector("random-replica").resolve(ctx_for(dep, s))[0] for s in range(30)} == {"r4", "r6"}


def test_unknown_node_and_empty_answers_are_selector_errors() -> None:
    dep = FakeDep()
    with pytest.raises(SelectorError, match="no node named 'r9'; nodes: r1, r2"):
        parse_selector("r9").resolve(ctx_for(dep))
    for n in dep.redis[3:]:
        n.up = False
    with pytest.raises(SelectorError, match="no candidate"):
        parse_selector("random-replica").resolve(ctx_for(dep))
    with pytest.raises(SelectorError, match="names no node"):
        parse_selector("replicas-of:r1").resolve(ctx_for(dep))
    with pytest.raises(SelectorError, match="no replica set named 'rs0'"):
        parse_selector("primary:rs0").resolve(ctx_for(dep))


# -- MongoDB selectors against mockupdb ----------------------------------------------------------


@pytest.fixture
def mongo_servers() -> Iterator[list[MockupDB]]:
    servers = []
    for i in range(3):
        primary = i == 1
        hello = {
            "ismaster": primary,
            "isWritablePrimary": primary,
            "secondary": not primary,
            "setName": "rs0",
            "helloOk": True,
            "minWireVersion": 0,
            "maxWireVersion": 21,
        }
        s = MockupDB(auto_ismaster=hello)
        s.autoresponds("hello", **hello)
        s.run()
        servers.append(s)
    yield servers
    for s in servers:
        s.stop()


class _Up:
    pid = -1

    def running(self) -> bool:
        return True


def test_mongo_selectors_ask_the_members(mongo_servers: list[MockupDB]) -> None:
    nodes = []
    for i, s in enumerate(mongo_servers):
        n = MongoNode(
            name=f"m{i + 1}",
            kind="replset",
            host=Host(f"m{i + 1}", "127.0.0.1", None),
            port=s.port,
            proxy=ProxyInfo(f"m{i + 1}-client", "10.0.0.1", 27000 + i, "x"),
            data_dir=None,  # type: ignore[arg-type]
            log=None,  # type: ignore[arg-type]
            replset="rs0",
            member=MemberSpec(name=f"m{i + 1}"),
        )
        n.process = _Up()  # type: ignore[assignment]
        nodes.append(n)
    plane = MongoPlane(spec=None, replsets=[ReplSet("rs0", "replset", nodes)])  # type: ignore[arg-type]
    dep = FakeDep(mongo=plane)
    try:
        assert parse_selector("primary:rs0").resolve(ctx_for(dep)) == ["m2"]
        picks = {parse_selector("random-secondary:rs0").resolve(ctx_for(dep, s))[0] for s in range(20)}
        assert picks == {"m1", "m3"}
        assert "m3" in parse_selector("all").resolve(ctx_for(dep))
    finally:
        plane.close()


# -- apply/heal bookkeeping on fakes ----------------------------------------------------------------


def test_partitions_heal_exactly_what_they_made() -> None:
    dep = FakeDep()
    ctx = ctx_for(dep)
    iso = Isolate("master-of-slot:0")
    out = iso.apply(ctx)
    assert out["sides"] == [{"a": ["r1"], "b": ["r2", "r3", "r4", "r5", "r6"]}]
    other = FaultContext(dep=dep, rng=random.Random(1))  # type: ignore[arg-type]
    Split(minority=["r2", "r5"]).apply(other)
    assert len(dep.blocked) == 2
    iso.heal(ctx)
    assert dep.blocked == [(["r2", "r5"], ["r1", "r3", "r4", "r6"])]  # the other split stays
    assert iso.heal(ctx) == {"healed": [], "rules_left": {}}  # a second heal is harmless


def test_split_sizes_are_seeded_and_minorities_checked() -> None:
    sides = [Split(minority_size=2)._sides(ctx_for(FakeDep(), 3)) for _ in range(2)]
    assert sides[0] == sides[1] and len(sides[0][0][0]) == 2
    assert len(Split()._sides(ctx_for(FakeDep()))[0][0]) == 2  # default: the largest minority
    with pytest.raises(FaultError, match="not a minority"):
        Split(minority=["r1", "r2", "r3"]).apply(ctx_for(FakeDep()))
    assert Split(minority=["r1", "r2", "r3"], allow_majority_down=True)._sides(ctx_for(FakeDep()))


def test_isolate_primaries_pairs_each_master_with_its_replicas() -> None:
    dep = FakeDep()
    out = IsolatePrimaries().apply(ctx_for(dep))
    assert [(s["a"], s["b"]) for s in out["sides"]] == [(["r1"], ["r4"]), (["r2"], ["r5"]), (["r3"], ["r6"])]


def test_toxics_heal_removes_exactly_its_own() -> None:
    dep = FakeDep()
    ctx = ctx_for(dep)
    fault = Latency("r1", ms=100, jitter_ms=5, direction="both", link="both")
    out = fault.apply(ctx)
    assert out["attributes"] == {"latency": 100, "jitter": 5}
    assert "affected" in out["open_connections"]
    assert {t["proxy"] for t in out["toxics"]} == {"r1-client", "r1-bus"}
    assert len(out["toxics"]) == 4  # two proxies x two directions
    keep = dep.toxiproxy.add_toxic("r1-client", "latency", {}, name="someone-elses")
    healed = fault.heal(ctx)
    assert len(healed["removed"]) == 4 and not healed["already_gone"]
    assert list(dep.toxiproxy.toxics["r1-client"]) == [keep]


def test_proxy_down_and_heal() -> None:
    dep = FakeDep()
    ctx = ctx_for(dep)
    fault = ProxyDown("r2", link="both")
    fault.apply(ctx)
    assert dep.toxiproxy.disabled == {"r2-client", "r2-bus"}
    fault.heal(ctx)
    assert dep.toxiproxy.disabled == set()


def test_config_set_restores_what_it_read() -> None:
    dep = FakeDep()
    ctx = ctx_for(dep)
    fault = ConfigSet({"appendonly": True, "save": "60 1"}, target="all-masters")
    out = fault.apply(ctx)
    assert out["before"]["r1"] == {"appendonly": "no", "save": ""}
    assert dep.nodes["r1"].admin().config == {"appendonly": "yes", "save": "60 1"}
    assert dep.nodes["r4"].admin().config["appendonly"] == "no"  # not a master: untouched
    fault.heal(ctx)
    assert dep.nodes["r1"].admin().config == {"appendonly": "no", "save": ""}


def test_cluster_failover_refuses_a_master_and_sends_the_mode() -> None:
    dep = FakeDep()
    with pytest.raises(FaultError, match="r1 is master now, not a replica"):
        ClusterFailover(target="r1").apply(ctx_for(dep))
    ClusterFailover(mode="force", wait_s=0).apply(ctx_for(dep))
    assert ("CLUSTER", "FAILOVER", "FORCE") in dep.nodes["r4"].admin().commands


class FakeWorkload:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def surge(self, tenant: str, share: float) -> dict[str, Any]:
        self.calls.append(("surge", tenant, str(share)))
        return {"previous_share": 0.01}

    def end_surge(self, tenant: str) -> None:
        self.calls.append(("end", tenant))


def test_hot_tenant_steers_the_workload() -> None:
    wl = FakeWorkload()
    ctx = ctx_for(FakeDep(), workload=wl)
    fault = HotTenant("t42", 0.6)
    assert fault.apply(ctx) == {"tenant": "t42", "share": 0.6, "workload": {"previous_share": 0.01}}
    assert fault.heal(ctx)["ended"] is True
    assert wl.calls == [("surge", "t42", "0.6"), ("end", "t42")]
    assert fault.heal(ctx)["ended"] is False  # healing twice does not end it twice
    with pytest.raises(FaultError, match="cannot be steered"):
        HotTenant("t1", 0.5).apply(ctx_for(FakeDep(), workload=object()))
