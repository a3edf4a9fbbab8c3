"""acknowledged-increments-survive: counters that lost or gained increments, or went back.

Every injection is one increment off, on one key: a final read one below the acknowledged count
or one above every increment that may have been applied, one INCR reply one below the real-time
frontier or repeating its predecessor's, or one above what could have been applied. Half the time
a key with INCRs of unknown outcome is preferred, where the anomaly hides behind them (the counts
still fit, or a rollback the final value would not show)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from hypothesis.strategies import SearchStrategy

from harness.checkers.counters import check_acknowledged_increments

from . import NotApplicable
from ._platform import append_op, histories, ops_of

CHECK = check_acknowledged_increments
Key = dict[str, Any]


def clean() -> SearchStrategy[list[dict[str, Any]]]:
    return histories()


def _keys(records: list[dict[str, Any]]) -> dict[str, Key]:
    """key -> {acked, unknown, ok: [(invoke time, completion)], unknown_at: [invoke times of INCRs
    of unknown outcome], final: completion of its final read}."""
    out: dict[str, Key] = {}
    for inv, done in ops_of(records, "incr"):
        k = out.setdefault(inv["key"], {"acked": 0, "unknown": 0, "ok": [], "unknown_at": [], "final": None})
        if done is not None and done["type"] == "ok":
            k["acked"] += 1
            k["ok"].append((inv["time_ns"], done))
        elif done is None or done["type"] == "info":
            k["unknown"] += 1
            k["unknown_at"].append(inv["time_ns"])
    for inv, done in ops_of(records, "final_read"):
        if inv["key"] in out:
            out[inv["key"]]["final"] = done
    return out


def _pick(records: list[dict[str, Any]], rng: random.Random, want: Callable[[Key], bool]) -> Key:
    """A key that fits ``want``; half the time one with INCRs of unknown outcome, when there is."""
    keys = [k for _, k in sorted(_keys(records).items()) if want(k)]
    if not keys:
        raise NotApplicable("no counter key fits")
    hidden = [k for k in keys if k["unknown"]]
    return rng.choice(hidden if hidden and rng.random() < 0.5 else keys)


def lost(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    k = _pick(records, rng, lambda k: k["acked"] > 0 and k["final"] is not None)
    k["final"]["value"] = k["acked"] - 1 or None  # one below the acknowledged count
    return records


def phantom(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    k = _pick(records, rng, lambda k: k["final"] is not None)
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
    done["value"] = k["acked"] + k["unknown"] + 1  # one above every increment that may have been made
    return records


def below_returned_value(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """Counts alone fit (final >= acked) but an INCR already returned more than the final value:
    the final read is one below the largest reply, on a key where an INCR of unknown outcome was
    applied before it (so that reply is above the acknowledged count)."""
    natural = [k for _, k in sorted(_keys(records).items()) if k["final"] is not None and k["ok"]]
    natural = [k for k in natural if max(d["value"] for _, d in k["ok"]) > k["acked"]]
    if natural and rng.random() < 0.8:
        k = rng.choice(natural)
        k["final"]["value"] = max(d["value"] for _, d in k["ok"]) - 1
        return records
    # else: first add such a (legitimate) unknown INCR, then lose the last acknowledged increment
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
    completed with value ``v >= 2``, returns ``v - 1`` (one below the real-time frontier; a real
    INCR never returns 0, so a frontier of 1 is no place). Half the time a rollback that later
    INCRs of unknown outcome on the key would hide from the counts is preferred."""
    spots, hidden = [], []
    for _, k in sorted(_keys(records).items()):
        done_at = {d["id"]: d["time_ns"] for _, d in k["ok"]}
        for t, done in k["ok"]:
            before = [d["value"] for _, d in k["ok"] if done_at[d["id"]] < t]
            if before and max(before) >= 2:
                spots.append((done, max(before)))
                if any(u > t for u in k["unknown_at"]):
                    hidden.append(spots[-1])
    if not spots:
        raise NotApplicable("no acknowledged INCR after one that returned 2 or more")
    done, frontier = rng.choice(hidden if hidden and rng.random() < 0.5 else spots)
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
