"""The seeded event generator: the platform's traffic as the capstone describes it (Part XIII).

One :class:`EventGenerator` per run and variant draws, from its own seeded streams, which tenant
each event belongs to (Zipf-skewed, plus hot-tenant surges through :class:`TenantPicker`), its
type (a weighted mix that includes the capstone's audit types), its user, session and IP, and its
payload. The same seed and the same scheduled times give the same events, byte for byte.

An :class:`Event` is small (what the Redis plane and the history need); :meth:`Event.document`
builds the ~1 KB MongoDB document of the capstone's ``events`` schema only when the MongoDB plane
asks for it, and :meth:`Event.audit_content` the ``audit_logs`` record of an audit event.

Two schema versions are live at once (``event_version`` ``"1.2"`` and ``"2.0"``): 2.0 moves the
client's ``user_agent`` into ``context.client`` and adds ``payload.schema``; readers accept both
(:func:`user_agent_of`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from harness.workload.model.tenants import TenantPicker

DAY_MS = 86_400_000


@dataclass(frozen=True)
class EventType:
    name: str
    weight: float
    audit_category: str | None = None  # set for the capstone's audit types (classification rules)
    severity: str = "low"


#: The mix: common product events, then the eight audit types of the capstone's
#: ``classifyEvent`` (about 3% of traffic together).
EVENT_TYPES: tuple[EventType, ...] = (
    EventType("page.view", 38),
    EventType("api.call", 20),
    EventType("user.login", 10),
    EventType("user.logout", 6),
    EventType("search.query", 8),
    EventType("file.uploaded", 5),
    EventType("record.updated", 6),
    EventType("user.login_failed", 4),
    EventType("user.permission.changed", 0.5, "access", "high"),
    EventType("user.role.changed", 0.5, "access", "high"),
    EventType("data.exported", 0.6, "data_change", "medium"),
    EventType("data.deleted", 0.3, "data_change", "high"),
    EventType("admin.settings.changed", 0.4, "admin", "medium"),
    EventType("security.alert", 0.3, "security", "critical"),
    EventType("api_key.created", 0.2, "security", "medium"),
    EventType("api_key.revoked", 0.2, "security", "medium"),
)
AUDIT_TYPES = frozenset(t.name for t in EVENT_TYPES if t.audit_category)
VERSIONS = ("1.2", "2.0")


@dataclass(frozen=True)
class RetentionPolicy:
    """Retention per class in ms: the capstone's 90 / 365 / 180 days, scaled down in scenarios."""

    standard_ms: int = 90 * DAY_MS
    audit_ms: int = 365 * DAY_MS
    aggregates_ms: int = 180 * DAY_MS

    def classify(self, event_type: str, compliance_required: bool = False) -> tuple[str, int]:
        """The capstone's ``classifyEvent``: ``(retention_class, retention_ms)``."""
        if event_type in AUDIT_TYPES or compliance_required:
            return "audit", self.audit_ms
        return "standard", self.standard_ms


@dataclass(frozen=True)
class GeneratorConfig:
    users_per_tenant: int = 50
    sessions_per_user: int = 2
    doc_bytes: int = 1024  # target size of a stored event document (capstone: ~1 KB average)
    v2_share: float = 0.5  # share of events written with schema version 2.0
    compliance_share: float = 0.002  # events tagged compliance_required (kept as audit)
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)

    def __post_init__(self) -> None:
        if self.users_per_tenant < 1 or self.sessions_per_user < 1:
            raise ValueError("users_per_tenant and sessions_per_user must be at least 1")
        if not 0.0 <= self.v2_share <= 1.0 or not 0.0 <= self.compliance_share <= 1.0:
            raise ValueError("v2_share and compliance_share must be within [0, 1]")


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    tenant: str
    event_id: str  # the client-provided idempotency key
    event_type: str
    version: str
    user_id: str
    session_id: str
    ip: str
    time_ms: int  # event_time, epoch ms (the scheduled time of the event)
    retention_class: str
    expires_at_ms: int
    audit_category: str | None
    fill_seed: (
        int  # seeds the payload padding, built only when a document is (the Redis plane never needs it)
    )
    fill_bytes: int

    @property
    def is_audit(self) -> bool:
        return self.audit_category is not None

    def filler(self) -> str:
        return random.Random(self.fill_seed).randbytes(self.fill_bytes // 2).hex()

    def document(self, ingestion_node: str = "ing-1", received_ms: int | None = None) -> dict[str, Any]:
        """The ``events`` document (capstone schema), dates as ``datetime`` for BSON."""
        received = received_ms if received_ms is not None else self.time_ms
        doc: dict[str, Any] = {
            "tenant_id": self.tenant,
            "event_time": _dt(self.time_ms),
            "event_id": self.event_id,
            "event_type": self.event_type,
            "event_version": self.version,
            "actor": {"user_id": self.user_id, "session_id": self.session_id, "ip_address": self.ip},
            "payload": {"target_id": f"obj_{self.seq % 9973}", "details": self.filler()},
            "context": {
                "request_id": f"req_{self.event_id[4:]}",
                "trace_id": f"trace_{self.event_id[4:]}",
                "environment": "production",
                "service": self.event_type.split(".", 1)[0] + "-service",
                "service_version": "2.3.1",
            },
            "metadata": {
                "received_at": _dt(received),
                "processed_at": _dt(received),
                "ingestion_node": ingestion_node,
            },
            "retention_class": self.retention_class,
            "expires_at": _dt(self.expires_at_ms),
        }
        agent = f"Mozilla/5.0 (harness; {self.user_id})"
        if self.version == "1.2":
            doc["actor"]["user_agent"] = agent
        else:
            doc["context"]["client"] = {"user_agent": agent}
            doc["payload"]["schema"] = "v2"
        return doc

    def audit_content(self, audit_ms: int) -> dict[str, Any]:
        """The ``audit_logs`` record's content (without ``prev_hash`` / ``hash``), flat and
        JSON-safe as :mod:`harness.checkers.audit_trail` hashes it: dates as epoch ms."""
        if self.audit_category is None:
            raise ValueError(f"{self.event_type} is not an audit event type")
        return {
            "audit_id": f"aud_{self.event_id[4:]}",
            "tenant_id": self.tenant,
            "logged_at_ms": self.time_ms,
            "expires_at_ms": self.time_ms + audit_ms,
            "category": self.audit_category,
            "action": self.event_type,
            "severity": _SEVERITY[self.event_type],
            "actor": {"user_id": self.user_id, "ip_address": self.ip},
            "target": {"type": "user", "id": f"user_{self.seq % 9973}"},
            "source_event_id": self.event_id,
        }

    def timeline_entry(self) -> str:
        """The member stored in the user's timeline sorted set (capstone ``UserTimelineCache``);
        it carries the tenant so a read can show whose data it returned."""
        return f'{{"event_id":"{self.event_id}","event_type":"{self.event_type}","tenant":"{self.tenant}"}}'


_SEVERITY = {t.name: t.severity for t in EVENT_TYPES}


def user_agent_of(doc: dict[str, Any]) -> str | None:
    """Readers accept both live schema versions."""
    holder = (
        doc.get("context", {}).get("client", {})
        if doc.get("event_version") == "2.0"
        else doc.get("actor", {})
    )
    agent = holder.get("user_agent")
    return agent if isinstance(agent, str) else None


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class EventGenerator:
    """Draws events from seeded streams: tenants from ``picker`` (its own stream, so a hot-tenant
    surge steers it), everything else from ``rng``."""

    def __init__(self, picker: TenantPicker, rng: random.Random, cfg: GeneratorConfig | None = None) -> None:
        self.picker = picker
        self.rng = rng
        self.cfg = cfg or GeneratorConfig()
        self._types = [t.name for t in EVENT_TYPES]
        self._cum: list[float] = []
        acc = 0.0
        for t in EVENT_TYPES:
            acc += t.weight
            self._cum.append(acc)
        self._category = {t.name: t.audit_category for t in EVENT_TYPES}
        # Bytes of a document besides the filler (measured once on a typical event), so documents
        # come out near ``doc_bytes``.
        self._filler_len = max(0, self.cfg.doc_bytes - 640)
        self._net: dict[str, str] = {}

    def batch(self, first_seq: int, times_ms: list[int]) -> list[Event]:
        """Events ``first_seq, first_seq + 1, ...`` whose event times are ``times_ms``."""
        cfg, rng = self.cfg, self.rng
        n = len(times_ms)
        tenants = self.picker.draw(n)
        types = rng.choices(self._types, cum_weights=self._cum, k=n)
        out: list[Event] = []
        for i, (tenant, etype, t_ms) in enumerate(zip(tenants, types, times_ms, strict=True)):
            user = rng.randrange(cfg.users_per_tenant)
            sess = rng.randrange(cfg.sessions_per_user)
            version = VERSIONS[1] if rng.random() < cfg.v2_share else VERSIONS[0]
            compliance = rng.random() < cfg.compliance_share
            rclass, keep_ms = cfg.retention.classify(etype, compliance)
            # Most events come from the user's usual address; some from elsewhere (the security
            # investigation query looks for those).
            ip_host = user if rng.random() < 0.9 else 200 + rng.randrange(50)
            category = self._category[etype] or ("security" if compliance else None)
            out.append(
                Event(
                    seq=first_seq + i,
                    tenant=tenant,
                    event_id=f"evt_{rng.getrandbits(64):016x}",
                    event_type=etype,
                    version=version,
                    user_id=f"user_{user}",
                    session_id=f"sess_{user}_{sess}",
                    ip=f"{self._tenant_net(tenant)}.{ip_host % 256}",
                    time_ms=t_ms,
                    retention_class=rclass,
                    expires_at_ms=t_ms + keep_ms,
                    audit_category=category,
                    fill_seed=rng.getrandbits(32),
                    fill_bytes=self._filler_len,
                )
            )
        return out

    def _tenant_net(self, tenant: str) -> str:
        net = self._net.get(tenant)
        if net is None:
            net = self._net[tenant] = tenant_net(tenant)
        return net


def tenant_net(tenant: str) -> str:
    """The /24 a tenant's users come from (``10.x.y``): the investigation query searches it."""
    h = hash_tenant(tenant)
    return f"10.{(h >> 8) & 255}.{h & 255}"


def hash_tenant(tenant: str) -> int:
    """A stable small hash (Python's ``hash`` of a str changes between processes)."""
    h = 2166136261
    for ch in tenant.encode():
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return h
