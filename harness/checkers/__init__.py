"""Pure checkers over a saved history, each returning a :class:`Verdict`.

Every checker module exposes ``NAME``, ``KINDS`` (the anomaly kinds its examples and
``details["violations_by_kind"]`` can name), a class implementing :class:`Checker` (a fold: ``observe``
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


#: The anomaly kinds each checker can report, by verdict name (``expect_invalid: [name:kind]``).
KINDS_OF: dict[str, frozenset[str]] = {
    acknowledged_writes.NAME: acknowledged_writes.KINDS,
    counters.NAME: counters.KINDS,
    counters_reconcile.NAME: counters_reconcile.KINDS,
    no_duplicates.NAME: no_duplicates.KINDS,
    rate_limit.NAME: rate_limit.KINDS,
    read_your_writes.NAME: read_your_writes.KINDS,
    monotonic_reads.NAME: monotonic_reads.KINDS,
    tenant_isolation.NAME: tenant_isolation.KINDS,
    audit_trail.NAME: audit_trail.KINDS,
    retention.NAME: retention.KINDS,
    sessions.NAME: sessions.KINDS,
    unique_users.NAME: unique_users.KINDS,
    linearizable.NAME: linearizable.KINDS,
}
assert KINDS_OF.keys() == CHECKERS.keys()


def expected_kinds(entries: Sequence[str]) -> dict[str, set[str]]:
    """``expect_invalid`` entries (``checker`` or ``checker:kind``) as checker -> the kinds named
    (empty: any violation of that checker is the expected anomaly). Names are not checked here
    (the scenario spec does it when it loads)."""
    out: dict[str, set[str]] = {}
    for entry in entries:
        name, _, kind = entry.partition(":")
        kinds = out.setdefault(name.strip(), set())
        if kind.strip():
            kinds.add(kind.strip())
    return out


def expectation_problem(entries: Sequence[str], checkers: Sequence[str]) -> str | None:
    """Why ``expect_invalid`` entries are wrong for a scenario checking ``checkers`` (None when
    they are fine): an unknown checker, one not in the list, a kind that checker does not report,
    or a checker named both alone and with kinds."""
    for entry in entries:
        name, sep, kind = (s.strip() for s in entry.partition(":"))
        if name not in CHECKERS:
            return f"'{entry}': unknown checker '{name}'; known: {', '.join(sorted(CHECKERS))}"
        if name not in checkers:
            return f"'{entry}': checker '{name}' is not in the checkers list"
        if sep and kind not in KINDS_OF[name]:
            known = ", ".join(sorted(KINDS_OF[name]))
            return f"'{entry}': '{name}' reports no kind '{kind}'; its kinds: {known}"
    alone = {e.strip() for e in entries if ":" not in e}
    both = sorted(alone & {e.partition(":")[0].strip() for e in entries if ":" in e})
    if both:
        return f"'{both[0]}' is named both alone (any kind) and with kinds; name one or the other"
    return None


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
    "KINDS_OF",
    "MAX_EXAMPLES",
    "Checker",
    "Status",
    "Verdict",
    "build_checkers",
    "checker_params",
    "expectation_problem",
    "expected_kinds",
    "fold",
    "run_checkers",
]
