"""The nightly summary, rendered from ``reports/nightly/<date>/nightly.json`` (and each scenario's
own ``results.json`` for the JUnit file) alone:

- ``index.html``: self-contained (opens offline): the nightly's verdict, each scenario's verdict,
  time, key figures and a link to its run's report, and per figure a small trend chart across past
  nightlies with its noise band; a regression is flagged in red at the top and on its row;
- ``summary.md``: the same in short, for a CI job summary (``$GITHUB_STEP_SUMMARY``);
- ``junit.xml``: one ``<testsuite>`` per scenario (its run's own, from :func:`build_junit`), each with
  a ``trends`` testcase per figure (a regression is a failure; a figure still learning is skipped).
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

from markupsafe import Markup

from harness import __version__
from harness.records import NightlyFigure, NightlyRecord, NightlyScenario, RunResults, salvage
from harness.report.format import DASH, Json, fmt_duration, fmt_num, fmt_time, text
from harness.report.junit import build_junit
from harness.report.render import _env, _write
from harness.report.svg_trend import trend_chart

__all__ = ["load_nightly", "render_nightly", "summary_markdown"]

_OPS = {">=": "≥", "<=": "≤", "==": "=", "!=": "≠", ">": ">", "<": "<"}
_ARROW = {"higher": "↑ higher is better", "lower": "↓ lower is better", "toward": "→ stays at its threshold"}
_VERDICT_CLS = {"pass": "pass", "fail": "fail", "error": "error"}
_TREND_CLS = {"regression": "fail", "improved": "pass", "ok": "good", "learning": "unknown"}
_ICON = {"pass": "✅", "fail": "❌", "error": "💥", "not_run": "⏭️", "pending": "⏸️"}
_SPARK = "▁▂▃▄▅▆▇█"


def load_nightly(nightly_dir: Path) -> tuple[NightlyRecord, list[str]]:
    """The nightly's record, leniently (what does not fit is left out and named in the notes)."""
    path = Path(nightly_dir) / "nightly.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return NightlyRecord(nightly=Path(nightly_dir).name, verdict="error"), [f"nightly.json: {exc}"]
    record, dropped = salvage(NightlyRecord, data)
    return record, ([f"nightly.json: left out as malformed: {', '.join(dropped)}"] if dropped else [])


def _verdict_label(sc: NightlyScenario, record: NightlyRecord) -> str:
    if sc.verdict == "pending":
        if record.state != "running":
            return "not started"
        first = next((s for s in record.scenarios if s.verdict == "pending"), None)
        return "running" if first is sc else "queued"
    return text(sc.verdict).replace("_", " ")


def _value(fig: NightlyFigure) -> str:
    if fig.value is None:
        return DASH
    return fmt_num(fig.value) + (f" {fig.unit}" if fig.unit and fig.unit != "fraction" else "")


def _needs(fig: NightlyFigure) -> str:
    if fig.op is None:
        return DASH
    return f"{_OPS.get(fig.op, fig.op)} {fmt_num(fig.threshold)}"


def _chart(fig: NightlyFigure, record: NightlyRecord) -> Markup | None:
    """The figure's trend chart; None when no run has measured it yet."""
    labels = [str(p.nightly) for p in fig.history] + [str(record.nightly)]
    values = [p.value for p in fig.history] + [fig.value]
    if all(v is None for v in values):
        return None
    band = fig.band
    drawn = None
    if band is not None and None not in (band.lo, band.center, band.hi):
        drawn = (float(band.lo or 0), float(band.center or 0), float(band.hi or 0))
    unit = "" if fig.unit in (None, "fraction") else str(fig.unit)
    return Markup(trend_chart(labels, values, band=drawn, state=str(fig.trend or ""), unit=unit))


def _href(rel: str | None, leaf: str = "") -> str | None:
    if not rel:
        return None
    return "/".join(quote(p) for p in Path(rel).parts) + (f"/{leaf}" if leaf else "")


def _targets_summary(sc: NightlyScenario) -> str:
    targets = [f for f in sc.figures if f.source == "target"]
    if not targets:
        return "no targets"
    passed = sum(1 for f in targets if f.status == "pass")
    failed = sum(1 for f in targets if f.status == "fail")
    other = len(targets) - passed - failed
    out = f"{passed}/{len(targets)} pass"
    if failed:
        out += f", {failed} fail"
    if other:
        out += f", {other} not judged"
    return out


def _trend_summary(sc: NightlyScenario) -> tuple[str, str]:
    """(words, css class) for a scenario's trend column."""
    states = [f.trend for f in sc.figures]
    reg, imp, learning = states.count("regression"), states.count("improved"), states.count("learning")
    if reg:
        return f"{reg} regression{'' if reg == 1 else 's'}", "fail"
    parts = []
    if imp:
        parts.append(f"{imp} improved")
    if learning:
        parts.append(f"{learning} learning")
    ok = states.count("ok")
    if ok:
        parts.append(f"{ok} in band")
    return (", ".join(parts) or DASH), ("good" if ok and not learning else "muted")


def _figure_row(fig: NightlyFigure, record: NightlyRecord) -> Json:
    return {
        "name": text(fig.name),
        "metric": text(fig.metric),
        "value": _value(fig),
        "needs": _needs(fig),
        "status": text(fig.status) if fig.status else DASH,
        "status_cls": {"pass": "good", "fail": "bad"}.get(str(fig.status), "muted"),
        "direction": _ARROW.get(str(fig.direction), "no better direction"),
        "trend": text(fig.trend).replace("_", " "),
        "trend_cls": _TREND_CLS.get(str(fig.trend), "muted"),
        "note": "" if fig.trend == "not_measured" else text(fig.trend_note),
        "chart": _chart(fig, record),
        "flagged": fig.trend == "regression",
    }


def _scenario(sc: NightlyScenario, record: NightlyRecord, index: int) -> Json:
    trend, trend_cls = _trend_summary(sc)
    return {
        "anchor": f"s{index}",
        "name": text(sc.name),
        "title": text(sc.title or sc.name),
        "verdict": _verdict_label(sc, record),
        "cls": _VERDICT_CLS.get(str(sc.verdict), "unknown"),
        "reason": sc.reason.strip().splitlines()[0] if sc.reason and sc.reason.strip() else "",
        "reason_more": sc.reason.strip() if sc.reason and len(sc.reason.strip().splitlines()) > 1 else "",
        "seconds": fmt_duration(sc.seconds),
        "targets": _targets_summary(sc),
        "trend": trend,
        "trend_cls": trend_cls,
        "report": _href(sc.run_dir, "index.html"),
        "log": _href(sc.log),
        "run_id": text(sc.run_id),
        "figures": [_figure_row(f, record) for f in sc.figures],
        "regressions": len(sc.regressions()),
    }


def build_context(record: NightlyRecord, notes: list[str]) -> Json:
    counts = record.counts()
    scenarios = [_scenario(sc, record, i) for i, sc in enumerate(record.scenarios)]
    regressions = [
        {
            "scenario": text(sc.name),
            "anchor": scenarios[record.scenarios.index(sc)]["anchor"],
            "figure": text(f.name),
            "value": _value(f),
            "note": text(f.trend_note),
            "direction": _ARROW.get(str(f.direction), ""),
        }
        for sc, f in record.regressions()
    ]
    learning = sum(1 for sc in record.scenarios for f in sc.figures if f.trend == "learning")
    verdict = record.verdict or ("running" if record.state == "running" else None)
    return {
        "title": f"Nightly {text(record.nightly)}",
        "suite": text(record.suite),
        "verdict": text(verdict).upper().replace("_", " "),
        "verdict_cls": _VERDICT_CLS.get(str(record.verdict), "unknown"),
        "verdict_reason": text(record.verdict_reason) if record.verdict_reason else "",
        "running": record.state == "running",
        "facts": [
            ("suite", text(record.suite)),
            ("started", fmt_time(record.started_at)),
            ("finished", fmt_time(record.finished_at)),
            ("took", fmt_duration(record.duration_s)),
            ("scenarios", str(len(record.scenarios))),
            ("conditions", text(record.conditions)),
            ("host", text(record.host)),
        ],
        "counts": counts,
        "regressions": regressions,
        "learning": learning,
        "min_runs": record.min_runs,
        "band_rule": text(record.band_rule),
        "history_file": text(record.history_file),
        "history_note": text(record.history_note) if record.history_note else "",
        "scenarios": scenarios,
        "notes": notes,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "version": record.harness_version or __version__,
    }


# ------------------------------------------------------------------------------------------ markdown
def _md(v: object) -> str:
    return text(v).replace("|", "\\|").replace("\n", " ")


def sparkline(values: list[float | None]) -> str:
    """Unicode blocks for a markdown summary: ▁ lowest … █ highest, a space where a value is missing."""
    present = [v for v in values if v is not None and math.isfinite(v)]
    if not present:
        return ""
    lo, hi = min(present), max(present)
    out = []
    for v in values:
        if v is None or not math.isfinite(v):
            out.append(" ")
        elif hi == lo:
            out.append(_SPARK[3])
        else:
            out.append(_SPARK[round((v - lo) / (hi - lo) * (len(_SPARK) - 1))])
    return "".join(out)


def summary_markdown(record: NightlyRecord) -> str:
    """The nightly in short, for a CI job summary."""
    counts = record.counts()
    lines = [
        f"## Nightly {_md(record.nightly)} · suite `{_md(record.suite)}` · "
        f"{_md(record.verdict or record.state).upper().replace('_', ' ')}",
        "",
        f"{_md(record.verdict_reason or '')} · took {fmt_duration(record.duration_s)} · "
        f"{_md(record.conditions)}",
        "",
        "| | scenario | verdict | time | targets | trend |",
        "|---|---|---|---:|---|---|",
    ]
    for sc in record.scenarios:
        trend, _ = _trend_summary(sc)
        verdict = _verdict_label(sc, record)
        if sc.verdict in ("fail", "error") and sc.reason:
            first = sc.reason.strip().splitlines()[0] if sc.reason.strip() else ""
            verdict += f": {first[:90]}" + ("…" if len(first) > 90 else "")
        lines.append(
            f"| {_ICON.get(str(sc.verdict), '')} | {_md(sc.name)} | {_md(verdict)} | "
            f"{fmt_duration(sc.seconds)} | {_md(_targets_summary(sc))} | {_md(trend)} |"
        )
    regressions = record.regressions()
    if regressions:
        lines += ["", "### Regressions", ""]
        lines += ["| scenario | figure | value | past runs | |", "|---|---|---:|---|---|"]
        for sc, f in regressions:
            spark = sparkline([p.value for p in f.history] + [f.value])
            lines.append(
                f"| {_md(sc.name)} | {_md(f.name)} | {_md(_value(f))} | `{spark}` | {_md(f.trend_note)} |"
            )
    learning = sum(1 for sc in record.scenarios for f in sc.figures if f.trend == "learning")
    if learning:
        lines += [
            "",
            f"Baselines still learning for {learning} figure{'' if learning == 1 else 's'} "
            f"(a figure is flagged only after {record.min_runs} past runs).",
        ]
    if counts["not_run"]:
        lines += ["", f"{counts['not_run']} scenario(s) not run here: nothing they check could be judged."]
    lines += [
        "",
        f"Summary with trend charts: `reports/nightly/{_md(record.nightly)}/index.html` (in the reports "
        "artifact); JUnit: `junit.xml` beside it.",
        "",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ junit
def _count(suite: ET.Element) -> dict[str, int]:
    cases = suite.findall("testcase")
    return {
        "tests": len(cases),
        "failures": sum(1 for c in cases if c.find("failure") is not None),
        "errors": sum(1 for c in cases if c.find("error") is not None),
        "skipped": sum(1 for c in cases if c.find("skipped") is not None),
    }


def _scenario_suite(nightly_dir: Path, sc: NightlyScenario) -> ET.Element:
    results: RunResults | None = None
    if sc.run_dir:
        path = nightly_dir / sc.run_dir / "results.json"
        try:
            results, _ = salvage(RunResults, json.loads(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            results = None
    if results is not None:
        suite = build_junit(results).find("testsuite")
        assert suite is not None
    else:
        suite = ET.Element("testsuite", name=text(sc.name))
    suite.set("name", text(sc.name))
    ran_error = results is not None and results.error is not None
    if sc.verdict == "pending":
        case = ET.SubElement(suite, "testcase", classname=text(sc.name), name="run")
        ET.SubElement(case, "skipped", message="not started: the nightly stopped before it")
    elif sc.verdict == "error" and not ran_error:
        case = ET.SubElement(suite, "testcase", classname=text(sc.name), name="run")
        why = text(sc.reason or "error")
        ET.SubElement(case, "error", message=why.splitlines()[0][:500], type="nightly-error").text = why
    for fig in sc.figures:
        case = ET.SubElement(suite, "testcase", classname="trends", name=text(fig.name))
        if fig.trend == "regression":
            ET.SubElement(case, "failure", message=text(fig.trend_note), type="regression")
        elif fig.trend in ("learning", "not_measured", "untracked"):
            ET.SubElement(case, "skipped", message=text(fig.trend_note))
    if sc.seconds is not None:
        suite.set("time", f"{float(sc.seconds):.3f}")
    for k, v in _count(suite).items():
        suite.set(k, str(v))
    return suite


def build_nightly_junit(nightly_dir: Path, record: NightlyRecord) -> ET.Element:
    root = ET.Element("testsuites", name=f"nightly {text(record.nightly)}")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for sc in record.scenarios:
        suite = _scenario_suite(nightly_dir, sc)
        root.append(suite)
        for k in totals:
            totals[k] += int(suite.get(k, "0"))
    for k, v in totals.items():
        root.set(k, str(v))
    if record.duration_s is not None:
        root.set("time", f"{float(record.duration_s):.3f}")
    return root


def render_nightly(nightly_dir: Path) -> Path:
    """Writes index.html, summary.md and junit.xml into ``nightly_dir`` from its nightly.json."""
    nightly_dir = Path(nightly_dir)
    record, notes = load_nightly(nightly_dir)
    html = _env().get_template("nightly.html.j2").render(build_context(record, notes))
    out = nightly_dir / "index.html"
    _write(out, html)
    _write(nightly_dir / "summary.md", summary_markdown(record))
    tree = ET.ElementTree(build_nightly_junit(nightly_dir, record))
    ET.indent(tree)
    tmp = nightly_dir / "junit.xml.tmp"
    tree.write(tmp, encoding="utf-8", xml_declaration=True)
    tmp.replace(nightly_dir / "junit.xml")
    return out
