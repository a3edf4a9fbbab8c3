"""Which server of a whole-platform capacity run saturated first: a pure judgement over the saved
steps (no I/O), so it can be tested against the step series that would fool it.

Each step carries every server's CPU (cores used during the step, from its own statistics) and
each server is judged against **its own** cap: a server is saturated in a step when its CPU is at
least ``saturated_frac`` of its cap. The first step (in offered-rate order) where any server is
saturated names it; when two are saturated in that same step, the one nearer its cap. A server is
never blamed for another's saturation: a step where Redis ran at its cap and MongoDB did not
names Redis, whatever MongoDB's share of the latency."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.metrics.knee import SATURATED_FRAC


def utilisation(cpu: Mapping[str, float], caps: Mapping[str, float]) -> dict[str, float]:
    """Each server's CPU as a share of its own cap."""
    return {name: round(float(cpu[name]) / float(caps[name]), 4) for name in caps}


def first_saturated(
    steps: Sequence[Mapping[str, Any]],
    caps: Mapping[str, float],
    saturated_frac: float = SATURATED_FRAC,
    names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``steps``: each with ``offered`` and ``servers`` (name -> ``{"cpu_cores": ...}``); ``caps``:
    name -> cores; ``names``: how the note calls each server (e.g. its version). Returns the server
    that saturated first (``None``: none did), the offered rate where, every server's utilisation
    there, and a note."""
    called = {n: f"{n} ({names[n]})" if names and n in names else n for n in caps}
    if not caps or any(c <= 0 for c in caps.values()):
        raise ValueError("first_saturated: every server needs a cap > 0")
    for s in sorted(steps, key=lambda s: float(s["offered"])):
        util = utilisation({n: s["servers"][n]["cpu_cores"] for n in caps}, caps)
        hot = [n for n, u in util.items() if u >= saturated_frac]
        if hot:
            name = max(hot, key=lambda n: util[n])
            others = ", ".join(f"{called[n]} {u:.0%}" for n, u in util.items() if n != name)
            return {
                "server": name,
                "offered": float(s["offered"]),
                "utilisation": util,
                "saturated_frac": saturated_frac,
                "note": (
                    f"{called[name]} saturated first: {util[name]:.0%} of its {caps[name]:g}-core cap at "
                    f"{float(s['offered']):,.0f} events/s offered (the other: {others} of its cap)"
                ),
            }
    top = max(steps, key=lambda s: float(s["offered"])) if steps else None
    util = utilisation({n: top["servers"][n]["cpu_cores"] for n in caps}, caps) if top else {}
    return {
        "server": None,
        "offered": None,
        "utilisation": util,
        "saturated_frac": saturated_frac,
        "note": f"no server reached {saturated_frac:.0%} of its CPU cap in any step",
    }
