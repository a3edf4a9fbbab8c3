"""A finished run judged: per variant, the saved history streamed once through the checkers and
the metric folds; metrics.json from those folds and what the run kept in memory; the targets
judged over it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.metrics.hdr import OpLatencyFold
from harness.metrics.latency import EventLatencies, Throughput, percentiles
from harness.metrics.load import imbalance_ratio
from harness.metrics.recovery import RecoveryFold
from harness.records import (
    FAULT_FIGURES,
    DriverFigures,
    FaultRecord,
    FaultsSummary,
    HdrRecord,
    HealthyAgain,
    Invariant,
    MasterLoad,
    OpPercentiles,
    Outcomes,
    Percentiles,
    RecoveryFigures,
    RunMetrics,
    RunResults,
    TargetResult,
    Timeseries,
    VariantMetrics,
    VariantResult,
    WorkloadFigures,
    write_record,
)
from harness.scenario.judge import (
    HISTORY,
    check_variant,
    evaluate_targets,
    mark_expected,
)
from harness.scenario.kinds import kind_of
from harness.scenario.planes import plane_skips, with_scenario_needs
from harness.scenario.play import VariantRun
from harness.scenario.spec import ScenarioSpec


def _variant_metrics(
    vr: VariantRun, groups: dict[str, list[float]], series: dict[str, Any], rate: float
) -> VariantMetrics:
    st = vr.stats
    completed = st.admitted + st.rate_limited
    achieved = completed / st.elapsed_s if st.elapsed_s > 0 else 0.0
    series["per_master_ops_per_s"] = vr.per_master_series
    per_master = [MasterLoad.model_validate(m) for m in vr.per_master]
    vm = VariantMetrics(
        per_master=per_master,
        imbalance_ratio=imbalance_ratio([m.share or 0.0 for m in per_master]),
        offered_rate=rate,
        achieved_rate=achieved,
        throughput_ratio=achieved / rate if rate else None,
        latency_ms={g: Percentiles.model_validate(percentiles(v)) for g, v in sorted(groups.items())},
        outcomes=Outcomes.model_validate(
            {
                **st.outcomes,
                "rate_limited": st.rate_limited,
                "unsent": st.unsent,
                "expire_errors": st.expire_errors,
                "final_read_failures": vr.final_read_failures,
            }
        ),
        driver=DriverFigures(
            max_lag_ms=st.max_lag_s * 1000, batches=st.batches, elapsed_s=st.elapsed_s, settle_s=vr.settle_s
        ),
        timeseries=Timeseries.model_validate(series),
    )
    if vr.workload:  # the platform's own figures; other workloads write none
        vm.workload = WorkloadFigures.model_validate(vr.workload)
    return vm


def _number(val: Any) -> bool:
    return isinstance(val, int | float) and not isinstance(val, bool)


def _numbers_of(prefix: str, val: Any, depth: int) -> dict[str, int | float | None]:
    """``val`` (a number, or a map of them up to ``depth`` levels) as flat ``prefix_key`` numbers;
    anything else (text, flags, lists) as nothing."""
    if _number(val):
        return {prefix: val}
    if val is None:  # a missing percentile inside a map of them (the caller drops top-level ones)
        return {prefix: None}
    if not isinstance(val, dict) or depth == 0:
        return {}
    out: dict[str, int | float | None] = {}
    for sub, x in val.items():
        out |= _numbers_of(f"{prefix}_{sub}".replace("-", "_"), x, depth - 1)
    return out


def invariant_numbers(verdicts: list[Invariant]) -> dict[str, dict[str, int | float | None]]:
    """Each verdict's violation count and numeric totals, under a name targets can address
    (``<variant>.invariants.acknowledged_increments_survive.lost``); a detail that is a map of
    numbers (percentiles, counts by kind, tallies by read preference) is addressed as
    ``<detail>_<key>[_<key>]`` (``invariants.read_your_writes.staleness_ms_p99``)."""
    out: dict[str, dict[str, int | float | None]] = {}
    for v in verdicts:
        numbers: dict[str, int | float | None] = {"violations": v.violations}
        for k, val in v.details.items():
            if val is not None:
                numbers |= _numbers_of(k, val, 2)
        out[str(v.name).replace("-", "_")] = numbers
    return out


def faults_summary(figures: list[RecoveryFigures]) -> FaultsSummary:
    """The worst of each per-fault figure, over all faults and per fault kind, for targets
    (``after.faults_summary.errors_until_ms``, ``before.faults_summary.kill.errors_until_ms``)."""

    def worst(figs: list[RecoveryFigures]) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for key in FAULT_FIGURES:
            vals = [v for f in figs if isinstance(v := getattr(f, key), int | float)]
            out[key] = max(vals) if vals else None
        return out

    per_kind = {
        kind.replace("-", "_"): worst([f for f in figures if str(f.fault) == kind])
        for kind in sorted({str(f.fault) for f in figures})
    }
    return FaultsSummary.model_validate(worst(figures) | per_kind)


def judge_run(
    spec: ScenarioSpec, results: RunResults, runs: list[VariantRun], run_dir: Path, rate: float
) -> None:
    """Judges every variant that ran into ``results`` and writes metrics.json; the targets are
    judged only when every variant ran (else each is ``unknown``)."""
    metrics = RunMetrics(variants={})  # set, so written even when no variant ran (as before)
    for vr in runs:
        vm = metrics.variants[vr.spec.name] = _judge_variant(spec, results, vr, run_dir, rate)
        st = vr.stats
        results.variants.append(
            VariantResult(
                name=vr.spec.name,
                description=vr.spec.description,
                offered_rate=rate,
                duration_s=st.elapsed_s,
                events_offered=st.offered,
                events_sent=st.sent,
                achieved_rate=vm.achieved_rate,
                whale_shards=vr.spec.whale_shards,
            )
        )
    write_record(run_dir / "metrics.json", metrics)
    if runs and len(runs) == len(spec.variants):
        results.targets = evaluate_targets(spec.targets, metrics, results.planes)
    else:
        results.targets = [
            TargetResult(
                name=t.name,
                description=t.description,
                metric=t.metric,
                value=None,
                op=t.op,
                threshold=t.threshold,
                status="unknown",
            )
            for t in spec.targets
        ]


def _judge_variant(
    spec: ScenarioSpec, results: RunResults, vr: VariantRun, run_dir: Path, rate: float
) -> VariantMetrics:
    """One pass over the variant's history: the checkers' verdicts (into ``results``) and the
    metric folds tapped into the same pass."""
    name = vr.spec.name
    whale = spec.workload.whale.tenant if spec.workload.whale else None
    kind = kind_of(spec.workload.kind)
    latencies = EventLatencies({whale: "whale"} if whale else {}, kind.latency_ops)
    throughput = Throughput(vr.start_ns, max(1, round(vr.stats.elapsed_s)), f=kind.counted_ops)
    recovery = RecoveryFold()
    by_op = OpLatencyFold(vr.start_ns)
    notes = list(results.check_notes)
    verdicts = check_variant(
        run_dir / HISTORY,
        name,
        spec.checkers,
        spec.checker_params,
        source=f"scenario {spec.name}",
        sinks=[latencies.observe, throughput.observe, recovery.observe, by_op.observe],
        skip=plane_skips(
            spec.checkers,
            results.planes,
            with_scenario_needs(kind.checker_planes(vr.spec), spec.checker_needs),
        ),
        notes=notes,
    )
    if notes != results.check_notes:  # damage the loader tolerated (a torn tail): the report says so
        results.check_notes = notes
    mark_expected(verdicts, {name: vr.spec.expect_invalid})
    results.invariants += verdicts
    vm = _variant_metrics(vr, latencies.result(), throughput.result(), rate)
    vm.invariants = invariant_numbers(verdicts)
    vm.latency_by_op = {f: OpPercentiles.model_validate(q) for f, q in by_op.hist.summary().items()}
    vm.hdr = HdrRecord.model_validate(by_op.hist.to_dict())  # per 1 s window too, base64, mergeable
    if spec.schedule is not None:
        figures = [RecoveryFigures.model_validate(f) for f in recovery.finish()]
        vm.start_ms = round(vr.start_ns / 1e6, 3)
        vm.recovery = figures
        vm.faults_summary = faults_summary(figures)
        vm.healthy_again = None if vr.healthy_again is None else HealthyAgain.model_validate(vr.healthy_again)
        results.faults += [FaultRecord.model_validate(f) for f in vr.faults]
    return vm
