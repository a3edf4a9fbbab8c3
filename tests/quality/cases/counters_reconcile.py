"""counters-reconcile: a tenant/window counter off its increments, and counters vs MongoDB.

Every injection is the smallest that leaves the group's interval: a counter one past
``[Ra, Ra + Ru]`` (half the time on a group with INCRs of unknown outcome, where the counts hide
it), the planes' gap one past the interval the ``info`` uncertainty of both explains (moved by the
fewest counter increments or documents), or one document too few or too many for the group's own
inserts."""

from __future__ import annotations

import random
from typing import Any

from hypothesis.strategies import SearchStrategy

from harness.checkers.counters_reconcile import check_counters_reconcile

from . import NotApplicable
from ._platform import histories, ops_of

CHECK = check_counters_reconcile
Group = tuple[str, Any]


def clean() -> SearchStrategy[list[dict[str, Any]]]:
    return histories()


def _counters(records: list[dict[str, Any]]) -> dict[Group, dict[str, Any]]:
    """(tenant, window) -> {ra, ru, finals: [final_read completions of its keys]}."""
    out: dict[Group, dict[str, Any]] = {}
    group_of: dict[str, Group] = {}
    for inv, done in ops_of(records, "incr"):
        g = group_of.setdefault(inv["key"], (inv["tenant"], inv.get("window")))
        s = out.setdefault(g, {"ra": 0, "ru": 0, "finals": []})
        if done is not None and done["type"] == "ok":
            s["ra"] += 1
        elif done is None or done["type"] == "info":
            s["ru"] += 1
    for inv, done in ops_of(records, "final_read"):
        if inv["key"] in group_of and done is not None and done["type"] == "ok":
            out[group_of[inv["key"]]]["finals"].append(done)
    return out


def _shift(finals: list[dict[str, Any]], delta: int) -> None:
    """Moves the group's counter sum by ``delta`` (down: from its largest key)."""
    done = max(finals, key=lambda d: d["value"] or 0)
    done["value"] = (done["value"] or 0) + delta or None


def counter_off(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    spots = []
    for _, s in sorted(_counters(records).items(), key=str):
        if not s["finals"]:
            continue
        c = sum(d["value"] or 0 for d in s["finals"])
        spots.append((s, s["ra"] + s["ru"] + 1 - c))  # one above every increment that may have been made
        if s["ra"] >= 1:
            spots.append((s, s["ra"] - 1 - c))  # one below the acknowledged ones
    if not spots:
        raise NotApplicable("no counter read")
    hidden = [sp for sp in spots if sp[0]["ru"]]
    s, delta = rng.choice(hidden if hidden and rng.random() < 0.5 else spots)
    _shift(s["finals"], delta)
    return records


def _stored(records: list[dict[str, Any]]) -> dict[Group, dict[str, Any]]:
    """(tenant, window) -> {ma, mu, value: the tenant's final_events value, ids: stored event ids}."""
    outcome: dict[tuple[str, str], set[Any]] = {}
    window: dict[tuple[str, str], Any] = {}
    for inv, done in ops_of(records, "insert"):
        key = (inv["tenant"], inv["event_id"])
        outcome.setdefault(key, set()).add(None if done is None else done["type"])
        window[key] = inv.get("window")
    out: dict[Group, dict[str, Any]] = {}
    for inv, done in ops_of(records, "final_events"):
        if done is None or done["type"] != "ok":
            continue
        tenant, value = inv["tenant"], done["value"]
        windows = value.get("windows") or [window.get((tenant, e)) for e in value["event_ids"]]
        for (t, e), seen in sorted(outcome.items()):
            if t == tenant:
                s = out.setdefault((t, window[(t, e)]), {"ma": 0, "mu": 0, "value": value, "ids": []})
                s["ma" if "ok" in seen else "mu"] += "ok" in seen or bool(seen & {"info", None})
        for e, w in zip(value["event_ids"], windows, strict=True):
            out.setdefault((tenant, w), {"ma": 0, "mu": 0, "value": value, "ids": []})["ids"].append(e)
    return out


def _documents(s: dict[str, Any], w: Any, delta: int) -> None:
    """Adds ``delta`` ghost documents to the group (or removes ``-delta`` of its stored ones)."""
    value = s["value"]
    for n in range(delta):
        value["event_ids"].append(f"ghost-{n}")
        if "windows" in value:
            value["windows"].append(w)
    for e in s["ids"][: max(0, -delta)]:
        i = value["event_ids"].index(e)
        del value["event_ids"][i]
        if "windows" in value:
            del value["windows"][i]


def planes_apart(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """The gap ``C - M`` one past ``[Ra - (Ma + Mu), (Ra + Ru) - Ma]``, by the fewest moves."""
    stored = _stored(records)
    moves = []  # (size, counters or None, stored group, window, counter delta, document delta)
    for g, s in sorted(_counters(records).items(), key=str):
        m = stored.get(g)
        if not s["finals"] or m is None:
            continue
        c = sum(d["value"] or 0 for d in s["finals"])
        up = (s["ra"] + s["ru"] - m["ma"]) - (c - len(m["ids"])) + 1  # C - M too high by one
        down = (c - len(m["ids"])) - (s["ra"] - m["ma"] - m["mu"]) + 1  # C - M too low by one
        moves += [(up, s, m, g[1], up, 0), (down, None, m, g[1], 0, down)]
        if len(m["ids"]) >= up:
            moves.append((up, None, m, g[1], 0, -up))
        if c >= down:
            moves.append((down, s, m, g[1], -down, 0))
    if not moves:
        raise NotApplicable("no tenant with both a counter and a final_events read")
    fewest = min(mv[0] for mv in moves)
    _, s, m, w, dc, dm = rng.choice([mv for mv in moves if mv[0] == fewest])
    if s is not None:
        _shift(s["finals"], dc)
    _documents(m, w, dm)
    return records


def stored_off(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """MongoDB holds one document too few or too many for a group, by its own inserts: an
    acknowledged event's document is gone while no unknown-outcome insert of the group is stored,
    or a document of an event never inserted appears while every unknown one is stored."""
    spots = []
    for g, s in sorted(_stored(records).items(), key=str):
        if s["ma"] <= len(s["ids"]) <= s["ma"] + s["mu"]:
            if len(s["ids"]) == s["ma"] and s["ma"]:
                spots.append((s, g[1], -1))
            if len(s["ids"]) == s["ma"] + s["mu"]:
                spots.append((s, g[1], 1))
    if not spots:
        raise NotApplicable("no group at either end of its stored-count interval")
    s, w, delta = rng.choice(spots)
    if delta < 0:
        s["ids"] = [rng.choice(s["ids"])]
    _documents(s, w, delta)
    return records


ANOMALIES = {
    "counter-mismatch": counter_off,
    "planes-disagree": planes_apart,
    "stored-count-mismatch": stored_off,
}
