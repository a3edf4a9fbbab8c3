"""Partitions, per the design's network model: iptables rules inside each node's host drop what it
sends to the proxies of the nodes on the other side, both ways. The harness itself keeps reaching
every proxy (as real clients do in a real partition) and every node's direct admin address.

Heal removes exactly the rules its own apply added (one ``iptables -D`` per rule), so two
overlapping partitions heal independently; after the last heal the hosts' chains are empty.
"""

from __future__ import annotations

from typing import Any, ClassVar

from harness.errors import HarnessError
from harness.faults import params as check
from harness.faults.base import Capability, Fault, FaultContext, FaultError, FaultParamError, register
from harness.faults.selectors import Selector, masters, mongo_primary, parse_selector, replicas_of

Sides = tuple[list[str], list[str]]


class _Partition(Fault):
    """Shared apply/heal bookkeeping: ``_sides`` says which splits to make."""

    needs: ClassVar[frozenset[Capability]] = frozenset({Capability.PARTITION})

    def _sides(self, ctx: FaultContext) -> list[Sides]:
        raise NotImplementedError

    def apply(self, ctx: FaultContext) -> dict[str, Any]:
        splits = self._sides(ctx)
        done: list[Sides] = ctx.state.setdefault("splits", [])
        hosts = 0
        for a, b in splits:
            # Recorded before the rules go in: a split that fails halfway is still undone by heal
            # (deleting a rule that is not there is not an error).
            done.append((a, b))
            try:
                hosts += ctx.dep.split(a, b)
            except HarnessError as exc:
                raise FaultError(f"{self.kind}: could not split {a} from {b}: {exc}") from exc
        # Not re-read with iptables -S here: that would only delay the moment apply reports done.
        return {"sides": [{"a": a, "b": b} for a, b in splits], "hosts_with_rules": hosts}

    def heal(self, ctx: FaultContext) -> dict[str, Any]:
        splits: list[Sides] = ctx.state.pop("splits", [])
        for a, b in reversed(splits):
            ctx.dep.unsplit(a, b)
        left = {n: r for n, r in ctx.dep.rules().items() if r} if splits else {}
        return {"healed": [{"a": a, "b": b} for a, b in splits], "rules_left": left}


@register
class Isolate(_Partition):
    """Cut one node (each node the target names) off from every other node, both ways."""

    kind = "isolate"

    def __init__(self, target: str) -> None:
        self.target = parse_selector(target, self.kind)

    def _sides(self, ctx: FaultContext) -> list[Sides]:
        everyone = ctx.dep.node_names()
        return [([n], [m for m in everyone if m != n]) for n in self.target.resolve(ctx)]


@register
class Split(_Partition):
    """Split the nodes into a minority and a majority that cannot reach each other."""

    kind = "split"

    def __init__(
        self,
        minority: list[str] | None = None,
        minority_size: int | None = None,
        minority_share: float | None = None,
        target: str | None = None,
        allow_majority_down: bool = False,
    ) -> None:
        if target is not None:  # a schedule's 'target' is a one-node minority
            if minority is not None:
                raise FaultParamError("fault split: give 'target' or 'minority', not both")
            minority = [target]
        given = [p for p in (minority, minority_size, minority_share) if p is not None]
        if len(given) > 1:
            raise FaultParamError(
                "fault split: give only one of 'minority', 'minority_size', 'minority_share'"
            )
        self.minority: list[Selector] | None = None
        if minority is not None:
            if not isinstance(minority, list) or not minority:
                raise FaultParamError(
                    f"fault split: 'minority' must be a non-empty list of selectors, got {minority!r}"
                )
            self.minority = [parse_selector(s, self.kind) for s in minority]
        self.size = (
            int(check.number(self.kind, "minority_size", minority_size, minimum=1, integer=True))
            if minority_size is not None
            else None
        )
        self.share = (
            check.number(self.kind, "minority_share", minority_share, above=0, maximum=1)
            if minority_share is not None
            else None
        )
        self.allow_majority_down = check.flag(self.kind, "allow_majority_down", allow_majority_down)
        if self.share is not None and self.share >= 0.5 and not self.allow_majority_down:
            raise FaultParamError(
                f"fault split: minority_share {self.share:g} is not a minority; "
                "set allow_majority_down: true to take a majority away"
            )

    def _sides(self, ctx: FaultContext) -> list[Sides]:
        everyone = sorted(ctx.dep.node_names())
        if self.minority is not None:
            chosen = sorted({n for sel in self.minority for n in sel.resolve(ctx)})
        else:
            # Default: the largest true minority, e.g. 2 of 6 nodes.
            k = self.size if self.size is not None else (len(everyone) - 1) // 2
            if self.share is not None:
                k = max(1, int(len(everyone) * self.share))
            if not 0 < k < len(everyone):
                raise FaultError(f"split: a minority of {k} of {len(everyone)} nodes leaves one side empty")
            chosen = sorted(ctx.rng.sample(everyone, k))
        rest = [n for n in everyone if n not in chosen]
        if not rest:
            raise FaultError(f"split: the minority {chosen} is every node; nothing is left on the other side")
        if 2 * len(chosen) >= len(everyone) and not self.allow_majority_down:
            raise FaultError(
                f"split: {chosen} is {len(chosen)} of {len(everyone)} nodes, not a minority "
                "(set allow_majority_down: true to mean it)"
            )
        return [(chosen, rest)]


@register
class IsolatePrimaries(_Partition):
    """Cut every Redis master off from its own replicas and every MongoDB primary from the rest of
    its replica set (each group apart; masters still reach each other)."""

    kind = "isolate-primaries"

    def __init__(self, target: str | None = None) -> None:
        if target is not None:
            raise FaultParamError("fault isolate-primaries takes no target: it acts on every primary")

    def _sides(self, ctx: FaultContext) -> list[Sides]:
        dep = ctx.dep
        out: list[Sides] = []
        if dep.redis:
            for m in masters(dep):
                reps = replicas_of(dep, [m])
                if reps:
                    out.append(([m], reps))
        for rs in dep.mongo.replsets if dep.mongo is not None else []:
            primary = mongo_primary(dep, rs.name)
            others = [n.name for n in rs.nodes if n.name != primary]
            if others:
                out.append(([primary], others))
        if not out:
            raise FaultError("isolate-primaries: no primary with a replica now")
        return out


@register
class Partition(Isolate):
    """Cut the target node(s) off from every other node, both ways (``isolate`` under the name an
    operator types in a rehearsal: ``harness fault partition r2``)."""

    kind = "partition"
