"""no-duplicates: an idempotency key stored twice (often one the client retried)."""

from __future__ import annotations

import random
from typing import Any

from hypothesis.strategies import SearchStrategy

from harness.checkers.no_duplicates import check_no_duplicates

from . import NotApplicable
from ._platform import histories, ops_of

CHECK = check_no_duplicates


def clean() -> SearchStrategy[list[dict[str, Any]]]:
    return histories()


def duplicate(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    attempts: dict[tuple[str, str], int] = {}
    for inv, _ in ops_of(records, "insert"):
        key = (inv["tenant"], inv["event_id"])
        attempts[key] = attempts.get(key, 0) + 1
    stored = [
        (inv["tenant"], done, i)
        for inv, done in ops_of(records, "final_events")
        if done is not None
        for i in range(len(done["value"]["event_ids"]))
    ]
    if not stored:
        raise NotApplicable("nothing stored")
    # prefer a key the client retried: the case the idempotency key exists for
    retried = [s for s in stored if attempts.get((s[0], s[1]["value"]["event_ids"][s[2]]), 0) > 1]
    _, done, i = rng.choice(retried if retried and rng.random() < 0.7 else stored)
    value = done["value"]
    value["event_ids"].append(value["event_ids"][i])  # the retry's copy survived next to the first
    if "windows" in value:
        value["windows"].append(value["windows"][i])
    return records


def new_id_retry(records: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """The client retried an insert of unknown outcome under a new id: the first attempt was
    applied and the retry stored the same content a second time, under the new id."""
    attempts: dict[tuple[str, str], list[tuple[dict[str, Any], dict[str, Any] | None]]] = {}
    for inv, done in ops_of(records, "insert"):
        attempts.setdefault((inv["tenant"], inv["event_id"]), []).append((inv, done))
    spots = []
    for inv, done in ops_of(records, "final_events"):
        if done is None or done["type"] != "ok":
            continue
        for event_id in done["value"]["event_ids"]:
            tries = attempts.get((inv["tenant"], event_id), [])
            for i in range(1, len(tries)):
                if tries[i - 1][1] is not None and tries[i - 1][1]["type"] == "info":
                    spots.append((done["value"], event_id, [t for t, _ in tries[i:]]))
    if not spots:
        raise NotApplicable("no stored event retried after an unknown-outcome insert")
    value, event_id, retries = rng.choice(spots)
    new_id = f"{event_id}-retry"
    for inv in retries:
        inv["event_id"] = new_id  # same content (fingerprint), new idempotency key
    value["event_ids"].append(new_id)
    if "windows" in value:
        value["windows"].append(value["windows"][value["event_ids"].index(event_id)])
    return records


ANOMALIES = {"duplicate-idempotency-key": duplicate, "duplicate-content": new_id_retry}
