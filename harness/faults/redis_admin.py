"""Redis admin faults, sent over each node's admin path (direct, bypassing proxies and partitions).

- ``cluster-failover``: ``CLUSTER FAILOVER [FORCE|TAKEOVER]`` sent to a replica. Plain waits for the
  master to agree (no data lost); ``force`` does not wait for the master (it may be down) but still
  needs a majority of masters to vote; ``takeover`` needs no vote at all (the replica bumps its own
  epoch: safe only when the operator knows better, as in a lost majority).
- ``config-set``: ``CONFIG SET`` of any settings (typically persistence: ``appendonly``,
  ``appendfsync``, ``save``); heal sets back the values ``CONFIG GET`` read before.

Killing a master is ``kill`` with a master selector, and pausing a replica to build replication lag
is ``pause`` with a replica selector (see ``process.py``): no separate kinds.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import redis

from harness.faults import params as check
from harness.faults.base import Capability, Fault, FaultContext, FaultError, FaultParamError, register
from harness.faults.selectors import parse_selector, redis_roles

MODES = ("default", "force", "takeover")
#: Settings the harness chose for a node's identity and addressing: changing them breaks the run.
FORBIDDEN = frozenset(
    {
        "port",
        "bind",
        "dir",
        "logfile",
        "daemonize",
        "cluster-config-file",
        "cluster-port",
        "cluster-announce-ip",
        "cluster-announce-port",
        "cluster-announce-bus-port",
        "replica-announce-ip",
        "replica-announce-port",
        "replicaof",
        "slaveof",
    }
)


def _redis_node_names(ctx: FaultContext, names: list[str]) -> None:
    redis_names = {n.name for n in ctx.dep.redis}
    other = [n for n in names if n not in redis_names]
    if other:
        raise FaultError(f"{other} are not Redis nodes")


@register
class ClusterFailover(Fault):
    """``CLUSTER FAILOVER [FORCE|TAKEOVER]`` on a replica: it becomes master of its master's slots."""

    kind = "cluster-failover"
    needs: ClassVar[frozenset[Capability]] = frozenset({Capability.REDIS_ADMIN})
    needs_heal = False

    def __init__(
        self, target: str = "replicas-of:master-of-slot:0", mode: str = "default", wait_s: float = 15.0
    ) -> None:
        self.target = parse_selector(target, self.kind)
        self.mode = check.choice(self.kind, "mode", mode, MODES)
        self.wait_s = check.number(self.kind, "wait_s", wait_s, minimum=0, maximum=600)

    def apply(self, ctx: FaultContext) -> dict[str, Any]:
        names = self.target.resolve(ctx)
        _redis_node_names(ctx, names)
        roles = redis_roles(ctx.dep)
        chosen: dict[str, str] = {}  # one replica per master: two racing promotions prove nothing
        for name in names:
            role = roles[name]
            if role.role != "replica" or role.master is None:
                raise FaultError(f"cluster-failover: {name} is {role.role} now, not a replica")
            chosen.setdefault(role.master, name)
        extra = [] if self.mode == "default" else [self.mode.upper()]
        for name in chosen.values():
            try:
                ctx.dep.node(name).admin().execute_command("CLUSTER", "FAILOVER", *extra)
            except redis.RedisError as exc:
                raise FaultError(f"CLUSTER FAILOVER {' '.join(extra)} on {name}: {exc}") from exc
        promoted = self._wait_promoted(ctx, list(chosen.values()))
        ctx.state["replicas"] = list(chosen.values())
        return {
            "mode": self.mode,
            "failed_over": [{"replica": r, "old_master": m} for m, r in chosen.items()],
            "promoted": promoted,
        }

    def _wait_promoted(self, ctx: FaultContext, names: list[str]) -> dict[str, bool]:
        """Whether each replica reports role master within ``wait_s`` (0: not waited for)."""
        deadline = time.monotonic() + self.wait_s
        done = {n: False for n in names}
        while self.wait_s > 0:
            roles = redis_roles(ctx.dep)
            done = {n: roles[n].role == "master" for n in names}
            if all(done.values()) or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        return done

    def heal(self, ctx: FaultContext) -> dict[str, Any]:
        """Nothing to undo (roles stay swapped, as after a real failover); reports the roles now."""
        roles = redis_roles(ctx.dep) if ctx.dep.redis else {}
        return {
            "roles": {n: r.role for n, r in roles.items()},
            "masters_of": {n: r.master for n, r in roles.items() if r.role == "replica"},
        }


def _conf(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@register
class ConfigSet(Fault):
    """``CONFIG SET`` of ``settings`` on the target nodes; heal sets back the values read before."""

    kind = "config-set"
    needs: ClassVar[frozenset[Capability]] = frozenset({Capability.REDIS_ADMIN})

    def __init__(self, settings: dict[str, Any], target: str = "all") -> None:
        if not isinstance(settings, dict) or not settings:
            raise FaultParamError(
                f"fault config-set: 'settings' must be a non-empty mapping, got {settings!r}"
            )
        for key, value in settings.items():
            check.text(self.kind, "settings key", key)
            if key.lower() in FORBIDDEN:
                raise FaultParamError(
                    f"fault config-set: '{key}' is chosen by the harness and cannot be changed"
                )
            if not isinstance(value, str | int | float | bool):
                raise FaultParamError(f"fault config-set: setting '{key}' must be a scalar, got {value!r}")
        self.settings = {k.lower(): _conf(v) for k, v in settings.items()}
        self.target = parse_selector(target, self.kind)

    def apply(self, ctx: FaultContext) -> dict[str, Any]:
        names = self.target.resolve(ctx)
        _redis_node_names(ctx, names)
        before: dict[str, dict[str, str]] = ctx.state.setdefault("before", {})
        for name in names:
            admin = ctx.dep.node(name).admin()
            try:
                old = {k: str(admin.config_get(k).get(k, "")) for k in self.settings}
                before[name] = old  # only nodes whose old values are known get them back
                admin.execute_command("CONFIG", "SET", *[x for kv in self.settings.items() for x in kv])
            except redis.RedisError as exc:
                raise FaultError(f"config-set on {name}: {exc}") from exc
        return {"nodes": names, "settings": self.settings, "before": before}

    def heal(self, ctx: FaultContext) -> dict[str, Any]:
        restored, errors = {}, {}
        for name, old in ctx.state.pop("before", {}).items():
            try:
                ctx.dep.node(name).admin().execute_command(
                    "CONFIG", "SET", *[x for kv in old.items() for x in kv]
                )
                restored[name] = old
            except (redis.RedisError, OSError) as exc:
                errors[name] = f"{type(exc).__name__}: {exc}"
        if errors:
            raise FaultError(f"config-set: could not restore {errors} (restored {sorted(restored)})")
        return {"restored": restored}
