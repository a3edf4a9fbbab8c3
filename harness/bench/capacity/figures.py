"""What a Redis capacity run reports from its measured steps: the per-event figures at the knee,
the load's own ceiling, the comparison with ``redis-cli --pipe`` and the sizing. Arithmetic on the
run's saved figures only; nothing here measures."""

from __future__ import annotations

import math
from typing import Any

from harness.metrics.sizing import Measured, size

TARGET_PIPE_RATIO = 0.10  # the knee within 10% of the pipe's ceiling


def knee_step(res: dict[str, Any]) -> dict[str, Any] | None:
    """The measured step at the knee (the highest passing rate), if a knee was found (a knee not
    reached is only a lower bound: nothing is extrapolated from it)."""
    if res["knee"]["status"] != "found":
        return None
    rate = res["knee"]["knee_rate"]
    return next((s for s in res["steps"] if s["offered"] == rate), None)


def per_event(res: dict[str, Any]) -> dict[str, Any]:
    """Per-event figures at the knee step, and memory per event over every step (``used_memory``
    grown ÷ events applied) and per key class (``MEMORY USAGE``)."""
    at = knee_step(res)
    steps = res["steps"]
    events = sum(s["events"] for s in steps)
    grown = sum(s["per_event"]["memory_bytes"] * s["events"] for s in steps)
    ds = res["memory"]["dataset"]
    return {
        "at": "the knee step" if at else "no knee: not computed",
        **(at["per_event"] if at else {}),
        "memory_bytes_per_event_all_steps": round(grown / events, 1) if events else None,
        "memory_bytes_per_key": round(ds["used_memory"] / ds["keys"], 1) if ds["keys"] else None,
        "key_classes": {k: v for k, v in res["memory"].items() if k != "dataset"},
    }


def load_ceiling(res: dict[str, Any], cpus: int) -> dict[str, Any]:
    """Where the load processes themselves would saturate, from their own CPU per event: each can
    send at most 1e6 / µs events/s on a whole core, and this machine leaves ``cpus - cap`` cores to
    them. Measured at the highest step's rate (their per-event cost falls as batches grow)."""
    top = max(res["steps"], key=lambda s: s["offered"])
    us = top["load_cpu_us_per_event"]
    cap = res["plan"]["cpu_cap_cores"]
    workers = top["workers"]
    per_core = 1e6 / us if us else None
    usable = min(workers, max(cpus - cap, 0.0))
    knee = res["knee"]
    return {
        "load_cpu_us_per_event": us,
        "workers": workers,
        "events_per_s_per_core": round(per_core, 0) if per_core else None,
        "ceiling_events_per_s": round(per_core * usable, 0) if per_core else None,
        "cores_for_load": usable,
        "load_bound": knee["status"] == "load_bound",
        "note": knee["note"] if knee["status"] == "load_bound" else "",
    }


def comparison(res: dict[str, Any]) -> dict[str, Any]:
    """The knee against the pipe's median ceiling: the ratio and whether it is within 10%."""
    knee, pipe = res["knee"]["knee_rate"], res["pipe"].get("events_per_s")
    if res["knee"]["status"] != "found" or not pipe:
        why = "no knee was found" if res["knee"]["status"] != "found" else "the pipe did not run"
        return {"status": "not_run", "reason": why, "target": TARGET_PIPE_RATIO}
    if not res["pipe"].get("errors_free", True):  # refused commands cost less: not the ceiling
        first = "; ".join(res["pipe"].get("first_errors") or []) or "see the log"
        why = f"redis-cli --pipe had error replies ({first}): its rate is not the stream's ceiling"
        return {"status": "not_run", "reason": why, "target": TARGET_PIPE_RATIO}
    ratio = knee / pipe
    return {
        "status": "ran",
        "knee_events_per_s": knee,
        "pipe_events_per_s": pipe,
        "ratio": round(ratio, 3),
        "target": TARGET_PIPE_RATIO,
        "met": abs(1 - ratio) <= TARGET_PIPE_RATIO,
    }


def sizing(res: dict[str, Any], fig: dict[str, Any]) -> dict[str, Any]:
    """The sizing table from the knee and the per-event figures (needs a knee and every key class)."""
    at = knee_step(res)
    kc = fig["key_classes"]
    missing = [k for k in ("counter", "hll", "timeline", "limiter") if not kc.get(k, {}).get("keys_sampled")]
    if at is None or missing:
        why = "no knee was found" if at is None else f"no keys of {', '.join(missing)} to measure"
        return {"status": "not_run", "reason": why}
    m = Measured(
        knee_events_s=float(at["achieved"]),
        cpu_cap_cores=float(res["plan"]["cpu_cap_cores"]),
        server_cpu_us_per_event=float(at["per_event"]["server_cpu_us"]),
        ops_per_event=float(at["per_event"]["ops"]),
        net_in_bytes_per_event=float(at["per_event"]["net_in_bytes"]),
        net_out_bytes_per_event=float(at["per_event"]["net_out_bytes"]),
        counter_key_bytes=float(kc["counter"]["bytes_per_key"]),
        hll_key_bytes=float(kc["hll"]["bytes_per_key"]),
        timeline_key_bytes=max(0.0, float(kc["timeline"]["key_bytes"])),
        timeline_member_bytes=float(kc["timeline"]["bytes_per_member"]),
        limiter_key_bytes=max(0.0, float(kc["limiter"]["key_bytes"])),
        limiter_member_bytes=float(kc["limiter"]["bytes_per_member"]),
    )
    return {"status": "ran", **size(m)}


def scaling(dist: dict[str, Any], peak: float = 100_000) -> dict[str, Any]:
    """Efficiency per added Locust worker, per core of load actually used, and the workers the
    peak would need, extrapolated from the best measured per-worker rate at that efficiency."""
    rows = dist.get("rows") or []
    if dist.get("status") != "ran" or not rows:
        return {"status": "not_run", "reason": dist.get("reason", "no rows")}
    one = rows[0]
    per_core_1 = one["achieved"] / one["load_cpu_cores"] if one["load_cpu_cores"] else None
    for r in rows:
        r["server_bound"] = r["server_cpu_cores"] >= 0.85 * dist["cpu_limit"]
        per_core = r["achieved"] / r["load_cpu_cores"] if r["load_cpu_cores"] else None
        r["per_load_core"] = round(per_core, 1) if per_core else None
        r["core_efficiency"] = round(per_core / per_core_1, 3) if per_core and per_core_1 else None
        # one event per request (no pipelining): what that costs the server per event
        r["server_cpu_us_per_event"] = (
            round(r["server_cpu_cores"] / r["achieved"] * 1e6, 1) if r["achieved"] else None
        )
    last = rows[-1]
    eff = last["efficiency"]
    per_worker = one["achieved"] * eff
    return {
        "status": "ran",
        "target_efficiency": 0.8,
        # up to the server's ceiling: a row where the server was the bound says nothing of the load
        "met": all(r["efficiency"] >= 0.8 for r in rows if not r["server_bound"]),
        "workers_for_peak": math.ceil(peak / per_worker) if per_worker else None,
        "load_cores_for_peak": math.ceil(peak / last["per_load_core"]) if last.get("per_load_core") else None,
        "peak": peak,
        "note": (
            f"extrapolated: {peak:,.0f} events/s / ({one['achieved']:,.0f} events/s of one worker x "
            f"{eff:g} efficiency at {last['workers']} workers); measured only up to {last['workers']} "
            "workers on this machine"
        ),
    }
