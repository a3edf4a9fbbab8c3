"""A rehearsal's timeline report (``index.html``, self-contained) from its ``rehearsal.json`` alone:
verdict, time to detect and to recover per fault, the timeline (operator actions, fault windows,
alerts firing and resolved), the live figures with the fault windows shaded, the chronological
log, the checkers' verdicts, and the alert rules evaluated (with the ``for:`` scaling) or not."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from harness.report import svg
from harness.report.svg_timeline import timeline_svg, windows

STYLE = Path(__file__).parent / "templates" / "style.css"


def _s(v: Any, unit: str = " s") -> str:
    return "—" if v is None else f"{v:,.1f}{unit}"


def _table(head: list[str], rows: list[list[Any]]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body or '<tr><td>none</td></tr>'}</tbody></table>"


def _incidents(r: dict[str, Any]) -> str:
    rows = [
        [
            escape(f"{i['fault']} {i['target']}"),
            _s(i["applied_s"]),
            _s(i["healed_s"]),
            escape(i["detected_by"] or "no alert fired"),
            f"<b>{_s(i['ttd_s'])}</b>",
            f"<b>{_s(i['ttr_s'])}</b>"
            + (
                f" <span class='muted'>(still firing: {escape(', '.join(i['unresolved']))})</span>"
                if i["unresolved"]
                else ""
            ),
            _s(i.get("steady_s")),
        ]
        for i in r.get("incidents", [])
    ]
    head = [
        "fault",
        "applied at",
        "healed at",
        "first alert",
        "time to detect",
        "time to recover (alerts resolved)",
        "ingestion steady again",
    ]
    return _table(head, rows)


def _log(r: dict[str, Any]) -> str:
    items: list[tuple[float, str, str]] = []
    for a in r.get("actions", []):
        what = f"{a['fault']} {a['target']}".strip() if a["action"] == "fault" else "heal"
        outcome = "" if a["ok"] else f" — FAILED: {a['detail']}"
        items.append((a["done_s"], "operator", f"{a['source']}: {what}{outcome}"))
    for e in r.get("alerts", {}).get("events", []):
        value = "" if e["value"] is None else f" (value {e['value']:.3g})"
        items.append((e["t_s"], "alert", f"{e['rule']} {e['instance']} {e['kind']}{value}"))
    rows = [[_s(t), kind, escape(text)] for t, kind, text in sorted(items, key=lambda x: x[0])]
    return _table(["time", "who", "what"], rows)


def _figures(r: dict[str, Any]) -> str:
    series = r.get("alerts", {}).get("series", [])
    bands = [(lo, hi, label) for lo, hi, label in windows(r.get("actions", []), r.get("end_s", 0))]
    x = [s["t_s"] for s in series]
    rate = [s.get("ingest_rate", {}).get("") for s in series]
    p99 = [None if (v := s.get("query_p99_1s", {}).get("")) is None else v * 1000 for s in series]
    lag_keys = sorted({k for s in series for k in s.get("redis_replica_lag_s", {})})
    lags = [(f"lag {k}", [s.get("redis_replica_lag_s", {}).get(k) for s in series]) for k in lag_keys]
    charts = [
        svg.line_chart(
            x,
            [("events ingested/s", rate)],
            title="ingestion (acknowledged by the limiter)",
            x_label="s",
            y_label="events/s",
            bands=bands,
        ),
        svg.line_chart(
            x, [("query p99 (1 s)", p99)], title="query p99", x_label="s", y_label="ms", bands=bands
        ),
        svg.line_chart(
            x,
            lags,
            title="Redis replication lag (s since the replica's last ACK)",
            x_label="s",
            y_label="s",
            bands=bands,
        ),
    ]
    return "<div class='charts'>" + "".join(f"<div>{c}</div>" for c in charts) + "</div>"


def _rules(r: dict[str, Any]) -> str:
    a = r.get("alerts", {})
    scale = a.get("for_scale", 1)
    rows = [
        [
            escape(x["name"]),
            f"<code>{escape(x['expr'])}</code>",
            escape(x["severity"]),
            f"{x['for_s']:g} s → <b>{x['for_scaled_s']:g} s</b>"
            + (f"; window {x['window_s']:g} s → {x['window_scaled_s']:g} s" if x.get("window_s") else ""),
            escape(x.get("note", "")),
        ]
        for x in a.get("rules", [])
    ]
    skipped = [
        [escape(n["name"]), f"<code>{escape(n['expr'])}</code>", escape(n["reason"])]
        for n in a.get("not_evaluated", [])
    ]
    note = (
        f"<p><b>for: durations and rate windows scaled by {scale:g}</b> for a short rehearsal "
        "(a missing sample restarts a pending alert and never resolves a firing one; gaps over "
        f"{a.get('max_gap_s', 3):g} s count as missing).</p>"
    )
    errors = a.get("sampling_errors") or []
    if errors:
        note += (
            "<p class='muted'>samples not taken (missing to the rules): " + escape("; ".join(errors)) + "</p>"
        )
    return (
        note
        + _table(["rule", "expression", "severity", "for:", "measured as"], rows)
        + ("<h3>not evaluated here</h3>" + _table(["rule", "expression", "why"], skipped))
    )


def _checks(r: dict[str, Any]) -> str:
    inv = [
        [
            escape(i["name"]),
            f"<span class='{escape(i['status'])}'>{escape(i['status'])}</span>",
            escape(i.get("summary") or ""),
        ]
        for i in r.get("invariants", [])
    ]
    cps = [
        [
            escape(c["expect_alert"]),
            _s(c["by_s"]),
            _s(c["fired_at_s"]),
            "met" if c["met"] else "<b>missed</b>",
        ]
        for c in r.get("checkpoints", [])
    ]
    out = _table(["checker", "verdict", "summary"], inv)
    if cps:
        out = (
            "<h3>checkpoints (rehearsal file)</h3>"
            + _table(["expected alert", "by", "fired at", "status"], cps)
            + out
        )
    return out


def render_rehearsal(run_dir: Path) -> Path:
    r = json.loads((run_dir / "rehearsal.json").read_text())
    verdict = r.get("verdict", "error")
    opts = r.get("options", {})
    facts = {
        "topology": r.get("topology"),
        "run": r.get("run_id"),
        "ended": r.get("end_reason"),
        "length": _s(r.get("end_s")),
        "offered": f"{opts.get('rate', 0):g} events/s",
        "for: scale": f"× {opts.get('for_scale', 1):g}",
        "script": opts.get("script") or "— (typed)",
        "healthy after": r.get("healthy_again"),
    }
    if r.get("rechecked_at"):  # harness check: checkers and checkpoints judged again, alerts as recorded
        facts["judged again"] = f"{r['rechecked_at']} (harness check; alerts as recorded)"
    fact_html = "".join(
        f"<div class='fact'><span class='k'>{escape(k)}</span><span class='v'>{escape(str(v))}</span></div>"
        for k, v in facts.items()
    )
    timeline = timeline_svg(r.get("actions", []), r.get("alerts", {}).get("events", []), r.get("end_s", 0))
    body = f"""
<div class="card header"><div class="lead"><h1>Incident rehearsal on {escape(str(r.get("topology")))}</h1>
<p class="description">Started {escape(str(r.get("started_at")))}. {escape(str(r.get("error") or ""))}</p>
<div class="facts">{fact_html}</div></div>
<div class="verdict"><span class="badge {escape(verdict)}">{escape(verdict.upper())}</span>
<div class="reason">{escape(r.get("verdict_reason", ""))}</div></div></div>
<div class="card"><h2>Time to detect and to recover</h2>{_incidents(r)}</div>
<div class="card"><h2>Timeline</h2>{timeline}</div>
<div class="card"><h2>Live figures</h2>{_figures(r)}</div>
<div class="card"><h2>What happened, in order</h2>{_log(r)}</div>
<div class="card"><h2>Checkers over the history</h2>{_checks(r)}</div>
<div class="card"><h2>Alert rules (the capstone's)</h2>{_rules(r)}</div>"""
    extra = ".charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(540px,1fr));gap:12px}"
    page = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>rehearsal {escape(str(r.get('run_id')))}</title>"
        f"<style>{STYLE.read_text()}{extra}</style></head><body><main>{body}</main></body></html>"
    )
    out = run_dir / "index.html"
    out.write_text(page, encoding="utf-8")
    return out
