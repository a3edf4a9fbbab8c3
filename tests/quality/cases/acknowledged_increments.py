"""acknowledged-increments-survive: counters that lost or gained increments, or went back."""

from __future__ import annotations

import random
from typing import Any

from hypothesis.strategies import SearchStrategy

from harness.checkers.counters import check_acknowledged_increments

from . import NotApplicable
from ._platform import append_op, histories, ops_of

CHECK = check_acknowledged_increments


def clean() -> SearchStrategy[list[dict[str, Any]]]:
    return histories()


def _keys(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """key -> {acked, unknown, ok: [(invoke time, completion)], final: completion of its final read}."""
    out: dict[str, dict[str, Any]] = {}
    for inv, done in ops_of(records, "incr"):
        k = out.setdefault(inv["key"], {"acked": 0, "unknown": 0, "ok": [], "final": None})
        if done is not None and done["type"] == "ok":
            k["acked"] += 1
            k["ok"].append((inv["time_ns"], done))
        elif done is None or done["type"] == "info":
            k["unknown"] += 1
    for inv, done in ops_of(records, "final_read"):
        if inv["key"] in out:
            out[inv["key"]]["final"] = done
    return out


def _pick(records: list[dict[str, Any]], rng: random.Random, want: Any) -> dict[str, Any]:
    keys = [k for _, k in sorted(_keys(records).items()) if want(k)]
    if not keys:
        raise NotApplicable("no counter key fits")
    return rng.choice(keys)


def _final(k: dict[str, Any]) -> int:
    return k["final"]["value"] or 0


def lost(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    k = _pick(records, rng, lambda k: k["acked"] > 0)
    k["final"]["value"] = k["acked"] - 1 or None  # one acknowledged increment is gone
    return records


def phantom(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    k = _pick(records, rng, lambda k: True)
    k["final"]["value"] = k["acked"] + k["unknown"] + 1  # one increment nobody can have made
    return records


def went_back(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    k = _pick(records, rng, lambda k: len(k["ok"]) >= 2)
    ok = sorted(k["ok"], key=lambda x: x[0])
    i = rng.randrange(1, len(ok))
    ok[i][1]["value"] = ok[i - 1][1]["value"]  # a later INCR returned an earlier value again
    return records


def impossible_value(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    k = _pick(records, rng, lambda k: len(k["ok"]) >= 1)
    _, done = rng.choice(k["ok"])
    done["value"] = k["acked"] + k["unknown"] + 1 + rng.randrange(3)
    return records


def below_returned_value(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """Counts alone fit (final >= acked) but an INCR already returned more than the final value.

    Needs an unknown-outcome INCR that was applied before the key's last acknowledged one; the
    mutation first adds such a (legitimate) INCR, then loses the last acknowledged increment."""
    k = _pick(records, rng, lambda k: bool(k["ok"]) and k["final"] is not None)
    t_last, last = max(k["ok"], key=lambda x: x[1]["value"])
    key = next(r["key"] for r in records if r["id"] == last["id"] and r["type"] == "invoke")
    append_op(
        records, "incr", "info", t_last - 2, {"error": "TimeoutError"}, key=key, tenant="t", event_id="x"
    )
    for t, done in k["ok"]:
        if t > t_last - 2:
            done["value"] += 1  # the unknown INCR was applied before these
    k["final"]["value"] = last["value"] - 1 or None  # the last acknowledged increment is gone
    return records


def rolled_back(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """A failover rolled the counter back: one acknowledged INCR, invoked after another one
    completed with value ``v``, returns ``v - 1`` (one below the real-time frontier)."""
    spots = []
    for _, k in sorted(_keys(records).items()):
        done_at = {d["id"]: d["time_ns"] for _, d in k["ok"]}
        for t, done in k["ok"]:
            before = [d["value"] for _, d in k["ok"] if done_at[d["id"]] < t]
            if before and max(before) >= 1:
                spots.append((done, max(before)))
    if not spots:
        raise NotApplicable("no acknowledged INCR after another acknowledged one")
    # a real rollback needs a frontier >= 2 (an INCR never returns 0); the simulated windows rarely
    # hold two sequential acknowledged INCRs, so a frontier of 1 (reply 0) is the fallback
    real = [s for s in spots if s[1] >= 2]
    done, frontier = rng.choice(real or spots)
    done["value"] = frontier - 1
    return records


ANOMALIES = {
    "lost": lost,
    "phantom": phantom,
    "duplicate-incr-value": went_back,
    "incr-went-backwards": rolled_back,
    "phantom-incr-value": impossible_value,
    "lost-below-incr-value": below_returned_value,
}
