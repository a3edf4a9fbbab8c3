"""Render a run directory's saved files (results.json, metrics.json) into index.html and junit.xml.

Only files are read, never live objects, so any past run can be re-rendered. Every field may be
missing or malformed: the files are read leniently through the run records (what does not fit is
left out and named in a note), the renderer shows "—" for what is absent and keeps going, so a run
that errored early still gets a page that shows the error.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from harness import __version__
from harness.records import Capacity, Invariant, Plane, Record, RunMetrics, RunResults, salvage
from harness.report import sections, svg
from harness.report.format import (
    DASH,
    Json,
    fmt_duration,
    fmt_num,
    fmt_time,
    parse_time,
    status_class,
    table,
    text,
)
from harness.report.junit import write_junit

__all__ = ["build_context", "fmt_duration", "fmt_num", "render_index", "render_run"]

MAX_EXAMPLES = 5
_OPS = {">=": "≥", "<=": "≤", "==": "=", "!=": "≠", ">": ">", "<": "<"}
R = TypeVar("R", bound=Record)


# ------------------------------------------------------------------------------------------- loading
def _load(path: Path, model: type[R]) -> tuple[R, str | None, list[str]]:
    """(the record, None, the parts left out as not fitting) or (an empty record, why it could not
    be read, [])."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return model(), f"{path.name} not found", []
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return model(), f"{path.name} unreadable: {exc}", []
    if not isinstance(data, dict):
        return model(), f"{path.name} is not a JSON object", []
    record, dropped = salvage(model, data)
    return record, None, dropped


# ------------------------------------------------------------------------------------------- context
def _variant_names(results: RunResults, metrics: RunMetrics) -> list[str]:
    names = [str(v.name) for v in results.variants if v.name is not None]
    return names + [str(k) for k in metrics.variants if str(k) not in names]


def _pair(a: object, b: object) -> str:
    return DASH if a in (None, "") and b in (None, "") else f"{text(a)} / {text(b)}"


def _capacity(cap: Capacity | None) -> str:
    cores = None if cap is None else cap.cpu_limit
    if cap is None or cores is None:
        return "unlimited"
    if not cap.applied:
        return f"NOT limited ({text(cap.reason)})"
    return f"{cores:g} core / node" + (f" ({cap.how})" if cap.how else "")


def _reproduce(results: RunResults) -> str:
    if results.reproduce is not None:
        return results.reproduce  # the runner knows which options differed from the defaults
    cmd = f"harness scenario {results.scenario or '<scenario>'}"
    return cmd + (f" --seed {results.seed}" if results.seed is not None else "")


def _plane(name: str, p: Plane) -> Json:
    """A plane's row: status, the server it ran on, and what that server lacked or refused."""
    return {
        "name": name,
        "status": text(p.status),
        "cls": status_class(p.status),
        "reason": text(p.reason or p.note or ""),
        "server": text(p.substrate or p.server or ""),
        "lacks": [(text(k), text(v)) for k, v in p.lacks.items()],
        "left_out": [text(x) for x in p.left_out],
    }


def _facts(results: RunResults) -> list[tuple[str, str]]:
    sub = results.substrate
    facts = [
        ("scenario", text(results.scenario)),
        ("run id", text(results.run_id)),
        ("seed", DASH if results.seed is None else str(results.seed)),
        ("started", fmt_time(results.started_at)),
        ("finished", fmt_time(results.finished_at)),
        ("duration", fmt_duration(results.duration_s)),
        ("backend / hosts", _pair(sub.backend, sub.hosts)),
        ("topology", text(sub.topology)),
        ("partitions", text(sub.partitions_supported)),
        ("node capacity", _capacity(sub.capacity)),
    ]
    if sub.mongodb:  # the server the MongoDB plane ran on: never FerretDB called MongoDB
        facts.append(("MongoDB plane", text(sub.mongodb)))
    return facts


def _targets(results: RunResults) -> list[Json]:
    return [
        {
            "name": text(t.name),
            "description": text(t.description),
            "value": fmt_num(t.value),
            "needs": f"{_OPS.get(str(t.op), text(t.op))} {fmt_num(t.threshold)}",
            "status": text(t.status),
            "cls": status_class(t.status),
            "reason": text(t.reason) if t.reason else "",
        }
        for t in results.targets
    ]


def _invariant(inv: Invariant) -> Json:
    expected = inv.expected == "invalid"
    reproduced = inv.anomaly_reproduced()
    other = inv.unexpected_kinds() if expected and inv.status == "invalid" else []
    return {
        "variant": text(inv.variant),
        "name": text(inv.name),
        # A variant meant to show the case's anomaly: invalid is the expected evidence.
        "status": text(inv.status)
        + (" (expected: the case's anomaly)" if reproduced else "")
        + (
            f" (unexpected kinds: {', '.join(other)}; expected only {', '.join(inv.expected_kinds)})"
            if other
            else ""
        )
        + (
            (
                " (expected invalid where it runs)"
                if inv.status == "not_run"
                else " (expected invalid: anomaly not reproduced)"
            )
            if expected and not reproduced and not other
            else ""
        ),
        "cls": "warn" if reproduced else status_class(inv.status),
        "violations": fmt_num(inv.violations),
        "summary": text(inv.summary),
        "examples": table(inv.examples[:MAX_EXAMPLES]),
        "n_examples": len(inv.examples),
        "open": inv.status == "invalid",
    }


def _variants(results: RunResults, metrics: RunMetrics, names: list[str], colors: list[str]) -> list[Json]:
    def not_run(name: str) -> str | None:
        """Why a variant's workload played nothing (its kind says so in its figures), or None."""
        wl = metrics.variants[name].workload if name in metrics.variants else None
        return "; ".join(wl.not_run.values()) if wl is not None and wl.not_run else None

    return [
        {
            "name": text(v.name),
            "description": text(v.description),
            "not_run": not_run(str(v.name)),
            "offered_rate": fmt_num(v.offered_rate),
            "duration": fmt_duration(v.duration_s),
            "events_offered": fmt_num(v.events_offered),
            "events_sent": fmt_num(v.events_sent),
            "achieved_rate": fmt_num(v.achieved_rate),
            "color": colors[names.index(str(v.name))] if str(v.name) in names else None,
        }
        for v in results.variants
    ]


def build_context(results: RunResults, metrics: RunMetrics, notes: list[str]) -> Json:
    """Everything the run template needs, pre-formatted (no raw JSON reaches the template)."""
    mv = metrics.variants
    names = _variant_names(results, metrics)
    colors = [svg.PALETTE[i % len(svg.PALETTE)] for i in range(len(names))]
    verdict = results.verdict
    return {
        "title": text(results.title or results.scenario or "Untitled run"),
        "description": results.description,
        "verdict": text(verdict).upper().replace("_", " ") if verdict else DASH,
        "verdict_cls": verdict if verdict in ("pass", "fail", "error") else "unknown",
        "verdict_reason": text(results.verdict_reason),
        "error": results.error,
        "notes": notes,
        "facts": _facts(results),
        "versions": [(str(k), text(v)) for k, v in results.substrate.versions.items()],
        "nodes": table([n.dump() for n in results.substrate.nodes], ("name", "role", "address", "proxy")),
        "planes": [_plane(str(k), p) for k, p in results.planes.items()],
        "targets": _targets(results),
        "invariants": [_invariant(inv) for inv in results.invariants],
        "variants": _variants(results, metrics, names, colors),
        "has_metrics": bool(mv),
        "load": sections.load_section(names, mv, colors),
        "throughput": sections.throughput_section(names, mv),
        "latency": sections.latency_section(names, mv, colors),
        "outcomes": sections.outcomes_section(names, mv),
        "ops_latency": sections.ops_latency_section(names, mv),
        "workload": sections.workload_section(names, mv),
        "faults": sections.faults_table(results.faults, mv),
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
    results, why, dropped = _load(run_dir / "results.json", RunResults)
    notes: list[str] = []
    if why is not None:
        # No usable results: this report is about an errored run, and says so.
        results = RunResults(
            scenario=run_dir.parent.name or None,
            run_id=run_dir.name,
            verdict="error",
            verdict_reason=why,
            error=f"could not read results: {why}",
        )
    if dropped:
        notes.append(f"results.json: left out as malformed: {', '.join(dropped)}.")
    notes += [f"check: {n}" for n in results.check_notes]  # e.g. a torn history, an unverified one
    metrics, mwhy, mdropped = _load(run_dir / "metrics.json", RunMetrics)
    if mwhy is not None:
        notes.append(f"{mwhy}: charts and metric tables are empty.")
    if mdropped:
        notes.append(f"metrics.json: left out as malformed: {', '.join(mdropped)}.")
    html = _env().get_template("run.html.j2").render(build_context(results, metrics, notes))
    out = run_dir / "index.html"
    _write(out, html)
    write_junit(results, run_dir / "junit.xml")
    return out


def _run_time(results: RunResults, run_dir: Path) -> float:
    t = parse_time(results.started_at)
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
            results, why, _ = _load(run_dir / "results.json", RunResults)
            verdict = results.verdict if why is None else "error"
            href = "/".join(quote(part) for part in (scenario_dir.name, run_dir.name, "index.html"))
            row = {
                "scenario": scenario_dir.name,
                "title": text(results.title),
                "run_id": run_dir.name,
                "href": href,
                "started": fmt_time(results.started_at),
                "verdict": text(verdict),
                "cls": verdict if verdict in ("pass", "fail", "error") else "unknown",
                "seed": DASH if results.seed is None else str(results.seed),
                "duration": fmt_duration(results.duration_s),
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
            counts={
                v: sum(1 for r in runs if r["verdict"] == v) for v in ("pass", "fail", "error", "not_run")
            },
            generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
            version=__version__,
        )
    )
    out = reports_root / "index.html"
    _write(out, html)
    return out
