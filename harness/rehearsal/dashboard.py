"""The live terminal dashboard: one rich renderable per refresh, built from plain figures (so it
can be rendered and read in a test without a terminal)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text


@dataclass
class View:
    topology: str
    run_id: str
    t_s: float
    end_s: float
    offered: float
    ingest_rate: float | None
    query_p99_s: float | None
    errors: dict[tuple[str, str], dict[str, int]]  # (process, f) -> ok/fail/info, last few seconds
    lag: dict[str, float | None]  # replica link -> seconds since its last ACK
    firing: list[tuple[str, str, float | None]]
    pending: list[tuple[str, str, float | None]]
    rules: int
    for_scale: float
    active: list[str]
    actions: list[dict[str, Any]] = field(default_factory=list)
    scripted: bool = False


def _num(v: float | None, unit: str = "", digits: int = 1) -> str:
    return "-" if v is None else f"{v:,.{digits}f}{unit}"


def _figures(v: View) -> Table:
    t = Table.grid(padding=(0, 3))
    t.add_row(
        f"[bold]{v.topology}[/bold]  run {v.run_id}",
        f"t {v.t_s:,.0f} s / {v.end_s:,.0f} s",
        f"offered {v.offered:,.0f} events/s",
    )
    t.add_row(
        f"ingested [bold]{_num(v.ingest_rate, '/s', 0)}[/bold]",
        f"query p99 [bold]{_num(None if v.query_p99_s is None else v.query_p99_s * 1000, ' ms')}[/bold]",
        "replication lag " + (", ".join(f"{k} {_num(x, ' s', 0)}" for k, x in sorted(v.lag.items())) or "-"),
    )
    return t


def _errors(v: View) -> Table:
    t = Table(title="ops, last 5 s", title_justify="left", show_edge=False, pad_edge=False)
    for col in ("op", "ok", "fail", "info"):
        t.add_column(col, justify="left" if col == "op" else "right")
    for (process, f), c in sorted(v.errors.items()):
        style = "red" if c.get("fail", 0) or c.get("info", 0) else ""
        t.add_row(
            f"{process}/{f}",
            f"{c.get('ok', 0):,}",
            f"{c.get('fail', 0):,}",
            f"{c.get('info', 0):,}",
            style=style,
        )
    return t


def _alerts(v: View) -> Text:
    out = Text()
    scale = f"for: x {v.for_scale:g}" if v.for_scale != 1 else "for: as written"
    out.append(f"alerts ({v.rules} rules evaluated, {scale})\n", style="bold")
    for rule, inst, since in v.firing:
        out.append(f"  FIRING  {rule} {inst} since {_num(since, ' s')}\n", style="bold red")
    for rule, inst, since in v.pending:
        out.append(f"  pending {rule} {inst} since {_num(since, ' s')}\n", style="yellow")
    if not v.firing and not v.pending:
        out.append("  none firing\n", style="green")
    return out


def _actions(v: View) -> Text:
    out = Text()
    out.append("faults active: ", style="bold")
    out.append(", ".join(v.active) or "none", style="bold magenta" if v.active else "")
    out.append("\n")
    for a in v.actions[-6:]:
        what = f"{a['fault']} {a['target']}".strip() if a["action"] == "fault" else "heal"
        status = "applied" if a["ok"] and a["action"] == "fault" else ("done" if a["ok"] else "FAILED")
        detail = "" if a["ok"] else f": {a['detail']}"
        out.append(f"  {a['t_s']:7.1f} s  {a['source']:<8} {what} {status}{detail}\n")
    return out


def render(v: View) -> Panel:
    hint = (
        "scripted rehearsal; Ctrl-C ends it"
        if v.scripted
        else "in another terminal: harness fault <kind> <target> | harness fault heal;  q or Ctrl-C ends"
    )
    body = Group(_figures(v), Text(""), _alerts(v), _actions(v), _errors(v))
    return Panel(body, title="incident rehearsal", subtitle=hint, subtitle_align="left")
