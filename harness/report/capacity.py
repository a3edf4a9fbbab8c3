"""``reports/capacity/<run-id>/index.html`` from that directory's ``results.json`` alone: the knee
plot (inline SVG), the steps, the per-event figures, the comparison with ``redis-cli --pipe``, the
load's own ceiling, and the sizing table beside the guide's estimates with every assumption.
Lenient: a run that errored or did not run still gets a page saying so."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from jinja2 import ChainableUndefined, Environment, FileSystemLoader
from markupsafe import Markup

from harness.metrics.knee import Step, step_failures
from harness.report import svg
from harness.report.format import DASH, fmt_num, fmt_pct
from harness.report.render import _write

Json = dict[str, Any]


#: a platform step's servers -> the key their CPU is drawn from (flattened from ``servers``)
SERVER_CPU = {"redis": "redis_cpu_cores", "mongo": "mongo_cpu_cores"}


def _flat(s: Json) -> Json:
    """A step with each server's CPU (a platform step's ``servers``) as a top-level key."""
    servers = s.get("servers") or {}
    return s | {k: (servers.get(n) or {}).get("cpu_cores") for n, k in SERVER_CPU.items() if n in servers}


def _per_rate(steps: list[Json]) -> list[Json]:
    """One point per offered rate: the median of its runs' figures (a rate repeated to confirm the
    knee would otherwise draw a vertical zigzag); the table lists every run."""
    groups: dict[Any, list[Json]] = {}
    for st in steps:
        groups.setdefault(st.get("offered"), []).append(st)

    def med(runs: list[Json], key: str) -> Any:
        vals = [r[key] for r in runs if isinstance(r.get(key), int | float)]
        return statistics.median(vals) if vals else None

    keys = ("achieved", "p99_ms", "p50_ms", "server_cpu_cores", *SERVER_CPU.values())
    return [{"offered": rate} | {k: med(runs, k) for k in keys} for rate, runs in sorted(groups.items())]


def _knee_charts(res: Json) -> list[Markup]:
    steps = _per_rate([_flat(s) for s in res.get("steps") or [] if isinstance(s.get("offered"), int | float)])
    if not steps:
        return []
    x: list[float] = [float(s["offered"]) for s in steps]
    knee = res.get("knee") or {}
    bands: list[tuple[float, float, str]] = []
    width = (max(x) - min(x)) / 80 if len(x) > 1 else 1.0
    if knee.get("knee_rate") is not None:
        k = float(knee["knee_rate"])
        bands.append((k - width, k + width, f"knee {k:,.0f}/s"))
    pipe = (res.get("pipe") or {}).get("events_per_s")
    flat = (res.get("ceiling") or {}).get("events_per_s")
    rate_series: list[svg.Series] = [("achieved", [s.get("achieved") for s in steps]), ("offered", x)]
    ceiling_name = "redis-cli --pipe ceiling" if pipe else "flat-out ceiling"
    if pipe or flat:
        rate_series.append((ceiling_name, [pipe or flat] * len(x)))
    plan = res.get("plan") or {}
    slo, cap = plan.get("slo_p99_ms"), plan.get("cpu_cap_cores")
    # Past saturation p99 runs to seconds and would flatten the SLO line: drawn up to 5 x the SLO
    # (the table has every value).
    top = 5 * float(slo) if slo else None
    p99: list[svg.Series] = [
        (name, [_clip(s.get(k), top) for s in steps]) for name, k in (("p99", "p99_ms"), ("p50", "p50_ms"))
    ]
    if slo:
        p99.append(("SLO", [slo] * len(x)))
    cpu: list[svg.Series] = [("server CPU", [s.get("server_cpu_cores") for s in steps])]
    servers = [n for n, k in SERVER_CPU.items() if all(s.get(k) is not None for s in steps)]
    if servers:  # the platform: each server's own CPU (both capped alike)
        cpu = [(f"{n} CPU", [s.get(SERVER_CPU[n]) for s in steps]) for n in servers]
    if cap:
        cpu.append(("cap", [cap] * len(x)))
    common: Json = {"x_label": "offered events/s", "bands": bands, "width": 580, "height": 300}
    return [
        Markup(svg.line_chart(x, rate_series, title="achieved vs offered", y_label="events/s",
                              dashed=("offered", ceiling_name), **common)),
        Markup(svg.line_chart(x, p99, title="event latency from its scheduled time (drawn up to 5 x SLO)",
                              y_label="ms",
                              dashed=("SLO",), **common)),
        Markup(svg.line_chart(x, cpu, title=_cpu_title(res), y_label="cores",
                              dashed=("cap",), **common)),
    ]  # fmt: skip


def _cpu_title(res: Json) -> str:
    if res.get("plane") == "platform":
        return "each server's CPU (Redis: INFO cpu; MongoDB plane: /proc/<pid>/stat)"
    if res.get("plane") == "mongo":
        return "server CPU (/proc/<pid>/stat, the kernel's count)"
    return "server CPU (INFO cpu)"


def _steps(res: Json) -> list[list[str]]:
    """Every run, by rate: its own verdict, and its rate's (a majority of its runs) when repeated."""
    verdicts = {v.get("offered"): v for v in (res.get("knee") or {}).get("verdicts") or []}
    slo = (res.get("plan") or {}).get("slo_p99_ms")
    rows = []
    for s in sorted(res.get("steps") or [], key=lambda s: s.get("offered", 0)):
        v = verdicts.get(s.get("offered"), {})
        try:
            own = step_failures(Step.from_dict(s), float(slo)) if slo else None
        except (KeyError, TypeError, ValueError):  # a hand-edited or torn results.json: no own verdict
            own = None
        text = DASH if own is None else "; ".join(own) or "pass"
        if v.get("runs", 1) > 1:
            rate = "pass" if v.get("pass") else "FAIL"
            text += f" (rate: {v.get('passes')} of {v.get('runs')} runs passed: {rate})"
        rows.append(
            [str(s.get("step", DASH))]
            + [fmt_num(s.get(k)) for k in ("offered", "achieved", "p50_ms", "p99_ms", "server_cpu_cores")]
            + [fmt_pct(s.get("load_starved")), fmt_pct(s.get("load_busy")), text]
        )
    return rows


def _sizing(res: Json) -> Json:
    sz = res.get("sizing") or {}
    rows = [
        {
            "plane": r.get("plane"),
            "quantity": r.get("quantity"),
            "ours": "not measured" if r.get("ours") is None else fmt_num(_round(r.get("ours"))),
            "guide": fmt_num(r.get("guide")) if r.get("guide") is not None else "not given",
            "unit": r.get("unit"),
            "guide_note": r.get("guide_note"),
            "basis": r.get("basis"),
        }
        for r in sz.get("rows") or []
    ]
    return {"status": sz.get("status"), "reason": sz.get("reason"), "rows": rows, "title": sz.get("title"),
            "assumptions": [{**a, "value": fmt_num(a.get("value"))} for a in sz.get("assumptions") or []],
            "measured": sz.get("measured") or {}}  # fmt: skip


def _clip(v: Any, top: float | None) -> Any:
    return min(v, top) if top is not None and isinstance(v, int | float) else v


def _round(v: Any) -> Any:
    return round(v, 2) if isinstance(v, float) else v


def _facts(res: Json) -> list[tuple[str, str]]:
    knee, cmp_, load = res.get("knee") or {}, res.get("comparison") or {}, res.get("load") or {}
    pipe = res.get("pipe") or {}
    cap = (res.get("capacity") or {}).get("cpu_limit")
    return [
        ("plane", str(res.get("plane", DASH))),
        ("server", str(res.get("server", DASH))),
        ("knee", f"{fmt_num(knee.get('knee_rate'))} events/s offered ({knee.get('status', DASH)})"),
        ("knee confirmed", _confirmed(knee)),
        ("achieved at the knee", f"{fmt_num(knee.get('knee_achieved'))} events/s"),
        ("redis-cli --pipe (median)", f"{fmt_num(pipe.get('events_per_s'))} events/s"),
        (
            "knee / pipe",
            f"{fmt_num(cmp_.get('ratio'))} (target: within {fmt_pct(cmp_.get('target'))})"
            if cmp_.get("status") == "ran"
            else f"not compared: {cmp_.get('reason', DASH)}",
        ),
        ("server CPU cap", f"{fmt_num(cap)} cores" if cap else "none"),
        ("keyspace at the start", _keyspace(res.get("keyspace") or {})),
        (
            "load",
            f"{fmt_num(load.get('workers'))} processes; "
            f"ceiling ≈ {fmt_num(load.get('ceiling_events_per_s'))}/s",
        ),
        ("load average", f"{_loadavg(res, 'loadavg_start')} → {_loadavg(res, 'loadavg_end')}"),
        ("started", str(res.get("started_at", DASH))),
    ]


def _confirmed(knee: Json) -> str:
    """Whether the knee's rate and the failures below it were repeated as the search asks."""
    if knee.get("knee_rate") is None or "confirmed" not in knee:
        return DASH
    runs = next(
        (v.get("runs", 1) for v in knee.get("verdicts") or [] if v.get("offered") == knee["knee_rate"]), 1
    )
    if knee["confirmed"]:
        return (
            f"yes: its rate passed a majority of {runs} run(s); "
            "the failures below it and the first above had as many"
        )
    short = ", ".join(f"{fmt_num(u.get('offered'))}/s" for u in knee.get("unconfirmed") or [])
    return f"no: {short} short of {knee.get('confirm_runs')} runs"


def _keyspace(ks: Json) -> str:
    """The filler the search started on and whether the tables doubled during the run anyway."""
    filler = ks.get("filler") or {}
    if not filler:
        return DASH
    if not filler.get("keys"):
        return str(filler.get("note") or "empty")
    settled = {True: "settled", False: "still rehashing", None: "table state unknown"}[filler.get("settled")]
    buckets = ((filler.get("tables") or {}).get("main") or {}).get("buckets")
    text = (
        f"{fmt_num(filler['keys'])} filler keys ({fmt_num(filler.get('used_memory', 0) / 1e6)} MB), "
        f"tables {fmt_num(buckets)} buckets, {settled}"
    )
    grew = ks.get("grew")
    if grew is None:
        return f"{text}; whether it doubled during the run is unknown"
    return (
        f"{text}; {ks.get('note') or 'doubled during the run'}"
        if grew
        else f"{text}; not doubled during the run"
    )


def _loadavg(res: Json, key: str) -> str:
    v = (res.get("machine") or {}).get(key)
    return " ".join(f"{x:.2f}" for x in v) if isinstance(v, list) else DASH


def _badge(res: Json) -> tuple[str, str, str]:
    status, cmp_ = res.get("status"), res.get("comparison") or {}
    knee = (res.get("knee") or {}).get("status")
    if status != "ran":
        why = str(res.get("reason") or res.get("error") or "results.json has no status")
        return (
            str(status or "error").upper().replace("_", " "),
            "unknown" if status == "not_run" else "error",
            why,
        )
    if knee != "found":
        return "NO KNEE", "fail", str((res.get("knee") or {}).get("note") or knee)
    if cmp_.get("status") != "ran":
        return "NOT COMPARED", "unknown", str(cmp_.get("reason") or "no comparison in results.json")
    met = cmp_.get("met")
    why = f"knee {fmt_num(cmp_.get('ratio'))} × the pipe's ceiling"
    return ("WITHIN 10%" if met else "OFF TARGET"), ("pass" if met else "fail"), why


def _facts_mongo(res: Json) -> list[tuple[str, str]]:
    knee, cmp_, ceil = res.get("knee") or {}, res.get("comparison") or {}, res.get("ceiling") or {}
    cap = (res.get("capacity") or {}).get("cpu_limit")
    facts = [
        ("plane", str(res.get("plane", DASH))),
        ("server", str(res.get("server", DASH))),
        ("knee", f"{fmt_num(knee.get('knee_rate'))} events/s offered ({knee.get('status', DASH)})"),
        ("knee confirmed", _confirmed(knee)),
        ("achieved at the knee", f"{fmt_num(knee.get('knee_achieved'))} events/s"),
        ("flat-out ceiling (median)", f"{fmt_num(ceil.get('events_per_s'))} events/s"),
        ("knee / flat-out", fmt_num(cmp_.get("ratio"))),
        ("server CPU cap", f"{fmt_num(cap)} cores each" if cap else "none"),
        ("load average", f"{_loadavg(res, 'loadavg_start')} → {_loadavg(res, 'loadavg_end')}"),
        ("started", str(res.get("started_at", DASH))),
    ]
    neck = res.get("bottleneck")
    if neck:
        facts.insert(4, ("saturated first", str(neck.get("server") or "neither")))
    return facts


def _badge_mongo(res: Json) -> tuple[str, str, str]:
    knee = res.get("knee") or {}
    if knee.get("status") != "found":
        return "NO KNEE", "fail", str(knee.get("note") or knee.get("status"))
    cmp_ = res.get("comparison") or {}
    why = f"knee at {fmt_num(knee.get('knee_rate'))} events/s"
    if cmp_.get("status") == "ran":
        why += f", {fmt_num(cmp_.get('ratio'))} × the flat-out ceiling"
    return "KNEE FOUND", "pass", why


def _per_event_rows(res: Json) -> list[dict[str, str]]:
    return [
        {
            "server": str(r.get("server")),
            "figure": str(r.get("figure")),
            "value": "not measured" if r.get("value") is None else fmt_num(_round(r.get("value"))),
            "unit": str(r.get("unit")),
            "source": str(r.get("source")),
        }
        for r in (res.get("per_event") or {}).get("rows") or []
    ]


def render_capacity(run_dir: Path) -> Path:
    """Writes ``index.html`` into ``run_dir`` from its ``results.json``; returns its path."""
    run_dir = Path(run_dir)
    try:
        res: Json = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        res = {"status": "error", "error": f"results.json unreadable: {exc}"}
    mongo = res.get("plane") in ("mongo", "platform")
    badge, cls, reason = _badge_mongo(res) if mongo and res.get("status") == "ran" else _badge(res)
    knee = res.get("knee") or {}
    ctx = {
        "title": f"capacity · {res.get('plane', DASH)} · {res.get('run_id', run_dir.name)}",
        "badge": badge, "badge_cls": cls, "reason": reason,
        "facts": _facts_mongo(res) if mongo else _facts(res),
        "charts": _knee_charts(res), "steps": _steps(res), "knee": knee,
        "res": res, "sizing": _sizing(res), "json": json.dumps, "per_event_rows": _per_event_rows(res),
    }  # fmt: skip
    # Lenient, unlike a run's report: a capacity run that errored early has few of these fields.
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = "capacity_mongo.html.j2" if mongo else "capacity.html.j2"
    html = env.get_template(template).render(**ctx)
    out = run_dir / "index.html"
    _write(out, html)
    return out
