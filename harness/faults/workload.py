"""Workload-side faults: trouble made by the traffic itself rather than done to the servers."""

from __future__ import annotations

from typing import Any, ClassVar

from harness.faults import params as check
from harness.faults.base import (
    Capability,
    Fault,
    FaultContext,
    FaultError,
    FaultParamError,
    WorkloadControl,
    register,
)


def _control(ctx: FaultContext, kind: str) -> WorkloadControl:
    if ctx.workload is None or not isinstance(ctx.workload, WorkloadControl):
        raise FaultError(f"{kind}: the running workload cannot be steered (no surge/end_surge)")
    return ctx.workload


@register
class HotTenant(Fault):
    """One tenant's share of all events jumps to ``share`` until heal (a hot-tenant surge)."""

    kind = "hot-tenant"
    needs: ClassVar[frozenset[Capability]] = frozenset({Capability.WORKLOAD})

    def __init__(self, tenant: str, share: float, target: str | None = None) -> None:
        if target is not None:
            tenant = target  # a schedule may name the tenant as its target
        self.tenant = check.text(self.kind, "tenant", tenant)
        self.share = check.number(self.kind, "share", share, above=0, maximum=1)
        if self.share == 1:
            raise FaultParamError("fault hot-tenant: 'share' must be below 1 (other tenants still send)")

    def apply(self, ctx: FaultContext) -> dict[str, Any]:
        result = _control(ctx, self.kind).surge(self.tenant, self.share)
        ctx.state["surging"] = True
        out: dict[str, Any] = {"tenant": self.tenant, "share": self.share}
        if isinstance(result, dict):
            out["workload"] = result
        return out

    def heal(self, ctx: FaultContext) -> dict[str, Any]:
        if not ctx.state.pop("surging", False):
            return {"tenant": self.tenant, "ended": False}
        result = _control(ctx, self.kind).end_surge(self.tenant)
        out: dict[str, Any] = {"tenant": self.tenant, "ended": True}
        if isinstance(result, dict):
            out["workload"] = result
        return out
