"""Target selectors: which nodes a fault acts on, resolved against the live deployment when the
fault is applied (roles move during a run: the master of slot 0 after a failover is another node).

Syntax (``parse_selector``):

- ``r1``, ``s1m2``: one node by name (either plane);
- ``all``: every node of both planes;
- ``master-of-slot:N``: the Redis node serving slot N now;
- ``all-masters``, ``all-replicas``, ``random-master``, ``random-replica``: Redis nodes by the
  role they report now;
- ``replicas-of:<selector>``: the Redis replicas whose master is one of the nodes the inner
  selector names (e.g. ``replicas-of:master-of-slot:0``);
- ``primary:<replset>``, ``random-secondary:<replset>``, ``secondaries:<replset>``: MongoDB members
  by the state they report (a topology whose MongoDB plane has no such replica set, e.g. FerretDB
  standing in for it, makes the fault not run: :func:`unavailable`).

Roles are asked of the nodes themselves over the admin path (direct, bypassing proxies), never
taken from the topology file. Random choices use ``ctx.rng`` only, over candidates in name order,
so a seed replays them. A node that is paused (SIGSTOP) or not running has no role now: random and
role selectors skip it rather than wait for it to answer.
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import redis
from pymongo.errors import PyMongoError

from harness.faults.base import FaultContext, FaultParamError, SelectorError
from harness.topology.lifecycle import is_stopped

if TYPE_CHECKING:
    from harness.topology.deployment import Deployment
    from harness.topology.mongo import MongoNode
    from harness.topology.redis import RedisNode

SLOTS = 16384
NAME = re.compile(r"^[a-z][a-z0-9]{0,15}$")
#: Selectors without an argument.
PLAIN = ("all", "all-masters", "all-replicas", "random-master", "random-replica")
#: Selectors with ``:<argument>``.
WITH_ARG = ("master-of-slot", "replicas-of", "primary", "random-secondary", "secondaries")
#: Selectors that name members of a MongoDB replica set (their argument).
REPLSET_SELECTORS = ("primary", "random-secondary", "secondaries")

SELECTOR_HELP = {
    "<node>": "one node by name, e.g. r1",
    "all": "every node of both planes",
    "all-masters": "every Redis node that reports role master now",
    "all-replicas": "every Redis node that reports role replica now",
    "random-master": "one current Redis master, chosen with the schedule's seeded rng",
    "random-replica": "one current Redis replica, chosen with the schedule's seeded rng",
    "master-of-slot:N": "the Redis node serving slot N now (the majority view of CLUSTER NODES)",
    "replicas-of:<selector>": "the Redis replicas of the nodes the inner selector names",
    "primary:<replset>": "the MongoDB member of <replset> that is primary now",
    "random-secondary:<replset>": "one MongoDB secondary of <replset>, chosen with the seeded rng",
    "secondaries:<replset>": "every MongoDB member of <replset> that reports itself secondary now",
}


@dataclass(frozen=True)
class Selector:
    text: str
    kind: str  # "node", one of PLAIN or one of WITH_ARG
    arg: str = ""
    slot: int = -1
    inner: Selector | None = None

    def resolve(self, ctx: FaultContext) -> list[str]:
        """Node names, never empty (an empty answer is a :class:`SelectorError`)."""
        names = _resolve(self, ctx)
        if not names:
            raise SelectorError(f"selector '{self.text}' names no node now")
        return names

    def __str__(self) -> str:
        return self.text


def parse_selector(text: Any, fault: str = "fault") -> Selector:
    """Checks the syntax only (nodes and roles are looked up at apply time)."""
    if not isinstance(text, str) or not text.strip():
        raise FaultParamError(f"{fault}: target must be a selector string, got {text!r}")
    text = text.strip()
    if text in PLAIN:
        return Selector(text, text)
    head, sep, rest = text.partition(":")
    if not sep:
        if NAME.match(text):
            return Selector(text, "node", arg=text)
        raise FaultParamError(f"{fault}: unknown target '{text}'; {_syntax()}")
    if head not in WITH_ARG:
        raise FaultParamError(f"{fault}: unknown selector '{head}:' in '{text}'; {_syntax()}")
    if head == "master-of-slot":
        if not rest.isdigit() or not 0 <= int(rest) < SLOTS:
            raise FaultParamError(f"{fault}: '{text}': the slot must be an integer 0..{SLOTS - 1}")
        return Selector(text, head, slot=int(rest))
    if head == "replicas-of":
        return Selector(text, head, inner=parse_selector(rest, fault))
    if not NAME.match(rest) and not re.match(r"^[A-Za-z0-9_-]{1,64}$", rest):
        raise FaultParamError(f"{fault}: '{text}': expected a replica-set name after '{head}:'")
    return Selector(text, head, arg=rest)


def _syntax() -> str:
    return "selectors: " + ", ".join(SELECTOR_HELP)


# -- Redis roles, as the nodes report them -----------------------------------------------------

Role = Literal["master", "replica", "paused", "down", "unknown"]


@dataclass(frozen=True)
class RedisRole:
    node: str
    role: Role
    master: str | None = None  # a replica's master (node name), from its own INFO replication


def _by_address(dep: Deployment) -> dict[tuple[str, int], str]:
    """Node name by every address it is known by: its proxies (what it announces) and direct."""
    out: dict[tuple[str, int], str] = {}
    for n in dep.redis:
        out[(n.client_proxy.listen_host, n.client_proxy.listen_port)] = n.name
        out[(n.host.address, n.port)] = n.name
    return out


def _asleep(node: RedisNode | MongoNode) -> bool:
    return node.process is not None and is_stopped(node.process.pid)


def redis_role(dep: Deployment, node: RedisNode) -> RedisRole:
    if not node.running():
        return RedisRole(node.name, "down")
    if _asleep(node):
        return RedisRole(node.name, "paused")  # asking would only time out
    try:
        repl: dict[str, Any] = node.admin().info("replication")
    except (redis.RedisError, OSError):
        return RedisRole(node.name, "unknown")
    if repl.get("role") == "master":
        return RedisRole(node.name, "master")
    master = _by_address(dep).get((str(repl.get("master_host")), int(repl.get("master_port", 0))))
    return RedisRole(node.name, "replica", master)


def redis_roles(dep: Deployment) -> dict[str, RedisRole]:
    """Every Redis node's role now, by name."""
    return {n.name: redis_role(dep, n) for n in dep.redis}


def masters(dep: Deployment) -> list[str]:
    return sorted(n for n, r in redis_roles(dep).items() if r.role == "master")


def replicas_of(dep: Deployment, of: list[str]) -> list[str]:
    return sorted(n for n, r in redis_roles(dep).items() if r.role == "replica" and r.master in of)


def cluster_nodes(node: RedisNode) -> list[dict[str, Any]]:
    """A node's own CLUSTER NODES view: one dict per node it knows (address, flags, master, slots)."""
    text = str(node.admin().execute_command("CLUSTER", "NODES"))
    out = []
    for line in text.strip().splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        host, _, port = parts[1].split("@")[0].rpartition(":")
        ranges = []
        for field in parts[8:]:
            if field.startswith("["):
                continue  # a slot being migrated or imported, not served
            lo, _, hi = field.partition("-")
            ranges.append((int(lo), int(hi or lo)))
        out.append(
            {
                "id": parts[0],
                "address": (host, int(port) if port.isdigit() else 0),
                "flags": parts[2].split(","),
                "master_id": None if parts[3] == "-" else parts[3],
                "slots": ranges,
            }
        )
    return out


def master_of_slot(dep: Deployment, slot: int) -> str:
    """Who serves ``slot`` now. Each running node says whom it believes; during a partition views
    differ, so the answer is the majority view (ties go to the lowest node name). A topology
    without cluster mode has one master serving every key: that node."""
    by_addr = _by_address(dep)
    votes: Counter[str] = Counter()
    cluster_mode = True
    for node in dep.redis:
        if not node.running() or _asleep(node):
            continue
        try:
            view = cluster_nodes(node)
        except redis.ResponseError as exc:
            if "cluster support disabled" in str(exc).lower():
                cluster_mode = False
                break
            continue
        except (redis.RedisError, OSError):
            continue
        for entry in view:
            if "master" in entry["flags"] and any(lo <= slot <= hi for lo, hi in entry["slots"]):
                name = by_addr.get(entry["address"])
                if name is not None:
                    votes[name] += 1
    if not cluster_mode:
        current = masters(dep)
        if len(current) != 1:
            raise SelectorError(f"master-of-slot:{slot}: expected one master, nodes report {current}")
        return current[0]
    if not votes:
        raise SelectorError(f"master-of-slot:{slot}: no running node names a master for slot {slot}")
    best = max(votes.values())
    return sorted(n for n, v in votes.items() if v == best)[0]


# -- MongoDB states ----------------------------------------------------------------------------


def _hello(node: MongoNode) -> dict[str, Any]:
    with contextlib.suppress(PyMongoError):
        return dict(node.admin().admin.command("hello"))
    return {}


def _replset(dep: Deployment, name: str) -> list[MongoNode]:
    plane = dep.mongo
    sets = {rs.name: rs for rs in plane.replsets} if plane is not None else {}
    if name not in sets:
        known = ", ".join(sorted(sets)) or "none (this topology has no MongoDB plane)"
        raise SelectorError(f"no replica set named '{name}'; replica sets: {known}")
    return [n for n in sets[name].nodes if n.member is not None and not n.member.arbiter]


def mongo_primary(dep: Deployment, replset: str) -> str:
    members = _replset(dep, replset)
    found = [n.name for n in members if n.running() and not _asleep(n) and _hello(n).get("isWritablePrimary")]
    if not found:
        raise SelectorError(f"primary:{replset}: no member reports itself primary now")
    return sorted(found)[0]


def mongo_secondaries(dep: Deployment, replset: str) -> list[str]:
    members = _replset(dep, replset)
    return sorted(n.name for n in members if n.running() and not _asleep(n) and _hello(n).get("secondary"))


def unavailable(sel: Selector, dep: Deployment | None) -> str | None:
    """Why ``sel`` can name nothing on this deployment whatever happens during the run (so a fault
    aimed by it is recorded as not run, not failed), or None. Today: a replica-set selector on a
    topology without that replica set, e.g. the standalone FerretDB server that stands in for a
    replica set where no mongod exists."""
    if dep is None or sel.kind not in REPLSET_SELECTORS:
        return None if sel.inner is None else unavailable(sel.inner, dep)
    plane = dep.mongo
    if plane is None:
        return f"'{sel.text}' names a MongoDB replica set; this topology has no MongoDB plane"
    if any(rs.name == sel.arg for rs in plane.replsets):
        return None
    features = plane.features
    if features is not None and not features.has("replication"):
        return (
            f"'{sel.text}' names replica set {sel.arg}, but the MongoDB plane runs on {features.name}: "
            f"no replication ({features.lacks['replication']})"
        )
    known = ", ".join(sorted(rs.name for rs in plane.replsets)) or "none"
    return f"'{sel.text}': no replica set named {sel.arg} (replica sets: {known})"


# -- resolution --------------------------------------------------------------------------------


def _pick(ctx: FaultContext, candidates: list[str], what: str) -> list[str]:
    if not candidates:
        raise SelectorError(f"{what}: no candidate node now")
    return [ctx.rng.choice(sorted(candidates))]


def _resolve(sel: Selector, ctx: FaultContext) -> list[str]:
    dep = ctx.dep
    if sel.kind == "node":
        if sel.arg not in dep.node_names():
            raise SelectorError(f"no node named '{sel.arg}'; nodes: {', '.join(dep.node_names())}")
        return [sel.arg]
    if sel.kind == "all":
        return list(dep.node_names())
    redis_only = (
        "all-masters",
        "all-replicas",
        "random-master",
        "random-replica",
        "replicas-of",
        "master-of-slot",
    )
    if sel.kind in redis_only and not dep.redis:
        raise SelectorError(f"selector '{sel.text}' needs Redis nodes; this topology has none")
    if sel.kind == "all-masters":
        return masters(dep)
    if sel.kind == "all-replicas":
        return sorted(n for n, r in redis_roles(dep).items() if r.role == "replica")
    if sel.kind == "random-master":
        return _pick(ctx, masters(dep), sel.text)
    if sel.kind == "random-replica":
        return _pick(ctx, [n for n, r in redis_roles(dep).items() if r.role == "replica"], sel.text)
    if sel.kind == "master-of-slot":
        return [master_of_slot(dep, sel.slot)]
    if sel.kind == "replicas-of":
        assert sel.inner is not None
        return replicas_of(dep, sel.inner.resolve(ctx))
    if sel.kind == "primary":
        return [mongo_primary(dep, sel.arg)]
    if sel.kind == "random-secondary":
        return _pick(ctx, mongo_secondaries(dep, sel.arg), sel.text)
    if sel.kind == "secondaries":
        return mongo_secondaries(dep, sel.arg)
    raise SelectorError(f"unknown selector kind {sel.kind}")  # parse_selector admits no other
