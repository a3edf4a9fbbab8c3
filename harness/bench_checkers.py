"""Checker benchmark: every registered checker, streaming, over a synthetic 1,000,000-op history.

The history is seeded and realistic for the platform's ingestion path: tenants by the hot-partition
mix (10,000 Zipf tenants plus a whale at 40%), per event a sliding-window ``rate_limit`` call, then
for admitted events a MongoDB ``insert`` (w:1 or w:majority, retried after a timeout) and a
per-minute counter ``incr`` (some with ``WAIT 1``); outcomes mostly ``ok`` with some ``fail`` and
``info``; completions interleaved with later invokes as a pipelined client writes them. After the
workload, the runner's final reads: ``final_read`` per counter key and ``final_events`` per tenant.
The store behaves correctly, so every checker must say ``valid``.

Each measurement runs in a fresh child process (``--measure``) so its peak RSS (``ru_maxrss``) is
the checkers' own, not the generator's: one pass that only parses and pairs the file, then one pass
with all checkers together. Targets: ≤ 30 s and ≤ 1 GiB for all checkers together.
"""

from __future__ import annotations

import argparse
import heapq
import json
import resource
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from harness.checkers import CHECKERS, build_checkers, run_checkers
from harness.clock import seeded_random
from harness.history.loader import stream_ops
from harness.workload.tenants import TenantMix, TenantPicker

TARGET_S, TARGET_MIB = 30.0, 1024.0
RATE = 5000  # events per second of simulated time
LIMIT, WHALE_LIMIT, WINDOW_MS = 40, 1500, 1000  # the busiest tenants hit their limits


class _Writer:
    """Writes invokes as they happen and completions when their time comes (a heap of pending)."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.pending: list[tuple[int, int, bytes]] = []
        self.next_id = 1
        self.ops = 0

    def op(
        self, f: str, t_ns: int, latency_ns: int, outcome: str | None, done: dict[str, Any], **inv: Any
    ) -> None:
        op_id, self.next_id = self.next_id, self.next_id + 1
        self.ops += 1
        self.flush(t_ns)
        rec = {
            "id": op_id,
            "type": "invoke",
            "process": "ingest",
            "f": f,
            "time_ns": t_ns,
            "variant": "bench",
        }
        self.fh.write(orjson.dumps(rec | inv) + b"\n")
        if outcome is not None:
            end = t_ns + latency_ns
            comp = {"id": op_id, "type": outcome, "process": "ingest", "f": f, "time_ns": end} | done
            heapq.heappush(self.pending, (end, op_id, orjson.dumps(comp) + b"\n"))

    def flush(self, upto_ns: int | None = None) -> None:
        while self.pending and (upto_ns is None or self.pending[0][0] <= upto_ns):
            self.fh.write(heapq.heappop(self.pending)[2])


def generate(path: Path, ops: int, seed: int = 1) -> dict[str, Any]:
    """Writes a clean history of about ``ops`` ops (the final reads come on top); returns counts."""
    rng = seeded_random(seed, "bench-checkers")
    picker = TenantPicker(TenantMix(10_000, 0.8, "whale", 0.4), seeded_random(seed, "bench-tenants"))
    windows: dict[str, deque[int]] = {}
    counters: dict[str, int] = {}
    key_tenant: dict[str, tuple[str, int]] = {}
    stored: dict[str, list[str]] = {}
    events = 0
    with open(path, "wb") as fh:
        w = _Writer(fh)
        while w.ops < ops:
            for tenant in picker.draw(1000):
                events += 1
                t = events * 1_000_000_000 // RATE
                now_ms = t // 1_000_000
                event_id = f"e{events}"
                limit = WHALE_LIMIT if tenant == "whale" else LIMIT
                zset = windows.setdefault(tenant, deque())
                while zset and zset[0] <= now_ms - WINDOW_MS:
                    zset.popleft()
                lat = rng.randrange(200_000, 3_000_000)
                outcome = "ok" if rng.random() < 0.995 else "info"
                allowed = len(zset) < limit
                if allowed and (outcome == "ok" or rng.random() < 0.5):
                    zset.append(now_ms)
                value = {"now_ms": now_ms, "limit": limit, "window_ms": WINDOW_MS, "req": event_id}
                w.op(
                    "rate_limit",
                    t,
                    lat,
                    outcome,
                    {"value": {"allowed": allowed, "remaining": max(0, limit - len(zset))}},
                    key=f"ratelimit:{{t:{tenant}}}:events",
                    tenant=tenant,
                    event_id=event_id,
                    value=value,
                )
                if outcome != "ok" or not allowed:
                    continue
                t += lat + 1000
                window = now_ms // 60_000
                wc = "majority" if rng.random() < 0.3 else "1"
                for attempt in range(3):  # a timeout is retried with the same idempotency key
                    r = rng.random()
                    out = "ok" if r < 0.97 else ("info" if r < 0.99 else "fail")
                    if out == "ok" or (out == "info" and rng.random() < 0.5):
                        docs = stored.setdefault(tenant, [])
                        if attempt == 0 or event_id not in docs[-3:]:
                            docs.append(event_id)
                    lat = rng.randrange(300_000, 5_000_000)
                    w.op("insert", t, lat, out, {}, tenant=tenant, event_id=event_id, wc=wc, window=window)
                    t += lat + 1000
                    if out == "ok":
                        break
                key = f"counter:{{t:{tenant}}}:events:{window}"
                key_tenant[key] = (tenant, window)
                r = rng.random()
                out = "ok" if r < 0.99 else ("info" if r < 0.995 else "fail")
                if out == "ok" or (out == "info" and rng.random() < 0.5):
                    counters[key] = counters.get(key, 0) + 1
                else:
                    counters.setdefault(key, 0)
                extra = {"wait": 1} if wc == "majority" else {}
                w.op(
                    "incr",
                    t,
                    rng.randrange(100_000, 2_000_000),
                    out,
                    {"value": counters[key]},
                    key=key,
                    tenant=tenant,
                    event_id=event_id,
                    window=window,
                    **extra,
                )
        w.flush()
        t_final = (events + RATE) * 1_000_000_000 // RATE
        workload_ops = w.ops
        for key in sorted(counters):
            w.op("final_read", t_final, 1000, "ok", {"value": counters[key] or None}, key=key)
            t_final += 2000
        for tenant in sorted(stored):
            w.op("final_events", t_final, 1000, "ok", {"value": {"event_ids": stored[tenant]}}, tenant=tenant)
            t_final += 2000
        w.flush()
    return {"events": events, "workload_ops": workload_ops, "ops": w.ops, "bytes": path.stat().st_size}


def measure(path: Path, which: str) -> dict[str, Any]:
    """In this process: one streamed pass with ``which`` (``all`` | ``none`` | a checker name)."""
    names = sorted(CHECKERS) if which == "all" else [] if which == "none" else [which]
    t0 = time.perf_counter()
    if names:
        verdicts = run_checkers(build_checkers(names), stream_ops(path))
    else:
        verdicts = []
        for _ in stream_ops(path):
            pass
    wall = time.perf_counter() - t0
    return {
        "checkers": names,
        "wall_s": round(wall, 2),
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "verdicts": [{"name": v.name, "status": v.status, "summary": v.summary} for v in verdicts],
    }


def _child(path: Path, which: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "harness.bench_checkers", "--measure", str(path), "--which", which],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return {"status": "error", "error": proc.stderr.strip()[-2000:]}
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def bench(work: Path, ops: int = 1_000_000, seed: int = 1, per_checker: bool = False) -> dict[str, Any]:
    path = work / "history-bench.jsonl"
    t0 = time.perf_counter()
    hist = generate(path, ops, seed)
    hist["generate_s"] = round(time.perf_counter() - t0, 1)
    print(
        f"checkers: history of {hist['ops']:,} ops ({hist['bytes'] / 2**20:.0f} MiB) "
        f"in {hist['generate_s']} s",
        flush=True,
    )
    parse = _child(path, "none")
    print(f"checkers: parse and pair only: {parse}", flush=True)
    together = _child(path, "all")
    print(f"checkers: all together: {together}", flush=True)
    result: dict[str, Any] = {
        "history": hist,
        "parse_only": parse,
        "all_checkers": together,
        "target_s": TARGET_S,
        "target_mib": TARGET_MIB,
        "pass": together.get("wall_s", 1e9) <= TARGET_S
        and together.get("max_rss_mib", 1e9) <= TARGET_MIB
        and all(v["status"] == "valid" for v in together.get("verdicts", [{"status": "error"}])),
    }
    if per_checker:
        result["per_checker"] = {name: _child(path, name) for name in sorted(CHECKERS)}
    path.unlink()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--which", default="all", help=argparse.SUPPRESS)
    parser.add_argument("--ops", type=int, default=1_000_000)
    parser.add_argument("--per-checker", action="store_true")
    parser.add_argument("--work", type=Path, default=Path("reports/bench"))
    args = parser.parse_args()
    if args.measure is not None:
        print(json.dumps(measure(args.measure, args.which)))
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    print(json.dumps(bench(args.work, args.ops, per_checker=args.per_checker), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
