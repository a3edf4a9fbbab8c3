"""The report's metric sections, one function per section, each from ``metrics.json``'s variants
(:class:`harness.records.VariantMetrics`) and pre-formatted for the template."""

from __future__ import annotations

from collections.abc import Mapping

from markupsafe import Markup

from harness.records import (
    CacheFigures,
    FaultRecord,
    ReadFigures,
    RecoveryFigures,
    VariantMetrics,
    WorkloadFigures,
)
from harness.report import svg
from harness.report.format import Json, cell, columns, fmt_num, fmt_pct, num, text
from harness.report.kind_figures import kind_chart, kind_facts
from harness.report.sharded import sharded_facts

OUTCOME_ORDER = ("ok", "fail", "info", "rate_limited", "unsent")
Variants = Mapping[str, VariantMetrics]


def _of(mv: Variants, name: str) -> VariantMetrics:
    return mv.get(name) or VariantMetrics()


def _series(v: list[int | float | None]) -> list[float | None]:
    return [num(x) for x in v]


def load_section(names: list[str], mv: Variants, colors: list[str]) -> Json:
    nodes: list[str] = []
    shares: dict[str, dict[str, float | None]] = {}
    table: list[Json] = []
    for name in names:
        rows = _of(mv, name).per_master
        total = sum(num(r.ops) or 0.0 for r in rows)
        shares[name] = {}
        for r in rows:
            node = text(r.node)
            nodes += [node] if node not in nodes else []
            share, ops = num(r.share), num(r.ops)
            if share is None and ops is not None and total > 0:
                share = ops / total
            shares[name][node] = share
            table.append(
                {
                    "variant": name,
                    "node": node,
                    "ops": fmt_num(r.ops),
                    "ops_per_s": fmt_num(r.ops_per_s),
                    "share": fmt_pct(share),
                    "cpu": fmt_num(r.cpu_cores),
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
    imbalance = [{"variant": n, "value": fmt_num(_of(mv, n).imbalance_ratio)} for n in names]
    return {"chart": Markup(chart), "imbalance": imbalance, "table": table, "has_data": bool(nodes)}


def _fault_bands(variant: VariantMetrics) -> list[tuple[float, float, str]]:
    """Fault windows as seconds since the variant's start, from its recovery figures."""
    origin = num(variant.start_ms)
    if origin is None:
        return []
    bands = []
    for fig in variant.recovery:
        start, heal = num(fig.start_ms), num(fig.heal_ms)
        if start is None:
            continue
        end = heal if heal is not None else start
        label = f"{fig.fault} {fig.target or ''}".strip()
        bands.append(((start - origin) / 1000, (end - origin) / 1000, label))
    return bands


def faults_table(faults: list[FaultRecord], mv: Variants) -> Json:
    """One row per planned fault: what the nemesis did (on time or not) and what it cost the
    workload (the recovery figures of the same variant and index)."""
    figures = {(str(name), fig.index): fig for name, v in mv.items() for fig in v.recovery}
    cols = [
        "variant", "at s", "fault", "target", "status", "applied to", "late by ms", "healed late by ms",
        "writes ok / fail / info during", "errors until ms", "first ok after heal ms", "election ms",
        "ok/s before → during → after", "p99 ms before → during → after",
    ]  # fmt: skip
    return {"columns": cols, "rows": [_fault_row(f, figures.get((str(f.variant), f.index))) for f in faults]}


def _fault_row(f: FaultRecord, fig: RecoveryFigures | None) -> list[str]:
    counts = fig.during_counts if fig is not None else None
    parts = [getattr(fig, k, None) for k in ("before", "during", "after")]
    applied = f.applied or {}
    status = str(f.status) + (f": {f.reason}" if f.reason else "")
    return [
        cell(f.variant),
        fmt_num(f.at_s),
        cell(f.fault),
        cell(f.target),
        status,
        cell(applied.get("nodes") or applied or "-"),
        fmt_num(f.start_delay_ms),
        fmt_num(f.heal_delay_ms),
        " / ".join(fmt_num(getattr(counts, k)) for k in ("ok", "fail", "info")) if counts else "-",
        fmt_num(fig.errors_until_ms if fig else None),
        fmt_num(fig.first_ok_after_heal_ms if fig else None),
        fmt_num(fig.election_ms if fig else None),
        " → ".join(fmt_num(p.ok_per_s if p else None) for p in parts) if fig else "-",
        " → ".join(fmt_num(p.p99_ms if p else None) for p in parts) if fig else "-",
    ]


def throughput_section(names: list[str], mv: Variants) -> list[Json]:
    out: list[Json] = []
    for name in names:
        ts = _of(mv, name).timeseries
        if not any((x or 0) > 0 for x in ts.offered_ops_per_s):  # played nothing (its workload said why)
            continue
        bands = _fault_bands(_of(mv, name))
        t = _series(ts.t_s)
        total = svg.line_chart(
            t,
            [("offered", _series(ts.offered_ops_per_s)), ("achieved", _series(ts.achieved_ops_per_s))],
            title=f"{name}: offered vs achieved",
            x_label="time (s)",
            y_label="ops/s",
            colors=["#374151", "#3b6ea8"],
            dashed=["offered"],
            bands=bands,
        )
        per_master = svg.line_chart(
            t,
            [(str(node), _series(ys)) for node, ys in ts.per_master_ops_per_s.items()],
            title=f"{name}: ops/s per master",
            x_label="time (s)",
            y_label="ops/s",
            bands=bands,
        )
        shown = Markup(per_master) if ts.per_master_ops_per_s else None  # no Redis master: no chart
        out.append({"variant": name, "total": Markup(total), "per_master": shown})
    return out


def latency_section(names: list[str], mv: Variants, colors: list[str]) -> Json:
    rows: list[Json] = []
    groups: list[str] = []
    p99: dict[str, dict[str, float | None]] = {}
    for name in names:
        p99[name] = {}
        for g, stats in _of(mv, name).latency_ms.items():
            groups += [g] if g not in groups else []
            p99[name][g] = num(stats.p99)
            rows.append(
                {"variant": name, "group": g}
                | {k: fmt_num(getattr(stats, k)) for k in ("count", "p50", "p99", "p999", "max")}
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


def ops_latency_section(names: list[str], mv: Variants) -> Json:
    """Per op type, the HdrHistogram summary (latency from the scheduled time)."""
    rows: list[Json] = []
    for name in names:
        for f, q in sorted(_of(mv, name).latency_by_op.items()):
            shown = {k: fmt_num(getattr(q, k)) for k in ("count", "p50", "p90", "p99", "p999", "max")}
            rows.append({"variant": name, "op": str(f), **shown})
    return {"rows": rows}


def workload_section(names: list[str], mv: Variants) -> list[Json]:
    """A workload's own figures per variant: the platform's query mix, cache, ingest queue (depth
    over time, shed counts), sessions and MongoDB side; tenant_reads' reads."""
    out: list[Json] = []
    for name in names:
        wl = _of(mv, name).workload
        if wl is None or not wl.dump():
            continue
        chart = _queue_chart(name, wl) or kind_chart(name, wl)
        out.append({"variant": name, "facts": _workload_facts(wl), "queue_chart": chart})
    return out


def _reads_fact(reads: ReadFigures) -> str:
    kinds = ", ".join(f"{k} {fmt_num(v)}" for k, v in sorted(reads.by_kind.items()))
    out = f"{fmt_num(reads.offered)} offered ({kinds}); {fmt_num(reads.not_ok)} not ok"
    if reads.mongo_dropped:
        out += f"; {fmt_num(reads.mongo_dropped)} MongoDB queries not run by the deadline"
    if reads.redis_dropped:
        out += f"; {fmt_num(reads.redis_dropped)} Redis reads not run by the deadline"
    return out


def _queue_chart(name: str, wl: WorkloadFigures) -> Markup | None:
    if wl.queue is None or not wl.queue.depth_series:
        return None
    series = wl.queue.depth_series
    return Markup(
        svg.line_chart(
            [p[0] for p in series],
            [("queue depth", [p[1] for p in series])],
            title=f"{name}: ingest queue depth",
            x_label="time (s)",
            y_label="events queued",
        )
    )


def _cache_fact(cache: CacheFigures) -> str:
    origin = f" of {text(cache.origin)}" if cache.origin else ""
    return (
        f"queries{origin} per expiry: mean {fmt_num(cache.loads_per_expiry_mean)}, "
        f"max {fmt_num(cache.max_stampede)}, over {fmt_num(cache.expiries)} expiries "
        f"({fmt_num(cache.reader_loads)} loads by readers, {fmt_num(cache.refresher_loads)} by the "
        f"refresher); {fmt_num(cache.misses)} misses; {fmt_num(cache.lock_timeouts)} lock timeouts"
    )


def _workload_facts(wl: WorkloadFigures) -> list[tuple[str, str]]:
    facts = kind_facts(wl)
    if (sh := wl.sharded) is not None:
        facts += sharded_facts(sh)
    if (reads := wl.reads) is not None:
        facts.append(("reads", _reads_fact(reads)))
    if (cache := wl.cache) is not None:
        facts.append((f"cache ({text(cache.variant)})", _cache_fact(cache)))
    if (sess := wl.sessions) is not None:
        oc = sess.outcomes
        facts.append(
            (
                "sessions",
                f"{fmt_num(sess.sent)} requests: ok {fmt_num(oc.get('ok'))}, "
                f"fail {fmt_num(oc.get('fail'))}, unknown {fmt_num(oc.get('info'))}",
            )
        )
    if (mongo := wl.mongo) is not None:
        ing = mongo.ingest
        facts.append(
            (
                "MongoDB inserts",
                f"{fmt_num(ing.events if ing else None)} events in {fmt_num(ing.batches if ing else None)} "
                f"batches; outcomes {text(ing.final if ing else None)}",
            )
        )
        for ns, per_shard in sorted(mongo.chunks.items()):
            shown = ", ".join(f"{text(s)} {fmt_num(n)}" for s, n in sorted(per_shard.items()))
            facts.append((f"chunks of {text(ns)} at the start", shown or "none"))
    facts += [("error", err) for err in wl.errors]
    facts += [(f"not run: {text(path)}", text(why)) for path, why in sorted(wl.not_run.items())]
    facts += [(text(path), text(note)) for path, note in sorted(wl.notes.items())]
    if (queue := wl.queue) is not None:
        facts.append(
            (
                "ingest queue",
                f"{fmt_num(queue.offered)} offered: {fmt_num(queue.completed)} ingested, "
                f"{fmt_num(queue.shed)} shed (rejected: backpressure), {fmt_num(queue.expired)} never sent; "
                f"max depth {fmt_num(queue.max_depth)}; producer blocked {fmt_num(queue.blocked_s)} s",
            )
        )
    return facts


def outcomes_section(names: list[str], mv: Variants) -> Json:
    # The outcome kinds are whatever the drivers counted: the columns are the keys written.
    per = {n: _of(mv, n).outcomes.dump() for n in names}
    present = [n for n in names if per[n]]
    seen = columns(per[n] for n in present)
    cols = [c for c in OUTCOME_ORDER if c in seen] + [c for c in seen if c not in OUTCOME_ORDER]
    return {"columns": cols, "rows": [[n] + [fmt_num(per[n].get(c)) for c in cols] for n in present]}
