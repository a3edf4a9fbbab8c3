"""The report's facts and charts of the kinds that keep figures of their own: tenant_reads' reads,
growth's memory and keys (Redis), mongo_growth's documents and bytes (MongoDB)."""

from __future__ import annotations

from markupsafe import Markup

from harness.records import WorkloadFigures
from harness.records.metrics import GrowthFigures, StorageFigures, TenantReadFigures
from harness.report import svg
from harness.report.format import fmt_num, text


def kind_chart(name: str, wl: WorkloadFigures) -> Markup | None:
    return growth_chart(name, wl) or storage_chart(name, wl)


def kind_facts(wl: WorkloadFigures) -> list[tuple[str, str]]:
    facts: list[tuple[str, str]] = []
    if (tr := wl.tenant_reads) is not None:
        facts.append(tenant_reads_fact(tr))
    if (g := wl.growth) is not None:
        facts.append(growth_fact(g))
    if (st := wl.storage) is not None:
        facts += storage_facts(st)
    return facts


def growth_chart(name: str, wl: WorkloadFigures) -> Markup | None:
    if wl.growth is None or not wl.growth.series:
        return None
    series = wl.growth.series
    return Markup(
        svg.line_chart(
            [p[0] for p in series],
            [
                ("used memory (MB)", [round(p[1] / 2**20, 2) for p in series]),
                ("keys (thousands)", [p[2] / 1000 for p in series]),
            ],
            title=f"{name}: the masters' memory and keys",
            x_label="time (s)",
        )
    )


def growth_fact(g: GrowthFigures) -> tuple[str, str]:
    policy = (
        f"TTL {fmt_num(g.retention_ms)} ms" if g.expire else f"no TTL (class {fmt_num(g.retention_ms)} ms)"
    )
    return (
        f"storage ({policy})",
        f"{fmt_num(g.stored)} events stored, {fmt_num(g.oom_refusals)} refused at maxmemory; "
        f"{fmt_num(g.bytes_per_key)} bytes a key; growth in the second half "
        f"{fmt_num(g.slope_bytes_per_s_second_half)} bytes/s; at 1B events a day "
        f"{fmt_num(g.bytes_per_key)} GB written a day",
    )


def tenant_reads_fact(tr: TenantReadFigures) -> tuple[str, str]:
    lat = tr.read_latency_ms
    spread = ", ".join(f"{k} {fmt_num(v)} ms" for k, v in lat.items() if k != "max")
    return (
        f"tenant reads ({text(tr.layout)})",
        f"{fmt_num(tr.reads)} reads, {fmt_num(tr.nodes_per_read_mean)} nodes each (at most "
        f"{fmt_num(tr.nodes_per_read_max)}); {fmt_num(100 * (tr.slow_share or 0))}% slower than "
        f"{fmt_num(tr.slow_ms)} ms from their schedule; {spread}; {fmt_num(tr.not_ok)} not ok"
        + (f", {fmt_num(tr.dropped)} not run by the deadline" if tr.dropped else ""),
    )


def storage_chart(name: str, wl: WorkloadFigures) -> Markup | None:
    if wl.storage is None or not wl.storage.series:
        return None
    series = wl.storage.series
    return Markup(
        svg.line_chart(
            [p[0] for p in series],
            [
                ("data + index (MB)", [round((p[2] + p[4]) / 2**20, 2) for p in series]),
                ("documents (thousands)", [p[1] / 1000 for p in series]),
                ("oldest document's age (s)", [None if p[5] is None else p[5] / 1000 for p in series]),
            ],
            title=f"{name}: the events collection's storage",
            x_label="time (s)",
        )
    )


def storage_facts(st: StorageFigures) -> list[tuple[str, str]]:
    how = {"none": "nothing deleted", "ttl_index": "TTL index", "batched_cleanup": "batched cleanup"}
    policy = how.get(str(st.retention), text(st.retention))
    facts = [
        (
            f"storage ({policy}, class {fmt_num(st.retention_ms)} ms)",
            f"{fmt_num(st.stored)} events stored, {fmt_num(st.documents_end)} documents at the end"
            + (f", {fmt_num(st.cleanup_deleted)} deleted by the cleanup job" if st.cleanup_deleted else "")
            + f"; {fmt_num(st.slope_docs_per_s_second_half)} more documents a second in the second half; "
            f"the oldest stood at most {fmt_num(st.deletion_lag_ms_max)} ms past its retention",
        )
    ]
    if st.bytes_per_event is not None:
        facts.append(
            (
                "at the capstone's 1B events a day",
                f"{fmt_num(st.bytes_per_event)} bytes an event (data + index): "
                f"{fmt_num(st.capstone_tb_after_18_months)} TB after 18 months kept, "
                f"{fmt_num(st.capstone_tb_kept_90_days)} TB with the standard class's 90 days",
            )
        )
    return facts
