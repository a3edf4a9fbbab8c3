"""A seeded synthetic platform history for the checker benchmark, in the vocabulary of every checker.

The simulated platform (:mod:`harness.bench.sim`, the same one the detection matrix's cases build
their histories from) behaves correctly, so every registered checker must find it ``valid``; a
checker that does not points at the simulator first (or at a checker bug, to be shown by a test).

Traffic is a discrete-event simulation on one clock. Ingestion dominates (about two thirds of the
ops), as on the platform: per event a sliding-window ``rate_limit`` call, then for admitted events a
MongoDB ``insert`` (w:1 or w:majority, retried after a timeout) and a per-minute counter ``incr``
(some with ``WAIT 1``). Beside it, at rates proportional to the event rate
(:data:`~harness.bench.sim.platform.RATES`): profiles read and written through device sessions,
tenant-tagged dashboard queries, audit chains, retention classes and TTL keys, sliding-TTL sessions,
``PFADD``/``PFCOUNT`` and short-lived linearizable registers (each part's ``*Traffic`` class).

Outcomes are mostly ``ok`` with some ``fail`` and ``info`` (an ``info`` op took effect or not, by a
coin). Records are written in time order, as the recorder writes them (a heap of pending records),
then the runner's final reads after the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.bench.sim.audit import AuditTraffic
from harness.bench.sim.core import MS, Clock, S, Writer
from harness.bench.sim.hll import UniqueUserTraffic
from harness.bench.sim.ingestion import IngestionTraffic
from harness.bench.sim.platform import CHECKER_PARAMS, Sim
from harness.bench.sim.registers import RegisterTraffic
from harness.bench.sim.retention import RetentionTraffic
from harness.bench.sim.sessions import SessionTraffic
from harness.bench.sim.tenants import QueryTraffic
from harness.bench.sim.versions import ProfileTraffic

__all__ = ["CHECKER_PARAMS", "generate"]


def generate(path: Path, ops: int, seed: int = 1) -> dict[str, Any]:
    """Writes a clean history of about ``ops`` workload ops (the final reads come on top); returns
    counts."""
    with open(path, "wb") as fh:
        w = Writer(fh, variant="bench")
        sim = Sim(w, Clock(), seed)
        ingestion = IngestionTraffic(sim)
        QueryTraffic(sim, ingestion.model.ids)
        ProfileTraffic(sim)
        audit = AuditTraffic(sim)
        retention = RetentionTraffic(sim)
        sessions = SessionTraffic(sim)
        UniqueUserTraffic(sim)
        RegisterTraffic(sim)
        ingest_ops = t = 0
        while w.ops < ops:
            sim.clock.run_until(ingestion.next_at())  # every family acts up to the next event, then it
            before = w.ops
            t = ingestion.event()
            ingest_ops += w.ops - before
            w.advance(t)  # nothing is scheduled before the clock from here on
        workload_ops = w.ops
        # the run ends: what is in flight completes (the heap), then the final reads after healing
        ingestion.model.settle()
        end = max([t, *(p[0] for p in w.pending)]) + S
        w.advance()
        end = ingestion.model.final(end, 1000, 2000)
        end = audit.final(end + MS)
        end = retention.final(end + MS)
        sessions.final(end + MS)
        w.advance()
    return {
        "events": ingestion.model.events,
        "workload_ops": workload_ops,
        "ingestion_ops": ingest_ops,
        "ingestion_share": round(ingest_ops / workload_ops, 3),
        "ops": w.ops,
        "bytes": path.stat().st_size,
        "simulated_s": round(t / S, 1),
        "ops_by_f": dict(sorted(w.by_f.items(), key=lambda kv: -kv[1])),
    }
