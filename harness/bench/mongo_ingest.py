"""MongoDB-plane ingestion throughput for ``make bench``: events/s of :class:`MongoIngestor`
(through the proxies, recorded as a run would record them), per server the plane can run on here:

* ``mongod`` — into a ``mongo-rs`` replica set, ``w: 1`` and ``w: "majority"``, batch sizes 1, 100
  and 1000;
* ``ferretdb`` — into one FerretDB server (SQLite), ``w: 1`` only (it ignores write concerns), batch
  sizes 1, 100 and 1000. Labelled FerretDB: these are FerretDB's figures, not MongoDB's.

A server that is missing is reported ``not measured`` with the reason, never estimated."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from harness.clock import RunClock, seeded_random
from harness.doctor import find_binary
from harness.history.recorder import HistoryRecorder
from harness.topology.deployment import Deployment
from harness.topology.local import deploy, run_id_now
from harness.topology.mongo import ddl_client
from harness.topology.mongo_spec import MongoSpec
from harness.topology.spec import TopologySpec, load_topology
from harness.workload.model.generator import Event, EventGenerator
from harness.workload.model.tenants import TenantMix, TenantPicker
from harness.workload.mongo_plane.ingest import MongoIngestConfig, MongoIngestor, WriteConcernSpec
from harness.workload.platform.mongo_side import reset_collections

WRITE_CONCERNS: dict[str, WriteConcernSpec] = {
    "w:1": WriteConcernSpec(w=1),
    "w:majority": WriteConcernSpec(w="majority"),
}
BATCHES = (1, 100, 1000)
#: server -> (what it runs on, the write concerns worth measuring there)
SERVERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "mongod": ("mongo-rs: a 3-member replica set", ("w:1", "w:majority")),
    "ferretdb": ("FerretDB standalone, SQLite handler (write concerns ignored)", ("w:1",)),
}


def cells(server: str) -> list[tuple[str, int]]:
    return [(wc, b) for wc in SERVERS[server][1] for b in BATCHES]


def standalone_mongo(server: str) -> MongoSpec:
    """One MongoDB-plane server (``mongod`` or ``ferretdb``) with the platform's collections."""
    return MongoSpec(mode="standalone", server="ferretdb" if server == "ferretdb" else "mongod")


def _topology(server: str) -> TopologySpec:
    if server == "mongod":
        return load_topology("mongo-rs")
    return TopologySpec(
        name="mongo-standalone-ferretdb", description="one FerretDB server", mongo=standalone_mongo(server)
    )


def measure(work: Path, events: int = 20_000, seconds_cap: float = 20.0) -> dict[str, Any]:
    """Per server, ``events`` per cell (fewer where ``seconds_cap`` seconds of writing run out)."""
    out: dict[str, Any] = {}
    for server, (runs_on, _) in SERVERS.items():
        if find_binary(server) is None:
            reason = f"no {server} on this machine" + (
                " (PATH or $MONGODB_BIN_DIR)" if server == "mongod" else " ('make setup' builds it)"
            )
            out[server] = {"runs_on": runs_on, "cells": {}, "status": "not measured", "reason": reason}
            continue
        run_id = run_id_now("bench-")
        with deploy(_topology(server), work / run_id, run_id) as dep:
            out[server] = {"runs_on": runs_on, "status": "measured", "versions": dep.versions}
            out[server]["cells"] = _cells(dep, server, work, events, seconds_cap)
    return out


def _cells(dep: Deployment, server: str, work: Path, events: int, seconds_cap: float) -> dict[str, Any]:
    assert dep.mongo is not None
    gen = EventGenerator(
        TenantPicker(TenantMix(1000, 0.8, None, 0.0), seeded_random(1, "bench-tenants")),
        seeded_random(1, "bench-events"),
    )
    now = int(time.time() * 1000)
    pool = gen.batch(0, [now + i for i in range(events)])
    out: dict[str, Any] = {}
    with dep.mongo_client() as client:
        for wc_name, batch in cells(server):
            with ddl_client(dep.mongo, 30.0) as ddl:
                reset_collections(ddl, dep.mongo)
            cell = f"{wc_name} batch {batch}"
            out[cell] = _one(
                client, pool, wc_name, batch, work / f"mongo-{server}-{wc_name}-{batch}.jsonl", seconds_cap
            )
            print(f"mongo ingest on {server}, {cell}: {out[cell]['events_per_s']:,} events/s", flush=True)
    return out


def _one(
    client: Any, pool: list[Event], wc_name: str, batch: int, hist: Path, seconds_cap: float
) -> dict[str, Any]:
    clock = RunClock()
    with HistoryRecorder(hist, clock) as rec:
        ing = MongoIngestor(
            client, rec, clock, MongoIngestConfig(batch_size=batch, wc=WRITE_CONCERNS[wc_name]), "b"
        )
        t0, sent = time.monotonic(), 0
        while sent < len(pool) and time.monotonic() - t0 < seconds_cap:
            chunk = pool[sent : sent + max(batch, 100)]
            ing.write(chunk)
            sent += len(chunk)
        elapsed = time.monotonic() - t0
    hist.unlink()
    return {
        "status": "measured",
        "events": sent,
        "elapsed_s": round(elapsed, 2),
        "events_per_s": round(sent / elapsed, 1),
        "outcomes": ing.stats.to_dict()["final"],
    }
