"""Judging a run from its saved files only: checkers over ``history.jsonl`` (streamed, one pass per
variant), targets over ``metrics.json``, and the overall verdict. The runner uses it after a run;
``harness check`` uses it to re-judge a saved run directory.

What judging needs beyond the files is saved in ``results.json`` under ``"checking"`` at run time:
the checker names, their parameters, the target specs and the planes a variant's checkers need where
its data paths make them differ (``needs_plane``), so a run can be re-checked even after its
scenario file changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from harness.checkers import build_checkers, expected_kinds, run_checkers
from harness.errors import HarnessError
from harness.history.digest import file_digest
from harness.history.loader import Op, stream_ops
from harness.records import (
    Checking,
    HistoryDigest,
    Invariant,
    Plane,
    RunMetrics,
    RunResults,
    TargetResult,
    load_record,
    write_record,
)
from harness.scenario.kinds import kind_of
from harness.scenario.planes import NEEDS_PLANE, plane_skips, with_scenario_needs
from harness.scenario.spec import ScenarioSpec, TargetSpec, VariantSpec, load_scenario
from harness.scenario.targets import evaluate

HISTORY = "history.jsonl"
RESULTS = "results.json"
METRICS = "metrics.json"


def checking_config(spec: ScenarioSpec) -> Checking:
    """What ``results.json`` keeps so that the run can be re-judged from its files alone."""
    return Checking(
        checkers=list(spec.checkers),
        checker_params={k: dict(v) for k, v in spec.checker_params.items()},
        targets=[t.model_dump() for t in spec.targets],
        expect_invalid={v.name: list(v.expect_invalid) for v in spec.variants if v.expect_invalid},
        needs_plane={v.name: needs for v in spec.variants if (needs := _needs(spec, v)) != NEEDS_PLANE},
    )


def _needs(spec: ScenarioSpec, variant: VariantSpec) -> dict[str, str]:
    """The planes a variant's checkers need: its data paths' (as its workload kind says, the rule the
    run judged by), then the scenario's own ``checker_needs``."""
    return with_scenario_needs(kind_of(spec.workload.kind).checker_planes(variant), spec.checker_needs)


def mark_expected(invariants: Sequence[Invariant], expect_invalid: Mapping[str, Sequence[str]]) -> None:
    """Tags the invariants a variant is meant to violate (the case study's failure, shown by the
    ``before`` variant), so the verdict can tell a reproduced anomaly from an unexpected one.
    Entries are ``checker`` (any violation of it) or ``checker:kind`` (only the kinds named)."""
    for inv in invariants:
        wanted = expected_kinds(expect_invalid.get(str(inv.variant), ()))
        if inv.name in wanted:
            inv.expected = "invalid"
            if wanted[inv.name]:
                inv.expected_kinds = sorted(wanted[inv.name])


def _tap(ops: Iterable[Op], sinks: Sequence[Callable[[Op], None]]) -> Iterator[Op]:
    for op in ops:
        for sink in sinks:
            sink(op)
        yield op


def check_variant(
    history: Path,
    variant: str,
    checkers: Sequence[str],
    params: Mapping[str, Mapping[str, Any]],
    source: str = "checkers",
    sinks: Sequence[Callable[[Op], None]] = (),
    skip: Mapping[str, str] | None = None,
    notes: list[str] | None = None,
) -> list[Invariant]:
    """One variant's ops (by their ``variant`` field), streamed from disk through fresh checkers in
    one pass. ``sinks`` see every op of that pass too (the runner's metrics), so the history is read
    once per variant; run_checkers reads to the end even when every checker has crashed. Checkers
    in ``skip`` are not run and reported ``not_run`` with the reason given. Damage the loader
    tolerates (a torn last line) is added to ``notes`` once, however many variants are checked."""
    skip = skip or {}
    run = [c for c in checkers if c not in skip]
    damage: list[str] = []
    ops = (op for op in stream_ops(history, damage=damage) if op.invoke.get("variant", "") == variant)
    verdicts = run_checkers(
        build_checkers(run, {k: v for k, v in params.items() if k in run}, source=source), _tap(ops, sinks)
    )
    if notes is not None:
        notes += [d for d in damage if d not in notes]
    done = {v.name: Invariant(variant=variant, **v.to_dict()) for v in verdicts}
    return [
        done[c]
        if c in done
        else Invariant(variant=variant, name=c, status="not_run", summary=skip[c], violations=0, examples=[])
        for c in checkers
    ]


def evaluate_targets(
    specs: Sequence[TargetSpec], metrics: RunMetrics, planes: Mapping[str, Plane] | None = None
) -> list[TargetResult]:
    return [evaluate(t, metrics, planes) for t in specs]


def overall_verdict(results: RunResults) -> tuple[str, str]:
    if results.error:
        return "error", results.error

    # An invariant a variant is meant to violate passes when it is invalid (the anomaly was
    # reproduced: with kinds named, one of them and no other) and fails otherwise (valid: the case
    # was not reproduced; unknown: cannot tell; another kind: an anomaly nobody expected).
    def good(i: Invariant) -> bool:
        return i.anomaly_reproduced() if i.expected == "invalid" else i.status == "valid"

    # A check whose plane did not run is neither good nor bad: it is reported, never counted as valid.
    judged = [i for i in results.invariants if i.status != "not_run"]
    not_run = len(results.invariants) - len(judged)
    bad_inv = [i for i in judged if not good(i)]
    # A target measured through a stand-in server is shown, never counted either way.
    targets = [t for t in results.targets if t.status != "not_run"]
    bad_tgt = [t for t in targets if t.status != "pass"]
    reproduced = sum(1 for i in judged if i.expected == "invalid" and good(i))
    if not judged and not targets and (not_run or results.targets):
        return "not_run", _nothing_judged(results)
    if not bad_inv and not bad_tgt:
        n_valid = len(judged) - reproduced
        parts = [f"all {len(targets)} targets met"] if targets or not results.targets else []
        if n_valid:
            parts.append(f"all {n_valid} invariant checks valid")
        if reproduced:
            parts.append(f"{reproduced} expected anomal{'y' if reproduced == 1 else 'ies'} reproduced")
        parts = parts or ["nothing failed"]
        reason = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
        if not_run:
            reason += f"; {not_run} check{'s' if not_run > 1 else ''} not run (see why)"
        unjudged = len(results.targets) - len(targets)
        if unjudged:
            reason += (
                f"; {unjudged} target{'s' if unjudged > 1 else ''} not judged (measured through a stand-in)"
            )
        return "pass", reason
    parts = [f"{t.name}: {t.status}" for t in bad_tgt] + [f"{i.variant}/{i.name}: {_why(i)}" for i in bad_inv]
    return "fail", "; ".join(parts)


def _nothing_judged(results: RunResults) -> str:
    """The reason of a run in which every check and target was not run here: a pass would prove
    nothing, so the verdict is ``not_run``, naming the first reason of each kind."""
    reasons = list(dict.fromkeys(str(i.summary) for i in results.invariants if i.summary))
    reasons += list(dict.fromkeys(str(t.reason) for t in results.targets if t.reason))
    n_checks, n_targets = len(results.invariants), len(results.targets)
    what = " and ".join(
        part
        for part in (
            f"{n_checks} check{'s' if n_checks != 1 else ''}" if n_checks else "",
            f"{n_targets} target{'s' if n_targets != 1 else ''}" if n_targets else "",
        )
        if part
    )
    return f"nothing judged here: {what} not run" + (f" ({'; '.join(reasons[:2])})" if reasons else "")


def _why(i: Invariant) -> str:
    """A failed invariant's status, and for an expected anomaly what went wrong."""
    if i.expected != "invalid":
        return str(i.status)
    other = i.unexpected_kinds()
    should = f"(this variant should show only {', '.join(i.expected_kinds)})"
    if i.status == "invalid" and other:
        return f"invalid with unexpected kinds {', '.join(other)} {should}"
    if i.status == "invalid" and i.expected_kinds:
        return f"invalid with no kind counted {should}"
    return f"{i.status} (the anomaly this variant should show did not appear)"


def _config(results: RunResults, path: Path) -> tuple[Checking, str | None]:
    """The saved checking config, or (for runs saved before it existed) the scenario file's."""
    if results.checking is not None:
        return results.checking, None
    if results.scenario is None:
        raise HarnessError(f"{path}: has neither 'checking' nor 'scenario': which checkers to run?")
    spec = load_scenario(results.scenario)
    return checking_config(spec), f"checker config taken from the current scenario file '{results.scenario}'"


def verify_history(history: Path, recorded: HistoryDigest | None) -> str | None:
    """Compares ``history`` with what the run recorded writing to it (``results.json``
    ``history``): a difference (a line dropped, added or edited since) raises :class:`HarnessError`
    naming it. Returns a note when the run recorded nothing to compare with."""
    if recorded is None:
        return (
            f"results.json records no '{HISTORY}' digest (a run from before it was recorded, or one "
            "cut short): the history's integrity could not be verified"
        )
    found = file_digest(history)
    wrote = (recorded.records, recorded.size, recorded.sha256)
    if (found.lines, found.size, found.sha256) == wrote:
        return None
    diffs = [
        f"{what} {now} (the run wrote {then})"
        for what, now, then in (
            ("lines", found.lines, recorded.records),
            ("bytes", found.size, recorded.size),
            ("sha256", found.sha256, recorded.sha256),
        )
        if now != then
    ]
    raise HarnessError(
        f"{history}: not the history the run wrote ({'; '.join(diffs)}): a line was dropped, added or "
        "edited since the run, so its verdict cannot be trusted; not judged"
    )


def recheck_record(run_dir: Path) -> RunResults:
    """Re-judges a saved run directory in place: rewrites ``results.json`` (invariants, targets,
    verdict); the caller re-renders. Raises :class:`HarnessError` naming a missing or bad file, or
    a history that is not the one the run recorded (:func:`verify_history`)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise HarnessError(f"{run_dir}: no such run directory (expected reports/<scenario>/<run-id>/)")
    res_path = run_dir / RESULTS
    results = load_record(res_path, RunResults, "is this a run directory (reports/<scenario>/<run-id>/)?")
    history = run_dir / HISTORY
    if not history.is_file():
        raise HarnessError(f"{history}: not found; a run directory needs its history to be re-checked")
    notes = [n for n in [verify_history(history, results.history)] if n]
    config, note = _config(results, res_path)
    try:
        targets = [TargetSpec.model_validate(t) for t in config.targets]
    except ValidationError as exc:
        raise HarnessError(f"{res_path}: field 'checking.targets': {exc.errors()[0]['msg']}") from exc
    checkers, params = config.checkers, config.checker_params
    damage: list[str] = []
    results.invariants = [
        inv
        for v in [v.name for v in results.variants if v.name is not None]
        for inv in check_variant(
            history,
            v,
            checkers,
            params,
            f"{res_path}",
            skip=plane_skips(checkers, results.planes, config.needs_plane.get(v) or NEEDS_PLANE),
            notes=damage,
        )
    ]
    mark_expected(results.invariants, config.expect_invalid)
    metrics_path = run_dir / METRICS
    metrics = (
        load_record(metrics_path, RunMetrics, "targets need the run's metrics")
        if metrics_path.exists()
        else RunMetrics()
    )
    results.targets = evaluate_targets(targets, metrics, results.planes)
    if not metrics_path.exists() and targets:
        note = "; ".join(filter(None, [note, f"{METRICS} missing: targets unknown"]))
    notes += [n for n in [note] if n] + damage
    if notes:
        results.check_notes = notes
    else:  # no notes: the key is not written at all
        results.check_notes = []
        results.model_fields_set.discard("check_notes")
    results.checking = config
    results.rechecked_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    results.verdict, results.verdict_reason = overall_verdict(results)
    if damage:  # a verdict over a damaged history names the damage
        results.verdict_reason = "; ".join([results.verdict_reason, *damage])
    write_record(res_path, results)
    return results
