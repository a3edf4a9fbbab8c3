"""The unbounded-growth figures of one MongoDB variant (:mod:`harness.workload.mongo_plane.growth`):
storage over time, its slope, the bytes one event costs, how late deletion ran, and those bytes at
the capstone's scale (1B events a day: 18 months kept, as the case study's collection was, or the
standard class's 90 days)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.metrics.trend import slope_per_s
from harness.workload.mongo_plane.growth import GrowthCounts, StorageSample

EVENTS_PER_DAY = 1_000_000_000  # the capstone's ingest
DAYS_18_MONTHS = 548  # the case study's collection: 18 months of data, never deleted
DAYS_STANDARD = 90  # the standard retention class


def storage_summary(g: GrowthCounts, retention_ms: int, retention: str) -> dict[str, Any]:
    s = g.samples
    out: dict[str, Any] = {
        "retention": retention,
        "retention_ms": retention_ms,
        "stored": g.stored,
        "refused": g.refused,
        "retention_reads": g.checks,
        "cleanup_deleted": g.cleanup_deleted,
        "cleanup_batches": g.cleanup_batches,
        "cleanup_errors": g.cleanup_errors,
        # (s, documents, data bytes, storage bytes, index bytes, oldest age ms)
        "series": [
            (x.t_s, x.documents, x.data_bytes, x.storage_bytes, x.index_bytes, x.oldest_age_ms) for x in s
        ],
    }
    if len(s) < 2:
        return out
    last = s[-1]
    half = s[len(s) // 2 :]
    per_event = bytes_per_event(s)
    lags = deletion_lags(s, retention_ms)
    out |= {
        "documents_end": last.documents,
        "documents_peak": max(x.documents for x in s),
        "data_bytes_end": last.data_bytes,
        "storage_bytes_end": last.storage_bytes,
        "index_bytes_end": last.index_bytes,
        "slope_docs_per_s_second_half": slope_per_s([(x.t_s, x.documents) for x in half]),
        "slope_bytes_per_s_second_half": slope_per_s([(x.t_s, x.data_bytes + x.index_bytes) for x in half]),
        "bytes_per_event": None if per_event is None else round(per_event, 1),
        "deletion_lag_ms_max": max(lags) if lags else None,
        "deletion_lag_ms_mean": round(sum(lags) / len(lags), 1) if lags else None,
    }
    slope = out["slope_bytes_per_s_second_half"]
    if slope is not None:
        out["gb_per_hour_at_run_rate"] = round(slope * 3600 / 1e9, 3)
    if per_event is not None:
        out["capstone_tb_after_18_months"] = round(per_event * EVENTS_PER_DAY * DAYS_18_MONTHS / 1e12, 1)
        out["capstone_tb_kept_90_days"] = round(per_event * EVENTS_PER_DAY * DAYS_STANDARD / 1e12, 1)
    return out


def bytes_per_event(s: Sequence[StorageSample]) -> float | None:
    """Data plus index bytes per document, from the first sample to the one holding the most
    documents (None when the count never rose)."""
    peak = max(s, key=lambda x: x.documents)
    grew = peak.documents - s[0].documents
    if grew <= 0:
        return None
    return (peak.data_bytes + peak.index_bytes - s[0].data_bytes - s[0].index_bytes) / grew


def deletion_lags(s: Sequence[StorageSample], retention_ms: int) -> list[float]:
    """How long past its retention the oldest document still stood, per sample (0 when on time).
    Samples before anything could have expired, or of an empty collection, say nothing."""
    return [
        round(max(0.0, x.oldest_age_ms - retention_ms), 1)
        for x in s
        if x.oldest_age_ms is not None and x.t_s * 1000 >= retention_ms
    ]
