"""Pure checkers over a saved history, each returning a :class:`Verdict`.

Every checker module exposes ``NAME``, a class implementing :class:`Checker` (a fold: ``observe``
each op, ``finish`` into a verdict; constructed with keyword parameters that all have defaults) and
a pure function ``check_<x>(ops, **params) = fold(Class(**params), ops)``. :data:`CHECKERS` maps
names to classes; :func:`build_checkers` builds a scenario's list with clear errors.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from harness.checkers import (
    acknowledged_writes,
    audit_trail,
    counters,
    counters_reconcile,
    linearizable,
    monotonic_reads,
    no_duplicates,
    rate_limit,
    read_your_writes,
    retention,
    sessions,
    tenant_isolation,
    unique_users,
)
from harness.checkers.compose import Checker, fold, run_checkers
from harness.checkers.verdict import MAX_EXAMPLES, Status, Verdict
from harness.errors import SpecError

#: Every checker the library offers, by verdict name.
CHECKERS: dict[str, type[Any]] = {
    acknowledged_writes.NAME: acknowledged_writes.AcknowledgedWrites,
    counters.NAME: counters.AcknowledgedIncrements,
    counters_reconcile.NAME: counters_reconcile.CountersReconcile,
    no_duplicates.NAME: no_duplicates.NoDuplicates,
    rate_limit.NAME: rate_limit.RateLimitHolds,
    read_your_writes.NAME: read_your_writes.ReadYourWrites,
    monotonic_reads.NAME: monotonic_reads.MonotonicReads,
    tenant_isolation.NAME: tenant_isolation.TenantIsolation,
    audit_trail.NAME: audit_trail.AuditTrail,
    retention.NAME: retention.Retention,
    sessions.NAME: sessions.Sessions,
    unique_users.NAME: unique_users.UniqueUsers,
    linearizable.NAME: linearizable.LinearizableRegisters,
}


def checker_params(name: str) -> list[str]:
    """The keyword parameters checker ``name`` accepts."""
    sig = inspect.signature(CHECKERS[name])
    return [p.name for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]


def build_checkers(
    names: Sequence[str],
    params: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    source: str = "checkers",
) -> list[Checker]:
    """One fresh checker per name, in order, with ``params[name]`` as keyword arguments.

    Unknown names, parameters for checkers not listed, unknown parameter names and values a
    checker rejects raise :class:`SpecError` naming ``source`` (the scenario file) and the field."""
    params = params or {}
    for name in [*names, *params]:
        if name not in CHECKERS:
            raise SpecError(
                source, "checkers", f"unknown checker '{name}'; known: {', '.join(sorted(CHECKERS))}"
            )
    for name in params:
        if name not in names:
            raise SpecError(source, f"checker_params.{name}", f"'{name}' is not in the checkers list")
    built: list[Checker] = []
    for name in names:
        given = dict(params.get(name, {}))
        accepted = checker_params(name)
        for p in given:
            if p not in accepted:
                raise SpecError(
                    source,
                    f"checker_params.{name}.{p}",
                    f"unknown parameter; '{name}' accepts: {', '.join(accepted) or 'none'}",
                )
        try:
            built.append(CHECKERS[name](**given))
        except (TypeError, ValueError) as exc:
            raise SpecError(source, f"checker_params.{name}", str(exc)) from exc
    return built


__all__ = [
    "CHECKERS",
    "MAX_EXAMPLES",
    "Checker",
    "Status",
    "Verdict",
    "build_checkers",
    "checker_params",
    "fold",
    "run_checkers",
]
