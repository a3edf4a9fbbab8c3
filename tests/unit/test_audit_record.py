"""Audit records: stored document <-> checker record, and the platform's audit_logs $jsonSchema."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import bson
import pytest
import yaml
from bson.codec_options import CodecOptions, DatetimeConversion

from harness.audit_chain import GENESIS, audit_hash
from harness.clock import seeded_random
from harness.workload.model.generator import DAY_MS, Event, EventGenerator
from harness.workload.model.tenants import TenantMix, TenantPicker
from harness.workload.mongo_plane.audit_writer import (
    chain_record,
    datetime_to_ms,
    ms_to_datetime,
    record_of,
    stored_document,
)

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000_123  # a millisecond part on purpose: float seconds would round it


def audit_events(n: int = 40) -> list[Event]:
    gen = EventGenerator(
        TenantPicker(TenantMix(5, 1.0, None, 0.0), seeded_random(3, "t")), seeded_random(3, "e")
    )
    events = [e for e in gen.batch(0, [T0 + 7 * i for i in range(6000)]) if e.is_audit]
    assert len(events) >= n
    return events[:n]


def audit_schema() -> dict[str, Any]:
    spec = yaml.safe_load((ROOT / "topologies/collections/platform.yaml").read_text())
    (coll,) = [c for c in spec["collections"] if c["name"] == "audit_logs"]
    schema: dict[str, Any] = coll["validator"]["$jsonSchema"]
    return schema


_BSON_TYPES: dict[str, type | tuple[type, ...]] = {"object": Mapping, "string": str, "date": datetime}


def violations(doc: Any, schema: Mapping[str, Any], path: str = "") -> list[str]:
    """The $jsonSchema keywords platform.yaml uses (bsonType, required, properties, enum)."""
    out: list[str] = []
    want = schema.get("bsonType")
    if want is not None and not isinstance(doc, _BSON_TYPES[want]):
        return [f"{path or 'document'}: not a {want}"]
    if "enum" in schema and doc not in schema["enum"]:
        out.append(f"{path}: {doc!r} not in {schema['enum']}")
    if isinstance(doc, Mapping):
        prefix = f"{path}." if path else ""
        out += [f"{prefix}{name}: required" for name in schema.get("required", []) if name not in doc]
        for name, sub in schema.get("properties", {}).items():
            if name in doc:
                out += violations(doc[name], sub, prefix + name)
    return out


@pytest.mark.parametrize("tz_aware", [False, True], ids=["naive", "tz-aware"])
def test_stored_document_round_trips_through_bson_to_the_same_record_and_hash(tz_aware: bool) -> None:
    opts: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=tz_aware)
    prev = GENESIS
    for event in audit_events():
        record = chain_record(event.audit_content(365 * DAY_MS), prev)
        doc = stored_document(record)
        assert isinstance(doc["logged_at"], datetime) and "logged_at_ms" not in doc
        assert isinstance(doc["expires_at"], datetime)
        back = record_of({"_id": bson.ObjectId(), **bson.decode(bson.encode(doc), opts)})
        assert back == record
        assert audit_hash(back, back["prev_hash"]) == record["hash"]
        prev = record["hash"]


def test_dates_keep_whole_milliseconds_both_ways() -> None:
    for ms in (0, 1, T0, T0 + 999, 4_102_444_800_001):
        assert datetime_to_ms(ms_to_datetime(ms)) == ms
    raw = bson.decode(
        bson.encode({"d": ms_to_datetime(T0)}),
        CodecOptions(datetime_conversion=DatetimeConversion.DATETIME_MS),
    )
    assert datetime_to_ms(raw["d"]) == T0
    with pytest.raises(TypeError):
        datetime_to_ms("2023-11-14")


def test_stored_audit_documents_pass_the_platform_validator() -> None:
    schema = audit_schema()
    assert set(schema["required"]) >= {"tenant_id", "logged_at", "audit_id", "actor"}
    prev = GENESIS
    for event in audit_events():
        record = chain_record(event.audit_content(365 * DAY_MS), prev)
        assert violations(stored_document(record), schema) == []
        prev = record["hash"]


def test_the_validator_check_catches_what_the_server_would_refuse() -> None:
    schema = audit_schema()
    good = stored_document(chain_record(audit_events(1)[0].audit_content(DAY_MS), GENESIS))
    assert violations({**good, "logged_at": T0}, schema) == ["logged_at: not a date"]  # ms, not a date
    assert violations({**good, "category": "gossip"}, schema) == [
        "category: 'gossip' not in ['security', 'access', 'data_change', 'admin']"
    ]
    assert violations({**good, "actor": {"ip_address": "10.0.0.1"}}, schema) == ["actor.user_id: required"]
    missing = {k: v for k, v in good.items() if k != "audit_id"}
    assert violations(missing, schema) == ["audit_id: required"]
