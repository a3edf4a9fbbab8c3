"""The detection matrix, counted.

    python -m tests.quality.matrix_report --clean 1000 --out reports/quality/     (make quality)

For every case module in ``tests/quality/cases/``: ``--clean`` clean histories (any verdict but
``valid`` is a false positive) and ``--mutated`` histories per anomaly class (``invalid`` with an
example of that kind is detected, anything else is missed; histories offering no place for the
anomaly are counted as not applicable and do not count toward ``--mutated``). Every history is
judged under each encoding (``cases/_encodings.py``: per-op, batch records, completion lines out of
time order, both); a history counts as detected only when it is under all of them, as valid only
when it is under all of them, and each encoding's own counts and judging time are kept apart.
Histories come from hypothesis, derandomized, so a rerun gives the same counts. Writes
``matrix.json`` and ``matrix.md`` (anomaly classes x detected/missed, false positives, per encoding
too, time taken); exits 1 when anything was missed or falsely flagged.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from harness.checkers.verdict import Verdict

from .cases._encodings import ENCODINGS, encode
from .test_matrix import MODULES, _id, judge_encoded, mutate

_SAMPLES = 3  # kept per row, for a look at what went wrong


def _settings(n: int) -> settings:
    return settings(
        max_examples=n,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )


def _per_encoding(keys: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    return {e: {**dict.fromkeys(keys, 0), "seconds": 0.0} for e in ENCODINGS}


def judge_all(module: ModuleType, records: list[dict[str, Any]], seed: int) -> dict[str, Verdict]:
    """``module.CHECK``'s verdict on ``records`` under each encoding (choices seeded by ``seed``),
    with the time each took added to ``_TIMES``."""
    out: dict[str, Verdict] = {}
    for enc in ENCODINGS:
        t0 = time.perf_counter()
        lines = encode(enc, records, random.Random(seed))
        if enc == "batched" and not any("batch" in r for r in lines):
            out[enc] = out["per-op"]  # no run could be batched: the very same lines
        else:
            out[enc] = judge_encoded(module.CHECK, lines)
        _TIMES[enc] = _TIMES.get(enc, 0.0) + time.perf_counter() - t0
    return out


_TIMES: dict[str, float] = {}  # encoding -> seconds judging, of the row being counted


def _close(row: dict[str, Any], t0: float) -> dict[str, Any]:
    row["seconds"] = round(time.perf_counter() - t0, 2)
    for enc, secs in _TIMES.items():
        row["by_encoding"][enc]["seconds"] = round(secs, 2)
    _TIMES.clear()
    return row


def clean_row(module: ModuleType, n: int) -> dict[str, Any]:
    row: dict[str, Any] = {"histories": 0, "valid": 0, "false_positives": 0, "ops": 0, "samples": []}
    row["by_encoding"] = _per_encoding(("valid", "false_positives"))
    t0 = time.perf_counter()

    @_settings(n)
    @given(records=module.clean(), seed=st.integers(0, 2**32 - 1))
    def run(records: list[dict[str, Any]], seed: int) -> None:
        verdicts = judge_all(module, records, seed)
        row["histories"] += 1
        row["ops"] += sum(1 for r in records if r["type"] == "invoke")
        for enc, v in verdicts.items():
            row["by_encoding"][enc]["valid" if v.status == "valid" else "false_positives"] += 1
        bad = [(enc, v) for enc, v in verdicts.items() if v.status != "valid"]
        if not bad:
            row["valid"] += 1
            return
        row["false_positives"] += 1
        if len(row["samples"]) < _SAMPLES:
            enc, v = bad[0]
            bad_encs = [e for e, _ in bad]
            row["samples"].append(
                {"encodings": bad_encs, "status": v.status, "summary": v.summary, "examples": v.examples[:2]}
            )

    run()
    return _close(row, t0)


def anomaly_row(module: ModuleType, kind: str, n: int) -> dict[str, Any]:
    row: dict[str, Any] = {"injected": 0, "detected": 0, "missed": 0, "not_applicable": 0, "samples": []}
    row["by_encoding"] = _per_encoding(("detected", "missed"))
    mutation = module.ANOMALIES[kind]
    t0 = time.perf_counter()

    # The mutation's choices come from a drawn seed, not from hypothesis' own random: once ``n``
    # histories are injected the rest return early, and a hypothesis random that is drawn from only
    # sometimes makes hypothesis report its generation as flaky (test_matrix.py shrinks instead).
    @_settings(4 * n)
    @given(records=module.clean(), seed=st.integers(0, 2**32 - 1))
    def run(records: list[dict[str, Any]], seed: int) -> None:
        if row["injected"] >= n:
            return
        mutated = mutate(mutation, records, random.Random(seed))
        if mutated is None:
            row["not_applicable"] += 1
            return
        row["injected"] += 1
        missed = []
        for enc, v in judge_all(module, mutated, seed + 1).items():
            hit = v.status == "invalid" and kind in {ex.get("kind") for ex in v.examples}
            row["by_encoding"][enc]["detected" if hit else "missed"] += 1
            if not hit:
                missed.append((enc, v))
        if not missed:
            row["detected"] += 1
            return
        row["missed"] += 1
        if len(row["samples"]) < _SAMPLES:
            enc, v = missed[0]
            row["samples"].append(
                {
                    "encodings": [e for e, _ in missed],
                    "status": v.status,
                    "summary": v.summary,
                    "kinds": [e.get("kind") for e in v.examples],
                }
            )

    run()
    return _close(row, t0)


def markdown(matrix: dict[str, Any]) -> str:
    lines = [
        "# Detection matrix",
        "",
        f"{matrix['clean_per_checker']} clean histories per checker, up to {matrix['mutated_per_anomaly']} "
        f"mutated histories per anomaly class (hypothesis, derandomized); {matrix['seconds']:.1f} s in all.",
        "",
        "| checker | anomaly class | injected | detected | missed | not applicable | s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, c in matrix["checkers"].items():
        for kind, r in c["anomalies"].items():
            lines.append(
                f"| {name} | `{kind}` | {r['injected']} | {r['detected']} | {r['missed']} "
                f"| {r['not_applicable']} | {r['seconds']} |"
            )
    lines += [
        "",
        "| checker | clean histories | valid | false positives | ops judged | s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, c in matrix["checkers"].items():
        r = c["clean"]
        cells = [name, r["histories"], r["valid"], r["false_positives"], r["ops"], r["seconds"]]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    t = matrix["totals"]
    lines += [
        "",
        "Each history judged under every encoding (a history counts as detected or valid above "
        "only when it is under all of them):",
        "",
        "| encoding | classes detected in every injected history | missed | false positives | s judging |",
        "|---|---:|---:|---:|---:|",
    ]
    for enc, e in t["by_encoding"].items():
        cells = [enc, f"{e['classes_detected_always']} of {t['classes']}", e["missed"]]
        lines.append("| " + " | ".join(str(c) for c in [*cells, e["false_positives"], e["seconds"]]) + " |")
    lines += [
        "",
        f"**{t['classes_detected_always']} of {t['classes']} anomaly classes detected in every "
        f"injected history under every encoding; {t['missed']} missed, {t['false_positives']} false "
        f"positives over {t['clean']} clean histories.**",
        "",
    ]
    return "\n".join(lines)


def by_encoding(checkers: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per encoding: anomaly classes detected in every injected history, misses, false positives
    and the seconds spent judging under it."""
    rows = [r for c in checkers.values() for r in c["anomalies"].values()]
    out = {}
    for enc in ENCODINGS:
        per = [r["by_encoding"][enc] for r in rows]
        cleans = [c["clean"]["by_encoding"][enc] for c in checkers.values()]
        out[enc] = {
            "classes_detected_always": sum(
                1 for r, e in zip(rows, per, strict=True) if r["injected"] and e["missed"] == 0
            ),
            "missed": sum(e["missed"] for e in per),
            "false_positives": sum(e["false_positives"] for e in cleans),
            "seconds": round(sum(e["seconds"] for e in per + cleans), 1),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clean", type=int, default=1000, help="clean histories per checker (default 1000)")
    parser.add_argument(
        "--mutated", type=int, default=200, help="mutated histories per anomaly class (default 200)"
    )
    parser.add_argument("--only", action="append", default=[], help="case module(s) to run (default: all)")
    parser.add_argument("--out", type=Path, default=Path("reports/quality"))
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    modules = [m for m in MODULES if not args.only or _id(m) in args.only]
    if not modules:
        parser.error(f"no case module matches {args.only}; known: {', '.join(_id(m) for m in MODULES)}")
    checkers: dict[str, Any] = {}
    for m in modules:
        name = _id(m)
        print(f"{name}: {args.clean} clean histories", flush=True)
        entry: dict[str, Any] = {"clean": clean_row(m, args.clean), "anomalies": {}}
        for kind in sorted(m.ANOMALIES):
            entry["anomalies"][kind] = r = anomaly_row(m, kind, args.mutated)
            print(
                f"  {kind}: {r['detected']}/{r['injected']} detected ({r['not_applicable']} n/a)", flush=True
            )
        checkers[name] = entry
    rows = [r for c in checkers.values() for r in c["anomalies"].values()]
    totals = {
        "classes": len(rows),
        "classes_detected_always": sum(1 for r in rows if r["injected"] and r["missed"] == 0),
        "classes_never_injected": sum(1 for r in rows if not r["injected"]),
        "injected": sum(r["injected"] for r in rows),
        "missed": sum(r["missed"] for r in rows),
        "clean": sum(c["clean"]["histories"] for c in checkers.values()),
        "false_positives": sum(c["clean"]["false_positives"] for c in checkers.values()),
        "by_encoding": by_encoding(checkers),
    }
    matrix = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "clean_per_checker": args.clean,
        "mutated_per_anomaly": args.mutated,
        "seconds": round(time.perf_counter() - t0, 1),
        "totals": totals,
        "checkers": checkers,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "matrix.json").write_text(json.dumps(matrix, indent=1, default=str))
    (args.out / "matrix.md").write_text(markdown(matrix))
    print(markdown(matrix))
    print(f"written: {args.out / 'matrix.json'}, {args.out / 'matrix.md'}")
    ok = totals["missed"] == 0 and totals["false_positives"] == 0 and totals["classes_never_injected"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
