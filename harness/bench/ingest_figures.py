"""What the ingestion benchmark (:mod:`harness.bench.ingest`) reports from its measured runs: one
run's totals over its driver processes, and the summary figures (recording overhead, the server's
CPU per event and the ceiling it implies, throughput, the ratio to ``redis-cli --pipe``) judged
against the targets. Pure arithmetic on the runs' results; nothing here measures.
"""

from __future__ import annotations

from typing import Any

TARGET_EVENTS_S, TARGET_PIPE_RATIO, TARGET_OVERHEAD_PCT = 40_000, 0.5, 10.0


def run_totals(
    procs: int, mode: str, design: str, results: list[dict[str, Any]], wall: float, server_cpu: float
) -> dict[str, Any]:
    """One run of ``procs`` drivers (``results``: one per driver) over ``wall`` seconds, during
    which the server used ``server_cpu`` seconds: throughput over the slowest driver."""
    events = sum(r["events"] for r in results)
    return {
        "processes": procs,
        "recording": mode,
        "design": design,
        "events": events,
        "elapsed_s": round(wall, 3),
        "events_per_s": round(events / wall, 1),
        "errors": sum(r["errors"] for r in results),
        "admitted": sum(r["admitted"] for r in results),
        "generate_us_per_event": max(r["generate_us_per_event"] for r in results),
        "driver_cpu_us_per_event": max(r["driver_cpu_us_per_event"] for r in results),
        "server_cpu_us_per_event": round(server_cpu / max(events, 1) * 1e6, 2),
        "histograms": all(r["histograms"] for r in results),
    }


def summary(rec: dict[str, Any], unrec: dict[str, Any], pipe: dict[str, Any]) -> dict[str, Any]:
    """The headline figures from two processes direct, recorded (``rec``) and not (``unrec``), and
    the ``redis-cli --pipe`` replay (``pipe``, which may not have run)."""
    overhead = round((1 - rec["events_per_s"] / unrec["events_per_s"]) * 100, 1)
    ratio = round(rec["events_per_s"] / pipe["events_per_s"], 3) if "events_per_s" in pipe else None
    usec = pipe.get("server_cpu_us_per_event")
    histograms = "recorded (harness.metrics.hdr), per batch" if rec["histograms"] else "not recorded"
    return {
        "recording_overhead": {
            "overhead_pct": overhead,
            "histograms": histograms,
            "target_pct": TARGET_OVERHEAD_PCT,
            "pass": overhead <= TARGET_OVERHEAD_PCT,
        },
        "redis_cli_pipe": pipe,
        "server": {
            "cpu_us_per_event": usec,
            "what": "redis-server process CPU (user+sys, INFO cpu) per event during the pipe replay",
            "ceiling_events_per_s": round(1e6 / usec, 1) if usec else None,
            "cpu_us_per_event_under_drivers": rec["server_cpu_us_per_event"],
            "evalsha_usec_per_call": pipe.get("evalsha_usec_per_call"),
        },
        "generate_us_per_event": rec["generate_us_per_event"],
        "throughput": {
            "value": rec["events_per_s"],
            "what": "2 processes, direct, recorded (compact)",
            "best_unrecorded": unrec["events_per_s"],
            "target": TARGET_EVENTS_S,
            "pass": rec["events_per_s"] >= TARGET_EVENTS_S,
        },
        "pipe_ratio": {
            "value": ratio,
            "target": TARGET_PIPE_RATIO,
            "pass": ratio is not None and ratio >= TARGET_PIPE_RATIO,
        },
    }
