"""The workload kinds a scenario can name (``workload.kind``), by name.

A new kind is a :class:`~harness.scenario.kinds.base.WorkloadKind` registered here: how it is built
from a :class:`~harness.scenario.context.VariantContext`, the ops that stand for its events, and the
planes its checkers need. The runner branches on none of them."""

from __future__ import annotations

from harness.errors import HarnessError
from harness.scenario.kinds.base import Workload, WorkloadKind
from harness.scenario.kinds.fanout import TENANT_READS
from harness.scenario.kinds.growth import GROWTH
from harness.scenario.kinds.mongo_growth import MONGO_GROWTH
from harness.scenario.kinds.platform import PLATFORM
from harness.scenario.kinds.redis_drivers import EVENTS, INCREMENTS, SESSIONS
from harness.scenario.kinds.sharded_events import SHARDED_EVENTS

KINDS: dict[str, WorkloadKind] = {}


def register(kind: WorkloadKind) -> WorkloadKind:
    if kind.name in KINDS:
        raise ValueError(f"workload kind '{kind.name}' registered twice")
    KINDS[kind.name] = kind
    return kind


for _kind in (EVENTS, INCREMENTS, SESSIONS, PLATFORM, TENANT_READS, GROWTH, MONGO_GROWTH, SHARDED_EVENTS):
    register(_kind)


def kind_of(name: str) -> WorkloadKind:
    try:
        return KINDS[name]
    except KeyError:
        raise HarnessError(f"no workload kind '{name}' (known: {', '.join(sorted(KINDS))})") from None


__all__ = ["KINDS", "Workload", "WorkloadKind", "kind_of", "register"]
