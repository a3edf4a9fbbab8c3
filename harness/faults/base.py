"""What a fault is: a small object that ``apply``s one kind of trouble to a deployment and
``heal``s it, and names the capabilities the backend must offer for it.

Faults are built from plain data (a schedule entry in a scenario file): ``FAULTS[kind](**params)``.
Targets are *selectors* resolved when the fault is applied, not when the schedule is written,
because roles move during a run (the master of slot 0 after a failover is another node). ``apply``
and ``heal`` return what they actually did (nodes, proxies, rules), which the nemesis records in the
history, so a report shows what happened rather than what was planned.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.topology.deployment import Deployment


class Capability(StrEnum):
    """What a backend can do to its nodes; a fault needing one the backend lacks is not run."""

    PARTITION = "partition"  # iptables inside per-node hosts (local backend as root)
    TOXICS = "toxics"  # Toxiproxy in front of every node
    KILL = "kill"  # SIGKILL a server and start it again on the same data
    PAUSE = "pause"  # SIGSTOP / SIGCONT
    RESTART = "restart"  # graceful stop and start
    REDIS_ADMIN = "redis-admin"  # admin commands on Redis nodes (CLUSTER FAILOVER, CONFIG SET)
    MONGO_ADMIN = "mongo-admin"  # admin commands on MongoDB nodes (replSetStepDown, fail points)
    WORKLOAD = "workload"  # the workload can be steered (hot-tenant surge)


class FaultError(Exception):
    """A fault could not be applied or healed; the nemesis records it and carries on."""


class FaultParamError(HarnessError, ValueError):
    """A fault was built with bad parameters (unknown kind, bad value, malformed selector): raised
    by the constructor, so a bad schedule fails when it is validated, before anything starts."""


class SelectorError(FaultError):
    """A target selector named nothing that exists now (unknown node or replica set, no replica,
    no node answering); raised at apply time, when selectors are resolved."""


@runtime_checkable
class WorkloadControl(Protocol):
    """What the running workload offers the nemesis (``FaultContext.workload``): a tenant's share
    of the events jumps to ``share`` (0 < share < 1) until ``end_surge``."""

    def surge(self, tenant: str, share: float) -> Any: ...

    def end_surge(self, tenant: str) -> Any: ...


@dataclass
class FaultContext:
    """What a fault acts on. ``rng`` is the schedule's seeded stream, so a seed replays the choices
    of random selectors; ``workload`` is the running workload's control surface, if any."""

    dep: Deployment
    rng: random.Random
    workload: Any = None
    # Per-fault scratch space between apply and heal (e.g. the node that was killed).
    state: dict[str, Any] = field(default_factory=dict)


class Fault(ABC):
    """One kind of trouble. Subclasses set ``kind`` and ``needs`` and take their parameters as
    keyword arguments (all validated in ``__init__``, so a bad schedule fails before the run)."""

    kind: ClassVar[str]
    needs: ClassVar[frozenset[Capability]]
    #: True when ``heal`` must run even if the schedule gives no duration (e.g. a pause).
    needs_heal: ClassVar[bool] = True

    @abstractmethod
    def apply(self, ctx: FaultContext) -> dict[str, Any]:
        """Starts the fault; returns what was targeted (recorded as the nemesis op's value)."""

    @abstractmethod
    def heal(self, ctx: FaultContext) -> dict[str, Any]:
        """Ends the fault; safe to call when ``apply`` failed halfway or was never called."""

    def unsupported(self, dep: Deployment | None) -> str | None:
        """Why this fault cannot be done on this deployment's servers, whatever the backend offers
        (e.g. ``stepdown not supported by ferretdb 1.24.2: no replication``), or None. Asked by the
        nemesis before ``apply``: a fault the substrate cannot do is recorded as not run, with
        this reason, never attempted and never faked."""
        return None

    def describe(self) -> str:
        return self.kind


#: Every fault by kind; modules register themselves with :func:`register`.
FAULTS: dict[str, type[Fault]] = {}


def register(cls: type[Fault]) -> type[Fault]:
    if cls.kind in FAULTS:
        raise ValueError(f"fault kind '{cls.kind}' registered twice")
    FAULTS[cls.kind] = cls
    return cls


def missing_capabilities(fault: Fault, offered: Iterable[str]) -> list[str]:
    """The capabilities ``fault`` needs that ``offered`` lacks (``Capability`` members or their
    string values, as ``Deployment.capabilities()`` returns them)."""
    have = {str(c) for c in offered}
    return sorted(c.value for c in fault.needs if c.value not in have)
