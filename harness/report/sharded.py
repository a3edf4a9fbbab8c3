"""The report's facts of the sharded_events workload: load per shard, chunks, the dashboard
query's targeting as explained, and the reads (each a line of the variant's workload facts)."""

from __future__ import annotations

from typing import Any

from harness.records.metrics import ShardedFigures
from harness.report.format import fmt_num, fmt_pct, text


def _key(key: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{f}: {text(d)}" for f, d in key.items()) + "}"


def _load(sh: ShardedFigures) -> str:
    per_shard = ", ".join(
        f"{s} {fmt_num(n)} ({fmt_pct(sh.share_per_shard.get(s))})"
        for s, n in sorted(sh.inserts_per_shard.items())
    )
    chunks = ", ".join(f"{s} {fmt_num(n)}" for s, n in sorted(sh.chunks.items())) or "none read"
    lat = sh.insert_latency_ms
    out = (
        f"inserts per shard (the primaries' opcounters): {per_shard or 'none'}; busiest "
        f"{text(sh.busiest_shard)} at {fmt_pct(sh.busiest_share)}, imbalance {fmt_num(sh.imbalance_ratio)}"
    )
    if sh.unjudged:
        out += f" (shares withheld: {sh.unjudged})"
    return out + (
        f"; chunks per shard after presplitting: {chunks}; insert latency p50 {fmt_num(lat.get('p50'))} ms, "
        f"p99 {fmt_num(lat.get('p99'))} ms"
    )


def _explain(ex: dict[str, Any]) -> str:
    if ex.get("unjudged"):
        return f"not told: {text(ex['unjudged'])}"
    stages = ", ".join(f"{s} {fmt_num(n)}" for s, n in sorted((ex.get("stages") or {}).items()))
    out = (
        f"{fmt_num(ex.get('explained'))} tenants' queries: {fmt_num(ex.get('shards_per_query_mean'))} shards "
        f"each (at most {fmt_num(ex.get('shards_per_query_max'))} of {fmt_num(ex.get('cluster_shards'))}); "
        f"{fmt_pct(ex.get('targeted_share'))} targeted, {fmt_pct(ex.get('scatter_share'))} scatter-gather; "
        f"{stages}"
    )
    if ex.get("whale_shards") is not None:
        out += f"; the whale's query: {fmt_num(ex['whale_shards'])} shards"
    return out


def _reads(rd: dict[str, Any]) -> str:
    lat = rd.get("read_latency_ms") or {}
    spread = ", ".join(f"{k} {fmt_num(v)} ms" for k, v in lat.items())
    return (
        f"{fmt_num(rd.get('reads'))} reads: {fmt_pct(rd.get('slow_share'))} slower than "
        f"{fmt_num(rd.get('slow_ms'))} ms, failed or not run ({fmt_num(rd.get('not_ok'))} not ok, "
        f"{fmt_num(rd.get('dropped'))} not run); {spread}"
    )


def sharded_facts(sh: ShardedFigures) -> list[tuple[str, str]]:
    facts = [(f"events sharded on {_key(sh.shard_key)}", _load(sh))]
    if sh.suffixes:
        facts.append(
            ("write-sharding suffixes", ", ".join(f"{t}: {n}" for t, n in sorted(sh.suffixes.items())))
        )
    if sh.explain is not None:
        facts.append(("dashboard query, as mongos plans it", _explain(sh.explain)))
    if sh.reads is not None:
        facts.append(("dashboard reads", _reads(sh.reads)))
    return facts
