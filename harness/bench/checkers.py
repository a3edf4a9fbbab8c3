"""Checker benchmark: every registered checker, streaming, over a synthetic 1,000,000-op history.

The history (:mod:`harness.bench.history`) is seeded and realistic for the platform: two thirds
ingestion (rate limiter, idempotent inserts with retries, per-minute counters), the rest user-facing
reads with versions per session, tenant-tagged queries, audit chains, retention classes and TTL
keys, sliding-TTL sessions, HyperLogLog counts and small linearizable registers, then the runner's
final reads. The simulated store behaves correctly, so every checker must say ``valid``: any other
verdict is reported as a generator (or checker) bug and fails the benchmark.

Each measurement runs in a fresh child process (``--measure``) so its peak RSS (``ru_maxrss``) is
the checkers' own, not the generator's: one pass that only parses and pairs the file, then one pass
with all checkers together, then (``--per-checker``) each checker alone. Targets: ≤ 30 s and
≤ 1 GiB for all checkers together.

The linearizability checker's search is exponential in the worst case, so its bound is measured
apart (:func:`harness.bench.linearizability.bench`: registers of 25–200 ops from 5, 10 and 20
concurrent processes, valid and with one certainly stale read) and reported with ``max_ops`` and
``max_steps`` under ``linearizability_bound``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness.bench import linearizability as lin_bench
from harness.bench.history import CHECKER_PARAMS, generate
from harness.checkers import CHECKERS, Verdict, build_checkers, run_checkers
from harness.checkers import linearizable as lin
from harness.history.loader import stream_ops

TARGET_S, TARGET_MIB = 30.0, 1024.0
#: Concurrent processes per register in the linearizability bound table: the history's registers
#: use 2-5; 10 and 20 show where the step budget starts to answer unknown.
BOUND_PROCESSES = (5, 10, 20)


def peak_rss_mib() -> float:
    """This process's peak resident set size. ``VmHWM`` (Linux) is the peak of this program's own
    memory; ``ru_maxrss`` is kept across ``exec``, so in a child it is at least what the parent had
    resident when it spawned the child (measured: a 13 MiB child of a 413 MiB parent reports 413).
    The generator's parent is bigger than a pass that only parses, so ``ru_maxrss`` is the fallback
    only."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_all(path: Path, names: list[str]) -> list[Verdict]:
    """One streamed pass of checkers ``names`` over ``path``, with the generator's parameters."""
    params = {name: CHECKER_PARAMS[name] for name in names if name in CHECKER_PARAMS}
    return run_checkers(build_checkers(names, params), stream_ops(path))


def measure(path: Path, which: str) -> dict[str, Any]:
    """In this process: one streamed pass with ``which`` (``all`` | ``none`` | a checker name)."""
    names = sorted(CHECKERS) if which == "all" else [] if which == "none" else [which]
    t0 = time.perf_counter()
    if names:
        verdicts = run_all(path, names)
    else:
        verdicts = []
        for _ in stream_ops(path):
            pass
    wall = time.perf_counter() - t0
    out: list[dict[str, Any]] = []
    for v in verdicts:
        row: dict[str, Any] = {"name": v.name, "status": v.status, "summary": v.summary}
        if v.status != "valid":  # what a generator (or checker) bug needs to be found
            row["examples"] = v.examples[:3]
            row["details"] = v.details
        elif v.name == lin.NAME:
            row["details"] = {k: v.details[k] for k in ("keys_searched", "search_steps", "bounds", "ops")}
        out.append(row)
    return {
        "checkers": names,
        "wall_s": round(wall, 2),
        "max_rss_mib": peak_rss_mib(),
        "verdicts": out,
    }


def _child(path: Path, which: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "harness.bench.checkers", "--measure", str(path), "--which", which],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return {"status": "error", "error": proc.stderr.strip()[-2000:]}
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def not_valid(run: dict[str, Any], expected: list[str]) -> list[str]:
    """The checkers of ``expected`` that did not say ``valid`` in ``run`` (missing ones included):
    on this history each one is a bug, in the generator or in the checker."""
    statuses = {v["name"]: v["status"] for v in run.get("verdicts", [])}
    return [name for name in expected if statuses.get(name) != "valid"]


def _print_verdicts(run: dict[str, Any]) -> None:
    for v in run.get("verdicts", []):
        flag = "" if v["status"] == "valid" else "   <-- NOT VALID: generator or checker bug"
        print(f"  {v['status']:8} {v['name']}: {v['summary']}{flag}", flush=True)
    if "error" in run:
        print(f"  child failed: {run['error']}", flush=True)


def linearizability_bound(seeds: int = 5) -> dict[str, Any]:
    """The search's bound and its cost by register size and concurrency (in this process: it is
    CPU only, and its memory is one register's)."""
    t0 = time.perf_counter()
    rows = {str(p): lin_bench.bench(processes=p, seeds=seeds) for p in BOUND_PROCESSES}
    return {
        "max_ops": lin.MAX_OPS,
        "max_steps": lin.MAX_STEPS,
        "bound": (
            f"a key with more than {lin.MAX_OPS} ops is not searched, and a search stops after "
            f"{lin.MAX_STEPS:,} steps; either makes the verdict unknown, never a guess"
        ),
        "by_processes": rows,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def bench(work: Path, ops: int = 1_000_000, seed: int = 1, per_checker: bool = False) -> dict[str, Any]:
    path = work / "history-bench.jsonl"
    names = sorted(CHECKERS)
    t0 = time.perf_counter()
    hist = generate(path, ops, seed)
    hist["generate_s"] = round(time.perf_counter() - t0, 1)
    print(
        f"checkers: history of {hist['ops']:,} ops ({hist['bytes'] / 2**20:.0f} MiB, "
        f"{hist['ingestion_share']:.0%} ingestion) in {hist['generate_s']} s",
        flush=True,
    )
    parse = _child(path, "none")
    print(
        f"checkers: parse and pair only: {parse.get('wall_s')} s, {parse.get('max_rss_mib')} MiB", flush=True
    )
    together = _child(path, "all")
    print(
        f"checkers: all {len(names)} together: {together.get('wall_s')} s, {together.get('max_rss_mib')} MiB",
        flush=True,
    )
    _print_verdicts(together)
    bugs = not_valid(together, names)
    result: dict[str, Any] = {
        "history": hist,
        "checker_params": CHECKER_PARAMS,
        "parse_only": parse,
        "all_checkers": together,
        "not_valid": bugs,
        "target_s": TARGET_S,
        "target_mib": TARGET_MIB,
        "pass": together.get("wall_s", 1e9) <= TARGET_S
        and together.get("max_rss_mib", 1e9) <= TARGET_MIB
        and not bugs,
    }
    if bugs:
        print(f"checkers: NOT VALID on a correct history (a bug): {', '.join(bugs)}", flush=True)
    if per_checker:
        result["per_checker"] = {}
        for name in names:
            alone = result["per_checker"][name] = _child(path, name)
            print(
                f"checkers: {name} alone: {alone.get('wall_s')} s, {alone.get('max_rss_mib')} MiB", flush=True
            )
    path.unlink()
    bound = result["linearizability_bound"] = linearizability_bound()
    print(f"checkers: linearizability bound measured in {bound['seconds']} s", flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--which", default="all", help=argparse.SUPPRESS)
    parser.add_argument("--ops", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--per-checker", action="store_true")
    parser.add_argument("--work", type=Path, default=Path("reports/bench"))
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure(args.measure, args.which), default=str))
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    result = bench(args.work, args.ops, args.seed, per_checker=args.per_checker)
    print(json.dumps(result, indent=1))
    return 0 if not result["not_valid"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
