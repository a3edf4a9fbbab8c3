"""MongoDB ingestion throughput for ``make bench``: events/s of :class:`MongoIngestor` into a real
``mongo-rs`` replica set (through its proxies), with ``w: 1`` and ``w: "majority"``, batch sizes
1, 100 and 1000, recorded as a run would record them. Without ``mongod`` every figure is reported
``not measured`` with the reason, never estimated."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from harness.clock import RunClock, seeded_random
from harness.doctor import find_binary
from harness.history.recorder import HistoryRecorder
from harness.topology.local import deploy, run_id_now
from harness.topology.mongo import ddl_client
from harness.topology.spec import load_topology
from harness.workload.generator import EventGenerator
from harness.workload.mongo_ingest import IngestConfig, MongoIngestor, WriteConcernSpec
from harness.workload.platform_mongo import reset_collections
from harness.workload.tenants import TenantMix, TenantPicker

WRITE_CONCERNS: dict[str, WriteConcernSpec] = {
    "w:1": WriteConcernSpec(w=1),
    "w:majority": WriteConcernSpec(w="majority"),
}
BATCHES = (1, 100, 1000)


def cells() -> list[tuple[str, int]]:
    return [(wc, b) for wc in WRITE_CONCERNS for b in BATCHES]


def measure(work: Path, events: int = 20_000, seconds_cap: float = 20.0) -> dict[str, Any]:
    """``events`` per cell (fewer for batch size 1: at most ``seconds_cap`` seconds of writing)."""
    if find_binary("mongod") is None:
        reason = "no mongod on this machine (PATH or $MONGODB_BIN_DIR)"
        return {f"{wc} batch {b}": {"status": "not measured", "reason": reason} for wc, b in cells()}
    out: dict[str, Any] = {}
    run_id = run_id_now("bench-")
    with deploy(load_topology("mongo-rs"), work / run_id, run_id) as dep:
        assert dep.mongo is not None  # mongo-rs has its MongoDB plane
        client = dep.mongo_client()
        gen = EventGenerator(
            TenantPicker(TenantMix(1000, 0.8, None, 0.0), seeded_random(1, "bench-tenants")),
            seeded_random(1, "bench-events"),
        )
        now = int(time.time() * 1000)
        pool = gen.batch(0, [now + i for i in range(events)])
        for wc_name, batch in cells():
            with ddl_client(dep.mongo, 30.0) as ddl:
                reset_collections(ddl, dep.mongo)
            clock = RunClock()
            hist = work / f"mongo-{wc_name}-{batch}.jsonl"
            with HistoryRecorder(hist, clock) as rec:
                ing = MongoIngestor(
                    client, rec, clock, IngestConfig(batch_size=batch, wc=WRITE_CONCERNS[wc_name]), "b"
                )
                t0, sent = time.monotonic(), 0
                while sent < len(pool) and time.monotonic() - t0 < seconds_cap:
                    chunk = pool[sent : sent + max(batch, 100)]
                    ing.write(chunk)
                    sent += len(chunk)
                elapsed = time.monotonic() - t0
            hist.unlink()
            cell = f"{wc_name} batch {batch}"
            out[cell] = {
                "status": "measured",
                "events": sent,
                "elapsed_s": round(elapsed, 2),
                "events_per_s": round(sent / elapsed, 1),
                "outcomes": ing.stats.to_dict()["final"],
                "versions": dep.versions,
            }
            print(f"mongo ingest {cell}: {out[cell]['events_per_s']:,} events/s", flush=True)
        client.close()
    return out
