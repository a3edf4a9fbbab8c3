"""The platform's MongoDB adapters: which events reach which writer, the audit queue's blocking
backpressure and bounded stop, and the seeded query mix (the commands themselves are
contract-tested against mockupdb in test_mongo_ingest_contract / test_mongo_query_contract)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pytest

from harness.clock import RunClock, seeded_random
from harness.workload.model.generator import Event, EventGenerator, tenant_net
from harness.workload.model.tenants import TenantMix, TenantPicker
from harness.workload.platform.mongo_side import QUERIES, MongoEventWriter, MongoQueryMix


def events(n: int) -> list[Event]:
    gen = EventGenerator(
        TenantPicker(TenantMix(20, 1.0, None, 0), seeded_random(1, "t")), seeded_random(1, "e")
    )
    return gen.batch(0, [1_700_000_000_000 + i for i in range(n)])


class FakeIngestor:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.written: dict[str, dict[str, None]] = {}

    def write(self, evs: Sequence[Event], sched_ns: Sequence[int] | None = None) -> list[Any]:
        self.batches.append([e.event_id for e in evs])
        for e in evs:
            self.written.setdefault(e.tenant, {})[e.event_id] = None
        return []


class GatedAudit:
    """Appends block until released, so the queue fills."""

    def __init__(self) -> None:
        self.appended: list[str] = []
        self.tenants: set[str] = set()
        self.gate = threading.Event()

    def append(self, ev: Event) -> None:
        self.gate.wait(10)
        self.appended.append(ev.event_id)
        self.tenants.add(ev.tenant)


def test_events_go_to_the_ingestor_and_audit_events_to_the_chain_in_order() -> None:
    evs = events(3000)
    audit = GatedAudit()
    audit.gate.set()
    w = MongoEventWriter(FakeIngestor(), audit, audit_queue=10)  # type: ignore[arg-type]
    w.start()
    for start in range(0, len(evs), 500):
        w.write(evs[start : start + 500], list(range(start, start + 500)))
    w.stop()
    assert w.ingestor.batches == [[e.event_id for e in evs[s : s + 500]] for s in range(0, 3000, 500)]
    assert audit.appended == [e.event_id for e in evs if e.is_audit] and audit.appended
    assert w.tenants == sorted({e.tenant for e in evs})
    assert w.audit_tenants == sorted({e.tenant for e in evs if e.is_audit})
    assert w.errors == []


def test_a_full_audit_queue_makes_ingestion_wait_and_loses_nothing() -> None:
    evs = [e for e in events(3000) if e.is_audit][:30]
    audit = GatedAudit()
    w = MongoEventWriter(FakeIngestor(), audit, audit_queue=5)  # type: ignore[arg-type]
    w.start()
    writer = threading.Thread(target=w.write, args=(evs, list(range(len(evs)))))
    writer.start()
    deadline = time.monotonic() + 5  # until the producer meets the full queue (it counts, then waits)
    while w.audit_waits == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert w.audit_waits >= 1 and writer.is_alive()  # blocked on the full queue, not dropping
    audit.gate.set()
    writer.join(10)
    w.stop()
    assert not writer.is_alive() and w.audit_waits >= 1
    assert audit.appended == [e.event_id for e in evs]


def test_stop_is_bounded_and_says_what_was_left() -> None:
    evs = [e for e in events(3000) if e.is_audit][:4]
    audit = GatedAudit()
    w = MongoEventWriter(FakeIngestor(), audit, audit_queue=10)  # type: ignore[arg-type]
    w.start()
    w.write(evs, [0] * len(evs))
    w.stop(timeout_s=0.2)
    assert w.errors and "still busy" in w.errors[0]
    audit.gate.set()


class FakeService:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], int | None]] = []
        self.sched_ns: int | None = None

    def __getattr__(self, name: str) -> Any:
        if name not in QUERIES:
            raise AttributeError(name)
        return lambda *args: self.calls.append((name, args, self.sched_ns))


def test_query_mix_is_seeded_weighted_and_uses_the_capstone_parameters() -> None:
    clock = RunClock()

    def run(seed: int) -> list[tuple[str, tuple[Any, ...], int | None]]:
        svc = FakeService()
        mix = MongoQueryMix(svc, clock, weights=(1, 1, 1, 1, 1))  # type: ignore[arg-type]
        rng = seeded_random(seed, "q")
        for i in range(500):
            mix.query("acme", "user_1", rng, i)
        return svc.calls

    calls = run(5)
    assert [c[0] for c in calls] == [c[0] for c in run(5)]  # same seed, same choices
    assert set(Counter(c[0] for c in calls)) == set(QUERIES)
    assert [c[2] for c in calls] == list(range(500))  # each carries its scheduled time
    ip = next(c for c in calls if c[0] == "ip_investigation")[1]
    assert ip[0] == "acme" and ip[1].startswith(tenant_net("acme") + ".") and ip[2] < ip[3]
    audit = next(c for c in calls if c[0] == "audit_retrieval")[1]
    assert (
        audit[1] in {"security", "access", "data_change", "admin"} and audit[3] - audit[2] > 364 * 86_400_000
    )
    with pytest.raises(ValueError, match="weights"):
        MongoQueryMix(FakeService(), clock, weights=(0, 0, 0, 0, 0))  # type: ignore[arg-type]
