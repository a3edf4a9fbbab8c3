"""Faults (what is done to a topology), schedules (when) and the nemesis (who does it).

Importing this package registers every fault kind in :data:`harness.faults.base.FAULTS`;
:func:`fault_kinds` lists them with one line each, :func:`make_fault` builds one from plain data
with one clear error for a bad kind or parameter.
"""

from __future__ import annotations

import inspect
from typing import Any

from harness.faults import mongo_admin, network, process, redis_admin, toxics, workload
from harness.faults.base import FAULTS, Fault, FaultParamError

__all__ = [
    "fault_kinds",
    "fault_params",
    "make_fault",
    "mongo_admin",
    "network",
    "process",
    "redis_admin",
    "toxics",
    "workload",
]


def fault_kinds() -> dict[str, str]:
    """Every registered fault kind with the first sentence of its docstring, by kind."""
    return {
        kind: " ".join((inspect.getdoc(cls) or "").split("\n\n")[0].split())
        for kind, cls in sorted(FAULTS.items())
    }


def fault_params(kind: str) -> dict[str, Any]:
    """A kind's parameters and their defaults (``inspect.Parameter.empty`` when required)."""
    sig = inspect.signature(FAULTS[kind].__init__)
    out: dict[str, Any] = {}
    for name, p in sig.parameters.items():
        if name == "self":
            continue
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            # Toxics take link/direction/toxicity from their shared base.
            out.update(fault_params_of(FAULTS[kind].__mro__[1]))
            continue
        out[name] = p.default
    return out


def fault_params_of(cls: type) -> dict[str, Any]:
    sig = inspect.signature(cls.__init__)  # type: ignore[misc]
    return {n: p.default for n, p in sig.parameters.items() if n not in ("self", "target")}


def make_fault(kind: str, params: dict[str, Any] | None = None, target: str | None = None) -> Fault:
    """``FAULTS[kind](target=..., **params)`` with clear errors: an unknown kind lists the known
    ones, an unknown or missing parameter lists the kind's parameters."""
    if kind not in FAULTS:
        raise FaultParamError(f"unknown fault '{kind}'; known: {', '.join(sorted(FAULTS))}")
    kwargs = dict(params or {})
    if target is not None:
        kwargs["target"] = target
    accepted = fault_params(kind)
    unknown = sorted(set(kwargs) - set(accepted))
    missing = sorted(n for n, d in accepted.items() if d is inspect.Parameter.empty and n not in kwargs)
    if unknown or missing:
        problems = ([f"unknown {unknown}"] if unknown else []) + ([f"missing {missing}"] if missing else [])
        raise FaultParamError(
            f"fault {kind}: {'; '.join(problems)} parameter(s); it takes {', '.join(sorted(accepted))}"
        )
    return FAULTS[kind](**kwargs)
