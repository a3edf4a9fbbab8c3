"""Typed models of a run directory's two record files: ``results.json`` (what was run and how it was
judged) and ``metrics.json`` (per variant, the figures targets are judged on), and of a nightly's
``nightly.json`` (many runs, their key figures and trends).

The files stay what they were: every model keeps unknown keys (``extra="allow"``, so a run written
by an older or newer harness loads and is written back whole), and :meth:`Record.dump` writes only
the keys that were set, so a key the runner leaves out (``workload`` outside the platform, a
target's ``reason``) stays out. Numbers that may be ints on disk are typed ``int | float`` so that
``4000`` is not written back as ``4000.0``.

:func:`salvage` loads a file that may be damaged or hand-edited, as the report must: what does not
fit the model is dropped (and named) instead of failing the whole file.
:func:`metric_path_problem` checks a target's metric path against :class:`VariantMetrics`.

A leaf of the harness: of it, it imports only :mod:`harness.errors`.
"""

from __future__ import annotations

from harness.records.base import Number, R, Record
from harness.records.io import load_record, salvage, write_record
from harness.records.metrics import (
    FAULT_FIGURES,
    CacheFigures,
    DriverFigures,
    DuringCounts,
    FaultFigures,
    FaultsSummary,
    HdrRecord,
    HealthyAgain,
    IngestFigures,
    MasterLoad,
    MongoFigures,
    OpPercentiles,
    Outcomes,
    Percentiles,
    QueueFigures,
    RateWindow,
    ReadFigures,
    RecoveryFigures,
    RunMetrics,
    SessionFigures,
    Timeseries,
    VariantMetrics,
    WorkloadFigures,
)
from harness.records.nightly import (
    TREND_STATES,
    Band,
    NightlyFigure,
    NightlyRecord,
    NightlyScenario,
    TrendPoint,
)
from harness.records.paths import KeyRule, MetricKeys, metric_path_problem
from harness.records.results import (
    Capacity,
    Checking,
    FaultRecord,
    HistoryDigest,
    Invariant,
    NodeInfo,
    Plane,
    RunOptionsRecord,
    RunResults,
    Substrate,
    TargetResult,
    VariantResult,
)

__all__ = [
    "FAULT_FIGURES",
    "TREND_STATES",
    "Band",
    "CacheFigures",
    "Capacity",
    "Checking",
    "DriverFigures",
    "DuringCounts",
    "FaultFigures",
    "FaultRecord",
    "FaultsSummary",
    "HdrRecord",
    "HealthyAgain",
    "HistoryDigest",
    "IngestFigures",
    "Invariant",
    "KeyRule",
    "MasterLoad",
    "MetricKeys",
    "MongoFigures",
    "NightlyFigure",
    "NightlyRecord",
    "NightlyScenario",
    "NodeInfo",
    "Number",
    "OpPercentiles",
    "Outcomes",
    "Percentiles",
    "Plane",
    "QueueFigures",
    "R",
    "RateWindow",
    "ReadFigures",
    "Record",
    "RecoveryFigures",
    "RunMetrics",
    "RunOptionsRecord",
    "RunResults",
    "SessionFigures",
    "Substrate",
    "TargetResult",
    "Timeseries",
    "TrendPoint",
    "VariantMetrics",
    "VariantResult",
    "WorkloadFigures",
    "load_record",
    "metric_path_problem",
    "salvage",
    "write_record",
]
