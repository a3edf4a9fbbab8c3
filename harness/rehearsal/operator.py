"""The operator's side of a running rehearsal: faults and heals asked for (by a terminal through
the control directory, by the rehearsal file, or by a key), applied through the nemesis so each is
a ``nemesis`` op in the history, and logged as actions for the timeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.faults.base import FaultParamError
from harness.faults.nemesis import Nemesis, build_fault
from harness.faults.selectors import parse_selector
from harness.metrics.incident import Action
from harness.rehearsal import control
from harness.topology.deployment import Deployment


@dataclass
class Operator:
    nemesis: Nemesis
    dep: Deployment
    control_dir: Path
    actions: list[dict[str, Any]] = field(default_factory=list)
    end_requested: str | None = None  # why the rehearsal should end (a terminal asked)

    def now_s(self) -> float:
        return (self.nemesis.clock.now_ns() - self.nemesis.origin_ns) / 1e9

    def _check_target(self, target: str | None) -> None:
        """A plain node name must be one of this topology's (selectors are resolved at apply)."""
        if target is None:
            return
        names = self.dep.node_names()
        sel = parse_selector(target, "fault")
        if sel.kind == "node" and target not in names:
            raise FaultParamError(f"unknown target '{target}'; nodes here: {', '.join(names)}")

    def fault(self, kind: str, target: str | None, params: dict[str, Any], source: str) -> dict[str, Any]:
        t = self.now_s()
        try:
            build_fault(kind, target, params)
            self._check_target(target)
        except (ValueError, FaultParamError) as exc:
            return self._log(t, source, "fault", kind, target, False, str(exc))
        rec = self.nemesis.apply_now(kind, target, params)
        ok = rec.status == "applied"
        detail = rec.applied if ok else rec.reason
        return self._log(t, source, "fault", kind, target, ok, detail)

    def heal(self, source: str) -> dict[str, Any]:
        t = self.now_s()
        active = self.nemesis.active()
        self.nemesis.heal_all()
        healed = [f"{r.planned.fault} {r.planned.target or ''}".strip() for r in active]
        return self._log(t, source, "heal", "", None, True, healed or "nothing was active")

    def _log(
        self, t: float, source: str, kind: str, fault: str, target: str | None, ok: bool, detail: Any
    ) -> dict[str, Any]:
        entry = {
            "t_s": round(t, 3),
            "done_s": round(self.now_s(), 3),
            "source": source,
            "action": kind,
            "fault": fault,
            "target": target or "",
            "ok": ok,
            "detail": detail,
        }
        self.actions.append(entry)
        return entry

    def serve(self) -> None:
        """Answers every request waiting in the control directory."""
        for rid, req in control.pending(self.control_dir):
            what = req.get("action")
            if what == "fault":
                entry = self.fault(
                    str(req.get("kind")), req.get("target"), dict(req.get("params") or {}), "terminal"
                )
                reply = {
                    "ok": entry["ok"],
                    "entry": entry,
                    "error": None if entry["ok"] else str(entry["detail"]),
                }
            elif what == "heal":
                reply = {"ok": True, "entry": self.heal("terminal")}
            elif what == "end":
                self.end_requested = "ended from a terminal (harness fault --end)"
                reply = {"ok": True}
            else:
                reply = {"ok": False, "error": f"unknown action {what!r}: fault, heal or end"}
            control.answer(self.control_dir, rid, reply)

    def timeline_actions(self) -> list[Action]:
        return [Action(a["done_s"], a["action"], a["fault"], a["target"], a["ok"]) for a in self.actions]
