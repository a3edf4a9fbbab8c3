"""Trouble on a node's network link: Toxiproxy toxics on the node's proxies, or the proxy down.

Every node is reached only through its proxies, by clients and by its peers alike (the design's
network model), so a toxic on a node's client proxy is felt by the workload *and* by replication
(replicas sync from their master's client proxy); ``link: bus`` puts it on a Redis node's cluster
bus proxy (gossip and failover votes), ``link: both`` on both. ``link: replication`` (a replica of a
replicated, non-cluster topology) puts it on the replica's own link to its master: its replication
lags while the master's clients see nothing.

Directions are Toxiproxy's: ``upstream`` is what is sent to the node, ``downstream`` what it sends
back; ``both`` adds one toxic per direction (a latency of ``ms`` on both is paid twice per round
trip). Heal removes exactly the toxics its own apply added, by name, so overlapping toxic faults heal
independently.

Already-open connections (checked live against toxiproxy-server 2.12.0 in
``tests/live/test_faults.py``; Toxiproxy issues #148 and #444 report surprises): Toxiproxy 2 adds a
new toxic to every link that is open at the time, so *every* toxic here also hits the connections
already open in the clients' pools; no pool needs closing. What was measured on a connection opened
before the toxic: ``latency`` delays its very next reply; ``bandwidth`` throttles it (rate 0 stalls
it); ``timeout`` stalls it, and closes it after ``timeout_ms`` when that is not 0; ``reset_peer``
resets it at its next send; ``slicer`` slows it; ``limit_data`` closes it once that many bytes have
passed *since the toxic was added*; ``proxy-down`` closes it at once and refuses new connections. One
thing to know about heal: removing a ``timeout`` toxic closes the connections it was holding (the
held request is not delivered late), so a client sees EOF, not a late reply. :data:`OPEN_CONNECTIONS`
states this per fault and ``apply`` returns it with what it did.
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

from harness.errors import HarnessError
from harness.faults import params as check
from harness.faults.base import Capability, Fault, FaultContext, FaultError, FaultParamError, register
from harness.faults.selectors import parse_selector

DIRECTIONS = ("upstream", "downstream", "both")
LINKS = ("client", "bus", "both", "replication")

#: How each fault treats connections that were open before it was applied (see module docstring).
OPEN_CONNECTIONS = {
    "latency": "affected: the next reply on an open connection is delayed",
    "bandwidth": "affected: open connections are throttled (rate 0 stalls them)",
    "blackhole": "affected: open connections stall; on heal the connections it held are closed (EOF)",
    "reset-peer": "affected: an open connection is reset at its next send",
    "slicer": "affected: replies on open connections arrive in slices",
    "limit-data": "affected: an open connection is closed after `bytes` more bytes",
    "proxy-down": "affected: open connections are closed at once; new ones are refused until heal",
}

_names = itertools.count(1)


def _proxies(ctx: FaultContext, node: str, link: str) -> list[str]:
    """The Toxiproxy proxy names of ``node`` for ``link``."""
    dep = ctx.dep
    for n in dep.redis:
        if n.name == node:
            if link == "replication":
                if n.repl_proxy is None:
                    raise FaultError(
                        f"node {node} has no replication link of its own: only a replica of a replicated "
                        "(non-cluster) topology has one (cluster replicas sync through their master's "
                        "client proxy: use link 'client' on the master)"
                    )
                return [n.repl_proxy.name]
            chosen = {"client": [n.client_proxy], "bus": [n.bus_proxy], "both": [n.client_proxy, n.bus_proxy]}
            return [p.name for p in chosen[link]]
    for m in dep.mongo.nodes if dep.mongo is not None else []:
        if m.name == node:
            if link != "client":
                raise FaultError(f"MongoDB node {node} has only a client proxy; link '{link}' is Redis-only")
            return [m.proxy.name]
    raise FaultError(f"no node named '{node}'")


class _ProxyFault(Fault):
    needs: ClassVar[frozenset[Capability]] = frozenset({Capability.TOXICS})
    default_direction: ClassVar[str] = "downstream"

    def __init__(self, target: str, link: str = "client") -> None:
        self.target = parse_selector(target, self.kind)
        self.link = check.choice(self.kind, "link", link, LINKS)

    def _targets(self, ctx: FaultContext) -> list[tuple[str, str]]:
        return [
            (node, proxy) for node in self.target.resolve(ctx) for proxy in _proxies(ctx, node, self.link)
        ]


class ToxicFault(_ProxyFault):
    """A toxic of one Toxiproxy type on the target's proxies, in the chosen direction(s)."""

    toxic_type: ClassVar[str]

    def __init__(
        self, target: str, link: str = "client", direction: str | None = None, toxicity: float = 1.0
    ) -> None:
        super().__init__(target, link)
        self.direction = check.choice(self.kind, "direction", direction or self.default_direction, DIRECTIONS)
        self.toxicity = check.number(self.kind, "toxicity", toxicity, above=0, maximum=1)

    def attributes(self) -> dict[str, int]:
        raise NotImplementedError

    def apply(self, ctx: FaultContext) -> dict[str, Any]:
        streams = ["upstream", "downstream"] if self.direction == "both" else [self.direction]
        added: list[tuple[str, str]] = ctx.state.setdefault("toxics", [])
        attrs = self.attributes()
        for node, proxy in self._targets(ctx):
            for stream in streams:
                name = f"hx-{self.kind}-{next(_names)}-{stream}"
                added.append((proxy, name))  # before the call: heal removes it even if the reply was lost
                try:
                    ctx.dep.toxiproxy.add_toxic(
                        proxy, self.toxic_type, attrs, stream=stream, name=name, toxicity=self.toxicity
                    )
                except HarnessError as exc:
                    raise FaultError(f"{self.kind} on {node}: {exc}") from exc
        return {
            "toxic": self.toxic_type,
            "attributes": attrs,
            "toxicity": self.toxicity,
            "toxics": [{"proxy": p, "name": n} for p, n in added],
            "open_connections": OPEN_CONNECTIONS[self.kind],
        }

    def heal(self, ctx: FaultContext) -> dict[str, Any]:
        removed: list[str] = []
        missing: list[str] = []
        for proxy, name in ctx.state.pop("toxics", []):
            (removed if ctx.dep.toxiproxy.remove_toxic(proxy, name) else missing).append(f"{proxy}/{name}")
        return {"removed": removed, "already_gone": missing}


def _ms(kind: str, name: str, value: Any) -> int:
    return round(check.number(kind, name, value, minimum=0, maximum=3_600_000))


@register
class Latency(ToxicFault):
    """Add ``ms`` (± ``jitter_ms``) to every delivery on the node's link, per direction."""

    kind = "latency"
    toxic_type = "latency"

    def __init__(self, target: str, ms: float, jitter_ms: float = 0, **common: Any) -> None:
        super().__init__(target, **common)
        self.ms = _ms(self.kind, "ms", ms)
        self.jitter_ms = _ms(self.kind, "jitter_ms", jitter_ms)

    def attributes(self) -> dict[str, int]:
        return {"latency": self.ms, "jitter": self.jitter_ms}


@register
class Bandwidth(ToxicFault):
    """Throttle the node's link to ``kb_s`` KB/s (0 stalls it)."""

    kind = "bandwidth"
    toxic_type = "bandwidth"

    def __init__(self, target: str, kb_s: float, **common: Any) -> None:
        super().__init__(target, **common)
        self.kb_s = round(check.number(self.kind, "kb_s", kb_s, minimum=0))

    def attributes(self) -> dict[str, int]:
        return {"rate": self.kb_s}


@register
class Blackhole(ToxicFault):
    """Let nothing through (Toxiproxy ``timeout``): held forever with ``timeout_ms`` 0, else the
    connection is closed after ``timeout_ms``."""

    kind = "blackhole"
    toxic_type = "timeout"
    default_direction = "both"

    def __init__(self, target: str, timeout_ms: float = 0, **common: Any) -> None:
        super().__init__(target, **common)
        self.timeout_ms = _ms(self.kind, "timeout_ms", timeout_ms)

    def attributes(self) -> dict[str, int]:
        return {"timeout": self.timeout_ms}


@register
class ResetPeer(ToxicFault):
    """Reset connections (TCP RST) when data arrives, after ``timeout_ms`` (0: at once)."""

    kind = "reset-peer"
    toxic_type = "reset_peer"

    def __init__(self, target: str, timeout_ms: float = 0, **common: Any) -> None:
        super().__init__(target, **common)
        self.timeout_ms = _ms(self.kind, "timeout_ms", timeout_ms)

    def attributes(self) -> dict[str, int]:
        return {"timeout": self.timeout_ms}


@register
class Slicer(ToxicFault):
    """Cut data into ``average_size``-byte (± ``size_variation``) pieces sent ``delay_us`` apart."""

    kind = "slicer"
    toxic_type = "slicer"

    def __init__(
        self, target: str, average_size: int = 8, size_variation: int = 0, delay_us: int = 1000, **common: Any
    ) -> None:
        super().__init__(target, **common)
        self.average_size = round(
            check.number(self.kind, "average_size", average_size, minimum=1, integer=True)
        )
        self.size_variation = round(
            check.number(self.kind, "size_variation", size_variation, minimum=0, integer=True)
        )
        if self.size_variation >= self.average_size:
            raise FaultParamError(
                f"fault slicer: 'size_variation' ({self.size_variation}) must be below 'average_size' "
                f"({self.average_size})"
            )
        self.delay_us = round(check.number(self.kind, "delay_us", delay_us, minimum=0, integer=True))

    def attributes(self) -> dict[str, int]:
        return {
            "average_size": self.average_size,
            "size_variation": self.size_variation,
            "delay": self.delay_us,
        }


@register
class LimitData(ToxicFault):
    """Close each connection once ``bytes`` bytes have passed (counted from when it is applied)."""

    kind = "limit-data"
    toxic_type = "limit_data"

    def __init__(self, target: str, bytes: int, **common: Any) -> None:
        super().__init__(target, **common)
        self.bytes = round(check.number(self.kind, "bytes", bytes, minimum=1, integer=True))

    def attributes(self) -> dict[str, int]:
        return {"bytes": self.bytes}


@register
class ProxyDown(_ProxyFault):
    """Take the node's proxy down: open connections closed, new ones refused; heal brings it up."""

    kind = "proxy-down"

    def apply(self, ctx: FaultContext) -> dict[str, Any]:
        disabled: list[str] = ctx.state.setdefault("disabled", [])
        for node, proxy in self._targets(ctx):
            disabled.append(proxy)
            try:
                ctx.dep.toxiproxy.set_enabled(proxy, False)
            except HarnessError as exc:
                raise FaultError(f"proxy-down on {node}: {exc}") from exc
        return {"proxies": list(disabled), "open_connections": OPEN_CONNECTIONS[self.kind]}

    def heal(self, ctx: FaultContext) -> dict[str, Any]:
        enabled = []
        for proxy in ctx.state.pop("disabled", []):
            ctx.dep.toxiproxy.set_enabled(proxy, True)
            enabled.append(proxy)
        return {"enabled": enabled}
