"""Time to detect and time to recover, from a rehearsal's operator actions and alert events.

Per fault applied at ``t``: time to detect is ``t`` to the first alert that began firing at or
after it (and before the fault was healed, or the next fault applied: a later one is another
fault's). Per heal at ``h``: time to recover is ``h`` to the moment the last of the alerts that
fired during the fault had resolved; None when one was still firing at the end (not recovered
within the rehearsal), or when nothing fired (nothing to recover from, as far as alerts tell).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Action:
    t_s: float
    kind: str  # fault | heal
    fault: str = ""
    target: str = ""
    ok: bool = True


@dataclass(frozen=True)
class Incident:
    fault: str
    target: str
    applied_s: float
    healed_s: float | None
    detected_by: str | None
    ttd_s: float | None
    ttr_s: float | None
    unresolved: list[str]  # alerts still firing at the end
    steady_s: float | None = None  # heal -> ingestion back in its steady state (see steady_after)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def steady_after(
    rate: Sequence[tuple[float, float | None]],
    fault_s: float,
    heal_s: float,
    hold: int = 3,
    share: float = 0.9,
) -> float | None:
    """Seconds from ``heal_s`` until the rate (``(t, events/s)`` samples) is back to ``share`` of
    its mean over the 10 s before the fault, for ``hold`` samples in a row; None when it never
    was before the samples end (or there is no steady state before the fault to compare with)."""
    before = [v for t, v in rate if fault_s - 10 <= t < fault_s and v is not None]
    if not before:
        return None
    floor = share * sum(before) / len(before)
    run: list[float] = []
    for t, v in rate:
        if t < heal_s:
            continue
        run = [*run, t] if v is not None and v >= floor else []
        if len(run) >= hold:
            return max(0.0, run[0] - heal_s)
    return None


def incidents(
    actions: Sequence[Action],
    events: Sequence[dict[str, Any]],
    end_s: float,
    rate: Sequence[tuple[float, float | None]] = (),
) -> list[Incident]:
    """``events``: alert events as dicts (rule, instance, kind firing|resolved, t_s), in time order;
    ``rate``: events ingested per second, sampled, for the steady-state recovery."""
    faults = [a for a in actions if a.kind == "fault" and a.ok]
    heals = [a.t_s for a in actions if a.kind == "heal"]
    out = []
    for i, f in enumerate(faults):
        healed = next((h for h in heals if h >= f.t_s), None)
        nxt = faults[i + 1].t_s if i + 1 < len(faults) else end_s
        until = min(x for x in (healed, nxt, end_s) if x is not None)
        fired = [e for e in events if e["kind"] == "firing" and f.t_s <= e["t_s"] <= until]
        first = fired[0] if fired else None
        ttr: float | None = None
        unresolved: list[str] = []
        if healed is not None and fired:
            keys = {(e["rule"], e["instance"]) for e in fired}
            resolved_at = []
            for key in sorted(keys):
                res = [
                    e["t_s"]
                    for e in events
                    if e["kind"] == "resolved" and (e["rule"], e["instance"]) == key and e["t_s"] >= f.t_s
                ]
                if res:
                    resolved_at.append(res[0])
                else:
                    unresolved.append(f"{key[0]} {key[1]}".strip())
            ttr = None if unresolved else max(0.0, max(resolved_at) - healed)
        out.append(
            Incident(
                f.fault,
                f.target,
                f.t_s,
                healed,
                None if first is None else first["rule"],
                None if first is None else first["t_s"] - f.t_s,
                ttr,
                unresolved,
                None if healed is None else steady_after(rate, f.t_s, healed),
            )
        )
    return out
