"""Render a run directory's saved files (results.json, metrics.json) into index.html and junit.xml.

Only files are read, never live objects, so any past run can be re-rendered. Every field may be
missing or malformed: the renderer shows "—" and keeps going, so a run that errored early still gets
a page that shows the error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from harness import __version__
from harness.report import svg
from harness.report.junit import write_junit

DASH = "—"
MAX_EXAMPLES = 5
OUTCOME_ORDER = ("ok", "fail", "info", "rate_limited", "unsent")
_OPS = {">=": "≥", "<=": "≤", "==": "=", "!=": "≠", ">": ">", "<": "<"}
_STATUS_CLASS = {
    "pass": "good",
    "valid": "good",
    "ran": "good",
    "fail": "bad",
    "invalid": "bad",
    "error": "bad",
    "unknown": "muted",
    "not_run": "muted",
}

Json = dict[str, Any]


# ----------------------------------------------------------------------------------------- formatting
def num(v: object) -> float | None:
    """``v`` as a finite float, or None (bools, strings, NaN are not numbers here)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def fmt_num(v: object) -> str:
    """Thousands separators for big numbers, 2–3 significant decimals for small ones, "—" if absent."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    f = num(v)
    if f is None:
        return DASH if v is None or isinstance(v, float) else str(v)
    a = abs(f)
    if a >= 1000 or f == int(f):
        return f"{f:,.0f}"
    if a >= 100:
        s = f"{f:.1f}"
    elif a >= 1:
        s = f"{f:.2f}"
    elif a >= 0.001:
        s = f"{f:.3g}"
    else:
        return f"{f:.2e}"
    return s.rstrip("0").rstrip(".") if "." in s else s


def fmt_pct(v: object) -> str:
    f = num(v)
    return DASH if f is None else f"{f * 100:.1f}%"


def fmt_duration(v: object) -> str:
    f = num(v)
    if f is None:
        return DASH
    if f < 60:
        return f"{fmt_num(f)} s"
    m, s = divmod(round(f), 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def parse_time(v: object) -> datetime | None:
    if not isinstance(v, str) or not v:
        return None
    try:
        t = datetime.fromisoformat(v)
    except ValueError:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def fmt_time(v: object) -> str:
    t = parse_time(v)
    if t is not None:
        return t.strftime("%Y-%m-%d %H:%M:%S UTC")
    return DASH if v is None or v == "" else str(v)


def text(v: object) -> str:
    """Free text or an identifier: "—" when absent, JSON for structured values."""
    if v is None or v == "":
        return DASH
    if isinstance(v, str):
        return v
    if isinstance(v, int | float):
        return fmt_num(v)
    return json.dumps(v, default=str, sort_keys=True)


def cell(v: object) -> str:
    """A table cell of unknown type (fault fields, example fields)."""
    return fmt_num(v) if isinstance(v, int | float) else text(v)


def status_class(v: object) -> str:
    return _STATUS_CLASS.get(v, "muted") if isinstance(v, str) else "muted"


# ------------------------------------------------------------------------------------------- loading
def _d(v: object) -> Json:
    return v if isinstance(v, dict) else {}


def _dl(v: object) -> list[Json]:
    return [x for x in v if isinstance(x, dict)] if isinstance(v, list) else []


def _load(path: Path) -> tuple[Json, str | None]:
    """(parsed JSON object, None) or ({}, why it could not be read)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, f"{path.name} not found"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {}, f"{path.name} unreadable: {exc}"
    if not isinstance(data, dict):
        return {}, f"{path.name} is not a JSON object"
    return data, None


def _columns(rows: Iterable[Json], first: Iterable[str] = ()) -> list[str]:
    cols = list(first)
    for row in rows:
        cols += [k for k in row if k not in cols]
    return cols


def _table(rows: list[Json], first: Iterable[str] = ()) -> Json:
    cols = _columns(rows, first)
    return {"columns": cols, "rows": [[cell(r.get(c)) for c in cols] for r in rows]}


# ------------------------------------------------------------------------------------------- context
def _variant_names(results: Json, metrics_variants: Json) -> list[str]:
    names = [str(v.get("name")) for v in _dl(results.get("variants")) if v.get("name") is not None]
    return names + [str(k) for k in metrics_variants if str(k) not in names]


def _series(v: object) -> list[float | None]:
    return [num(x) for x in v] if isinstance(v, list) else []


def _load_section(names: list[str], mv: Json, colors: list[str]) -> Json:
    nodes: list[str] = []
    shares: dict[str, dict[str, float | None]] = {}
    table: list[Json] = []
    for name in names:
        rows = _dl(_d(mv.get(name)).get("per_master"))
        total = sum(num(r.get("ops")) or 0.0 for r in rows)
        shares[name] = {}
        for r in rows:
            node = text(r.get("node"))
            nodes += [node] if node not in nodes else []
            share = num(r.get("share"))
            ops = num(r.get("ops"))
            if share is None and ops is not None and total > 0:
                share = ops / total
            shares[name][node] = share
            table.append(
                {
                    "variant": name,
                    "node": node,
                    "ops": fmt_num(r.get("ops")),
                    "ops_per_s": fmt_num(r.get("ops_per_s")),
                    "share": fmt_pct(share),
                    "cpu": fmt_num(r.get("cpu_cores")),
                }
            )
    plotted = [n for n in names if shares.get(n)]
    chart = svg.bar_chart(
        nodes,
        [(n, [shares[n].get(node) for node in nodes]) for n in plotted],
        title="Share of operations per master",
        x_label="master node",
        y_label="share of ops",
        y_format=svg.percent_label,
        value_format=lambda f: f"{f * 100:.0f}%",
        reference=1 / len(nodes) if nodes else None,
        reference_label=f"even share {100 / len(nodes):.3g}%" if nodes else "",
        colors=[colors[names.index(n)] for n in plotted],
        width=680,
        height=320,
    )
    imbalance = [{"variant": n, "value": fmt_num(_d(mv.get(n)).get("imbalance_ratio"))} for n in names]
    return {"chart": Markup(chart), "imbalance": imbalance, "table": table, "has_data": bool(nodes)}


def _fault_bands(variant: Json) -> list[tuple[float, float, str]]:
    """Fault windows as seconds since the variant's start, from its recovery figures."""
    origin = num(variant.get("start_ms"))
    if origin is None:
        return []
    bands = []
    for fig in _dl(variant.get("recovery")):
        start, heal = num(fig.get("start_ms")), num(fig.get("heal_ms"))
        if start is None:
            continue
        end = heal if heal is not None else start
        label = f"{fig.get('fault')} {fig.get('target') or ''}".strip()
        bands.append(((start - origin) / 1000, (end - origin) / 1000, label))
    return bands


def _faults_table(faults: list[Json], mv: Json) -> Json:
    """One row per planned fault: what the nemesis did (on time or not) and what it cost the
    workload (the recovery figures of the same variant and index)."""
    figures = {
        (str(name), fig.get("index")): fig for name, v in mv.items() for fig in _dl(_d(v).get("recovery"))
    }
    cols = [
        "variant", "at s", "fault", "target", "status", "applied to", "late by ms", "healed late by ms",
        "writes ok / fail / info during", "errors until ms", "first ok after heal ms",
        "ok/s before → during → after", "p99 ms before → during → after",
    ]  # fmt: skip
    rows = []
    for f in faults:
        fig = _d(figures.get((str(f.get("variant")), f.get("index"))))
        counts = _d(fig.get("during_counts"))
        parts = [_d(fig.get(k)) for k in ("before", "during", "after")]
        applied = _d(f.get("applied"))
        status = str(f.get("status"))
        if f.get("reason"):
            status += f": {f.get('reason')}"
        rows.append(
            [
                cell(f.get("variant")),
                fmt_num(f.get("at_s")),
                cell(f.get("fault")),
                cell(f.get("target")),
                status,
                cell(applied.get("nodes") or applied or "-"),
                fmt_num(f.get("start_delay_ms")),
                fmt_num(f.get("heal_delay_ms")),
                " / ".join(fmt_num(counts.get(k)) for k in ("ok", "fail", "info")) if counts else "-",
                fmt_num(fig.get("errors_until_ms")),
                fmt_num(fig.get("first_ok_after_heal_ms")),
                " → ".join(fmt_num(p.get("ok_per_s")) for p in parts) if fig else "-",
                " → ".join(fmt_num(p.get("p99_ms")) for p in parts) if fig else "-",
            ]
        )
    return {"columns": cols, "rows": rows}


def _throughput_section(names: list[str], mv: Json) -> list[Json]:
    out: list[Json] = []
    for name in names:
        ts = _d(_d(mv.get(name)).get("timeseries"))
        bands = _fault_bands(_d(mv.get(name)))
        t = _series(ts.get("t_s"))
        total = svg.line_chart(
            t,
            [
                ("offered", _series(ts.get("offered_ops_per_s"))),
                ("achieved", _series(ts.get("achieved_ops_per_s"))),
            ],
            title=f"{name}: offered vs achieved",
            x_label="time (s)",
            y_label="ops/s",
            colors=["#374151", "#3b6ea8"],
            dashed=["offered"],
            bands=bands,
        )
        pm = _d(ts.get("per_master_ops_per_s"))
        per_master = svg.line_chart(
            t,
            [(str(node), _series(ys)) for node, ys in pm.items()],
            title=f"{name}: ops/s per master",
            x_label="time (s)",
            y_label="ops/s",
            bands=bands,
        )
        out.append({"variant": name, "total": Markup(total), "per_master": Markup(per_master)})
    return out


def _latency_section(names: list[str], mv: Json, colors: list[str]) -> Json:
    rows: list[Json] = []
    groups: list[str] = []
    p99: dict[str, dict[str, float | None]] = {}
    for name in names:
        lat = _d(_d(mv.get(name)).get("latency_ms"))
        p99[name] = {}
        for group, stats_raw in lat.items():
            stats = _d(stats_raw)
            g = str(group)
            groups += [g] if g not in groups else []
            p99[name][g] = num(stats.get("p99"))
            rows.append(
                {"variant": name, "group": g}
                | {k: fmt_num(stats.get(k)) for k in ("count", "p50", "p99", "p999", "max")}
            )
    plotted = [n for n in names if p99.get(n)]
    chart = svg.bar_chart(
        groups,
        [(n, [p99[n].get(g) for g in groups]) for n in plotted],
        title="p99 latency by group",
        x_label="client group",
        y_label="p99 (ms)",
        value_format=fmt_num,
        colors=[colors[names.index(n)] for n in plotted],
        width=560,
        height=280,
    )
    return {"rows": rows, "chart": Markup(chart), "has_data": bool(rows)}


def _ops_latency_section(names: list[str], mv: Json) -> Json:
    """Per op type, the HdrHistogram summary (latency from the scheduled time)."""
    rows: list[Json] = []
    for name in names:
        for f, q in sorted(_d(_d(mv.get(name)).get("latency_by_op")).items()):
            qd = _d(q)
            rows.append(
                {
                    "variant": name,
                    "op": str(f),
                    **{k: fmt_num(qd.get(k)) for k in ("count", "p50", "p90", "p99", "p999", "max")},
                }
            )
    return {"rows": rows}


def _workload_section(names: list[str], mv: Json) -> list[Json]:
    """The platform workload's own figures per variant: the query mix, the cache, the ingest queue
    (depth over time, shed counts), sessions and the MongoDB side."""
    out: list[Json] = []
    for name in names:
        wl = _d(_d(mv.get(name)).get("workload"))
        if not wl:
            continue
        facts: list[tuple[str, str]] = []
        reads = _d(wl.get("reads"))
        dropped = reads.get("mongo_dropped")
        if reads:
            kinds = ", ".join(f"{k} {fmt_num(v)}" for k, v in sorted(_d(reads.get("by_kind")).items()))
            facts.append(
                (
                    "reads",
                    f"{fmt_num(reads.get('offered'))} offered ({kinds}); "
                    f"{fmt_num(reads.get('not_ok'))} not ok"
                    + (f"; {fmt_num(dropped)} MongoDB queries not run by the deadline" if dropped else ""),
                )
            )
        cache = _d(wl.get("cache"))
        if cache:
            facts.append(
                (
                    f"cache ({text(cache.get('variant'))})",
                    f"{fmt_num(cache.get('reader_loads'))} loads by readers, "
                    f"{fmt_num(cache.get('refresher_loads'))} by the refresher; "
                    f"largest stampede {fmt_num(cache.get('max_stampede'))}; "
                    f"{fmt_num(cache.get('lock_timeouts'))} lock timeouts",
                )
            )
        sess = _d(wl.get("sessions"))
        if sess:
            oc = _d(sess.get("outcomes"))
            facts.append(
                (
                    "sessions",
                    f"{fmt_num(sess.get('sent'))} requests: ok {fmt_num(oc.get('ok'))}, "
                    f"fail {fmt_num(oc.get('fail'))}, unknown {fmt_num(oc.get('info'))}",
                )
            )
        mongo = _d(wl.get("mongo"))
        if mongo:
            ing = _d(mongo.get("ingest"))
            facts.append(
                (
                    "MongoDB inserts",
                    f"{fmt_num(ing.get('events'))} events in {fmt_num(ing.get('batches'))} "
                    f"batches; outcomes {text(ing.get('final'))}",
                )
            )
            for ns, per_shard in sorted(_d(mongo.get("chunks")).items()):
                shown = ", ".join(f"{text(s)} {fmt_num(n)}" for s, n in sorted(_d(per_shard).items()))
                facts.append((f"chunks of {text(ns)} at the start", shown or "none"))
        for err in _dl_str(wl.get("errors")):
            facts.append(("error", err))
        for path, why in sorted(_d(wl.get("not_run")).items()):
            facts.append((f"not run: {text(path)}", text(why)))
        for path, note in sorted(_d(wl.get("notes")).items()):
            facts.append((text(path), text(note)))
        queue = _d(wl.get("queue"))
        chart = None
        if queue:
            facts.append(
                (
                    "ingest queue",
                    f"{fmt_num(queue.get('offered'))} offered: {fmt_num(queue.get('completed'))} ingested, "
                    f"{fmt_num(queue.get('shed'))} shed (rejected: backpressure), "
                    f"{fmt_num(queue.get('expired'))} never sent; "
                    f"max depth {fmt_num(queue.get('max_depth'))}; producer blocked "
                    f"{fmt_num(queue.get('blocked_s'))} s",
                )
            )
            series = [
                p for p in queue.get("depth_series") or [] if isinstance(p, list | tuple) and len(p) == 2
            ]
            if series:
                chart = Markup(
                    svg.line_chart(
                        [p[0] for p in series],
                        [("queue depth", [p[1] for p in series])],
                        title=f"{name}: ingest queue depth",
                        x_label="time (s)",
                        y_label="events queued",
                    )
                )
        out.append({"variant": name, "facts": facts, "queue_chart": chart})
    return out


def _dl_str(v: object) -> list[str]:
    return [str(x) for x in v] if isinstance(v, list) else []


def _outcomes_section(names: list[str], mv: Json) -> Json:
    per = {n: _d(_d(mv.get(n)).get("outcomes")) for n in names}
    present = [n for n in names if per[n]]
    seen = _columns(per[n] for n in present)
    cols = [c for c in OUTCOME_ORDER if c in seen] + [c for c in seen if c not in OUTCOME_ORDER]
    return {"columns": cols, "rows": [[n] + [fmt_num(per[n].get(c)) for c in cols] for n in present]}


def _pair(a: object, b: object) -> str:
    return DASH if a in (None, "") and b in (None, "") else f"{text(a)} / {text(b)}"


def _capacity(cap: Json) -> str:
    cores = num(cap.get("cpu_limit"))
    if cores is None:
        return "unlimited"
    return f"{cores:g} core / node" if cap.get("applied") else f"NOT limited ({text(cap.get('reason'))})"


def _reproduce(results: Json) -> str:
    if isinstance(results.get("reproduce"), str):
        return str(results["reproduce"])  # the runner knows which options differed from the defaults
    cmd = f"harness scenario {results.get('scenario') or '<scenario>'}"
    return cmd + (f" --seed {results['seed']}" if results.get("seed") is not None else "")


def _plane(name: str, p: Json) -> Json:
    """A plane's row: status, the server it ran on, and what that server lacked or refused."""
    lacks = _d(p.get("lacks"))
    return {
        "name": name,
        "status": text(p.get("status")),
        "cls": status_class(p.get("status")),
        "reason": text(p.get("reason") or p.get("note") or ""),
        "server": text(p.get("substrate") or p.get("server") or ""),
        "lacks": [(text(k), text(v)) for k, v in lacks.items()],
        "left_out": [text(x) for x in p.get("left_out") or [] if isinstance(x, str)],
    }


def build_context(results: Json, metrics: Json, notes: list[str]) -> Json:
    """Everything the run template needs, pre-formatted (no raw JSON reaches the template)."""
    mv = _d(metrics.get("variants"))
    names = _variant_names(results, mv)
    colors = [svg.PALETTE[i % len(svg.PALETTE)] for i in range(len(names))]
    sub = _d(results.get("substrate"))
    verdict = results.get("verdict")
    error = results.get("error")
    facts = [
        ("scenario", text(results.get("scenario"))),
        ("run id", text(results.get("run_id"))),
        ("seed", DASH if results.get("seed") is None else str(results.get("seed"))),
        ("started", fmt_time(results.get("started_at"))),
        ("finished", fmt_time(results.get("finished_at"))),
        ("duration", fmt_duration(results.get("duration_s"))),
        ("backend / hosts", _pair(sub.get("backend"), sub.get("hosts"))),
        ("topology", text(sub.get("topology"))),
        ("partitions", text(sub.get("partitions_supported"))),
        ("node capacity", _capacity(_d(sub.get("capacity")))),
    ]
    if sub.get("mongodb"):  # the server the MongoDB plane ran on: never FerretDB called MongoDB
        facts.append(("MongoDB plane", text(sub.get("mongodb"))))
    planes = [_plane(str(k), _d(p)) for k, p in _d(results.get("planes")).items()]
    targets = [
        {
            "name": text(t.get("name")),
            "description": text(t.get("description")),
            "value": fmt_num(t.get("value")),
            "needs": f"{_OPS.get(str(t.get('op')), text(t.get('op')))} {fmt_num(t.get('threshold'))}",
            "status": text(t.get("status")),
            "cls": status_class(t.get("status")),
            "reason": text(t.get("reason")) if t.get("reason") else "",
        }
        for t in _dl(results.get("targets"))
    ]
    invariants = []
    for inv in _dl(results.get("invariants")):
        examples = _dl(inv.get("examples"))
        expected = inv.get("expected") == "invalid"
        reproduced = expected and inv.get("status") == "invalid"
        invariants.append(
            {
                "variant": text(inv.get("variant")),
                "name": text(inv.get("name")),
                # A variant meant to show the case's anomaly: invalid is the expected evidence.
                "status": text(inv.get("status"))
                + (" (expected: the case's anomaly)" if reproduced else "")
                + (" (expected invalid: anomaly not reproduced)" if expected and not reproduced else ""),
                "cls": "warn" if reproduced else status_class(inv.get("status")),
                "violations": fmt_num(inv.get("violations")),
                "summary": text(inv.get("summary")),
                "examples": _table(examples[:MAX_EXAMPLES]),
                "n_examples": len(examples),
                "open": inv.get("status") == "invalid",
            }
        )
    variants = [
        {
            "name": text(v.get("name")),
            "description": text(v.get("description")),
            "offered_rate": fmt_num(v.get("offered_rate")),
            "duration": fmt_duration(v.get("duration_s")),
            "events_offered": fmt_num(v.get("events_offered")),
            "events_sent": fmt_num(v.get("events_sent")),
            "achieved_rate": fmt_num(v.get("achieved_rate")),
            "color": colors[names.index(str(v.get("name")))] if str(v.get("name")) in names else None,
        }
        for v in _dl(results.get("variants"))
    ]
    faults = _dl(results.get("faults"))
    return {
        "title": text(results.get("title") or results.get("scenario") or "Untitled run"),
        "description": results.get("description") if isinstance(results.get("description"), str) else None,
        "verdict": text(verdict).upper() if verdict else DASH,
        "verdict_cls": verdict if verdict in ("pass", "fail", "error") else "unknown",
        "verdict_reason": text(results.get("verdict_reason")),
        "error": None
        if error is None
        else (error if isinstance(error, str) else json.dumps(error, indent=2)),
        "notes": notes,
        "facts": facts,
        "versions": [(str(k), text(v)) for k, v in _d(sub.get("versions")).items()],
        "nodes": _table(_dl(sub.get("nodes")), ("name", "role", "address", "proxy")),
        "planes": planes,
        "targets": targets,
        "invariants": invariants,
        "variants": variants,
        "has_metrics": bool(mv),
        "load": _load_section(names, mv, colors),
        "throughput": _throughput_section(names, mv),
        "latency": _latency_section(names, mv, colors),
        "outcomes": _outcomes_section(names, mv),
        "ops_latency": _ops_latency_section(names, mv),
        "workload": _workload_section(names, mv),
        "faults": _faults_table(faults, mv),
        "reproduce": _reproduce(results),
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "version": __version__,
    }


# ------------------------------------------------------------------------------------------- output
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _write(path: Path, content: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(content, encoding="utf-8")
    tmp.replace(path)


def render_run(run_dir: Path) -> Path:
    """Write ``index.html`` and ``junit.xml`` into ``run_dir`` from its saved files; return the HTML path."""
    run_dir = Path(run_dir)
    results, why = _load(run_dir / "results.json")
    notes: list[str] = []
    if why is not None:
        # No usable results: this report is about an errored run, and says so.
        results = {
            "scenario": run_dir.parent.name or None,
            "run_id": run_dir.name,
            "verdict": "error",
            "verdict_reason": why,
            "error": f"could not read results: {why}",
        }
    metrics, mwhy = _load(run_dir / "metrics.json")
    if mwhy is not None:
        notes.append(f"{mwhy}: charts and metric tables are empty.")
    html = _env().get_template("run.html.j2").render(build_context(results, metrics, notes))
    out = run_dir / "index.html"
    _write(out, html)
    write_junit(results, run_dir / "junit.xml")
    return out


def _run_time(results: Json, run_dir: Path) -> float:
    t = parse_time(results.get("started_at"))
    if t is None:
        try:
            t = datetime.strptime(run_dir.name[:15], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        except ValueError:
            return (run_dir / "results.json").stat().st_mtime
    return t.timestamp()


def _runs(reports_root: Path) -> list[Json]:
    runs: list[tuple[float, str, Json]] = []
    for scenario_dir in sorted(p for p in reports_root.iterdir() if p.is_dir() and not p.is_symlink()):
        for run_dir in sorted(p for p in scenario_dir.iterdir() if p.is_dir() and not p.is_symlink()):
            if not (run_dir / "results.json").is_file():
                continue
            results, why = _load(run_dir / "results.json")
            verdict = results.get("verdict") if why is None else "error"
            href = "/".join(quote(part) for part in (scenario_dir.name, run_dir.name, "index.html"))
            row = {
                "scenario": scenario_dir.name,
                "title": text(results.get("title")),
                "run_id": run_dir.name,
                "href": href,
                "started": fmt_time(results.get("started_at")),
                "verdict": text(verdict),
                "cls": verdict if verdict in ("pass", "fail", "error") else "unknown",
                "seed": DASH if results.get("seed") is None else str(results.get("seed")),
                "duration": fmt_duration(results.get("duration_s")),
                "rendered": (run_dir / "index.html").is_file(),
            }
            runs.append((_run_time(results, run_dir), run_dir.name, row))
    runs.sort(key=lambda r: (r[0], r[1]), reverse=True)
    return [row for _, _, row in runs]


def render_index(reports_root: Path) -> Path:
    """Write ``reports_root/index.html`` listing every ``<scenario>/<run-id>/results.json``, newest first."""
    reports_root = Path(reports_root)
    reports_root.mkdir(parents=True, exist_ok=True)
    runs = _runs(reports_root)
    html = (
        _env()
        .get_template("index.html.j2")
        .render(
            runs=runs,
            counts={v: sum(1 for r in runs if r["cls"] == v) for v in ("pass", "fail", "error")},
            generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            version=__version__,
        )
    )
    out = reports_root / "index.html"
    _write(out, html)
    return out
