"""The seeded event generator: same seed, same events; the capstone's schema, mix and classes."""

from __future__ import annotations

from collections import Counter

import bson
import pytest

from harness.clock import seeded_random
from harness.workload.model.generator import (
    AUDIT_TYPES,
    DAY_MS,
    EventGenerator,
    GeneratorConfig,
    RetentionPolicy,
    user_agent_of,
)
from harness.workload.model.tenants import TenantMix, TenantPicker

T0 = 1_700_000_000_000


def make(seed: int = 1, cfg: GeneratorConfig | None = None) -> EventGenerator:
    picker = TenantPicker(TenantMix(200, 1.0, "whale", 0.2), seeded_random(seed, "tenants"))
    return EventGenerator(picker, seeded_random(seed, "events"), cfg)


def times(n: int) -> list[int]:
    return [T0 + i for i in range(n)]


def test_same_seed_same_events_and_documents() -> None:
    a, b = make(7).batch(0, times(2000)), make(7).batch(0, times(2000))
    assert a == b
    assert [e.document() for e in a[:50]] == [e.document() for e in b[:50]]
    assert make(8).batch(0, times(2000)) != a


def test_mix_has_audit_types_both_versions_and_unique_ids() -> None:
    events = make().batch(100, times(20_000))
    assert [e.seq for e in events[:3]] == [100, 101, 102]
    types = Counter(e.event_type for e in events)
    assert set(types) >= AUDIT_TYPES
    audit_share = sum(e.is_audit for e in events) / len(events)
    assert 0.02 < audit_share < 0.05
    versions = Counter(e.version for e in events)
    assert set(versions) == {"1.2", "2.0"} and min(versions.values()) > 8000
    assert len({(e.tenant, e.event_id) for e in events}) == len(events)
    tenants = Counter(e.tenant for e in events)
    assert 0.17 < tenants["whale"] / len(events) < 0.23


def test_documents_follow_the_capstone_schema_near_1kb() -> None:
    events = make().batch(0, times(500))
    sizes = [len(bson.encode(e.document())) for e in events]
    assert 950 < sum(sizes) / len(sizes) < 1100
    for e in events:
        doc = e.document(ingestion_node="ing-2")
        assert {
            "tenant_id",
            "event_time",
            "event_id",
            "event_type",
            "event_version",
            "actor",
            "payload",
            "context",
            "metadata",
            "retention_class",
            "expires_at",
        } <= set(doc)
        assert doc["actor"]["user_id"] == e.user_id and doc["metadata"]["ingestion_node"] == "ing-2"
        assert int(doc["expires_at"].timestamp() * 1000) == e.expires_at_ms
        # Readers accept both live versions.
        assert user_agent_of(doc) == f"Mozilla/5.0 (harness; {e.user_id})"


def test_classification_follows_the_capstone_rules() -> None:
    policy = RetentionPolicy()
    assert policy.classify("page.view") == ("standard", 90 * DAY_MS)
    assert policy.classify("data.exported") == ("audit", 365 * DAY_MS)
    assert policy.classify("page.view", compliance_required=True) == ("audit", 365 * DAY_MS)
    scaled = RetentionPolicy(standard_ms=9_000, audit_ms=36_500, aggregates_ms=18_000)
    events = make(cfg=GeneratorConfig(retention=scaled)).batch(0, times(3000))
    for e in events:
        keep = 36_500 if e.retention_class == "audit" else 9_000
        assert e.expires_at_ms == e.time_ms + keep
        assert (e.retention_class == "audit") == e.is_audit


def test_audit_content_only_for_audit_events() -> None:
    events = make().batch(0, times(3000))
    audit = next(e for e in events if e.event_type in AUDIT_TYPES)
    content = audit.audit_content(365 * DAY_MS)
    assert content["tenant_id"] == audit.tenant and content["logged_at_ms"] == audit.time_ms
    assert content["category"] in {"security", "access", "data_change", "admin"}
    plain = next(e for e in events if not e.is_audit)
    with pytest.raises(ValueError, match="not an audit event type"):
        plain.audit_content(1)


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError, match="users_per_tenant"):
        GeneratorConfig(users_per_tenant=0)
    with pytest.raises(ValueError, match="v2_share"):
        GeneratorConfig(v2_share=1.5)
