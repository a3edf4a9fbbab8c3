"""``results.json``: what was run and how it was judged."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from harness.records.base import Number, Record


class Capacity(Record):
    cpu_limit: Number | None = None
    applied: bool | None = None
    reason: str | None = None
    how: str | None = None  # cgroup CPU quota (local) or docker update --cpu-quota (docker)


class NodeInfo(Record):
    name: str | None = None
    role: str | None = None
    replica_of: str | None = None
    address: str | None = None
    proxy: str | None = None
    bus_proxy: str | None = None
    repl_proxy: str | None = None
    netns: str | None = None
    pid: int | None = None


class Substrate(Record):
    backend: str | None = None
    topology: str | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    hosts: str | None = None
    partitions_supported: bool | None = None
    nodes: list[NodeInfo] = Field(default_factory=list)
    up_seconds: Number | None = None
    capacity: Capacity | None = None
    mongodb: str | None = None  # the server the MongoDB plane ran on, in one line


class Plane(Record):
    """A plane of the platform (redis, mongodb): whether it ran, and on what."""

    status: str | None = None  # ran | not_run
    reason: str | None = None
    server: str | None = None
    substrate: str | None = None
    lacks: dict[str, str] = Field(default_factory=dict)  # feature -> what the server did instead
    left_out: list[str] = Field(default_factory=list)
    note: str | None = None


class VariantResult(Record):
    name: str | None = None
    description: str | None = None
    offered_rate: Number | None = None
    duration_s: Number | None = None
    events_offered: int | None = None
    events_sent: int | None = None
    achieved_rate: Number | None = None
    whale_shards: int | None = None


class Invariant(Record):
    """One checker's verdict on one variant."""

    variant: str | None = None
    name: str | None = None
    status: str | None = None  # valid | invalid | unknown | not_run
    violations: int | None = None
    summary: str | None = None
    examples: list[dict[str, Any]] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)  # the checker's own totals: open
    expected: str | None = None  # "invalid": the variant is meant to show this anomaly
    # with expected: the anomaly kinds meant (expect_invalid "checker:kind"); empty: any kind
    expected_kinds: list[str] = Field(default_factory=list)

    def kinds_occurred(self) -> list[str]:
        """The anomaly kinds found: ``details["violations_by_kind"]``, else the examples' kinds."""
        by_kind = self.details.get("violations_by_kind")
        if isinstance(by_kind, dict):
            return sorted(str(k) for k, n in by_kind.items() if n)
        return sorted({str(ex["kind"]) for ex in self.examples if ex.get("kind")})

    def unexpected_kinds(self) -> list[str]:
        """Kinds found that the expectation does not name (none when it names no kinds)."""
        if self.expected != "invalid" or not self.expected_kinds:
            return []
        return [k for k in self.kinds_occurred() if k not in self.expected_kinds]

    def anomaly_reproduced(self) -> bool:
        """Expected invalid and invalid; with kinds named, at least one of them found and no other."""
        if self.expected != "invalid" or self.status != "invalid":
            return False
        if not self.expected_kinds:
            return True
        found = self.kinds_occurred()
        return bool(set(found) & set(self.expected_kinds)) and not self.unexpected_kinds()


class TargetResult(Record):
    name: str | None = None
    description: str | None = None
    metric: str | None = None
    value: Number | None = None
    op: str | None = None
    threshold: Number | None = None
    threshold_from: str | None = None
    status: str | None = None  # pass | fail | unknown | not_run
    reason: str | None = None  # why not judged (not_run)


class FaultRecord(Record):
    """A planned fault and what the nemesis did with it."""

    variant: str | None = None
    index: int | None = None
    at_s: Number | None = None
    duration_s: Number | None = None
    fault: str | None = None
    target: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    origin: str | None = None
    status: str | None = None
    reason: str | None = None
    applied: dict[str, Any] | None = None  # each fault kind's own account: open
    healed: dict[str, Any] | None = None
    start_delay_ms: Number | None = None
    heal_delay_ms: Number | None = None


class RunOptionsRecord(Record):
    duration_s: Number | None = None
    rate: Number | None = None
    profile: dict[str, Any] = Field(default_factory=dict)
    hosts: str | None = None


class Checking(Record):
    """What re-judging a run needs beyond its files (``harness check``)."""

    checkers: list[str] = Field(default_factory=list)
    checker_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    targets: list[dict[str, Any]] = Field(default_factory=list)  # TargetSpec dumps, validated by judge
    expect_invalid: dict[str, list[str]] = Field(default_factory=dict)
    needs_plane: dict[str, dict[str, str]] = Field(default_factory=dict)


class HistoryDigest(Record):
    """What the recorder wrote to ``history.jsonl`` (:meth:`HistoryRecorder.summary`), compared by
    ``harness check`` before judging: a line dropped or edited since is an error."""

    ops: int | None = None  # ops invoked (a batch record counts as the ops it stands for)
    records: int | None = None  # lines written
    size: int | None = None  # bytes
    sha256: str | None = None


class RunResults(Record):
    """``results.json``."""

    scenario: str | None = None
    scenario_file: str | None = None
    title: str | None = None
    description: str | None = None
    case_study: str | None = None
    run_id: str | None = None
    seed: int | None = None
    started_at: str | None = None
    verdict: str | None = None  # pass | fail | error
    verdict_reason: str | None = None
    error: str | None = None
    substrate: Substrate = Field(default_factory=Substrate)
    planes: dict[str, Plane] = Field(default_factory=dict)
    variants: list[VariantResult] = Field(default_factory=list)
    invariants: list[Invariant] = Field(default_factory=list)
    targets: list[TargetResult] = Field(default_factory=list)
    faults: list[FaultRecord] = Field(default_factory=list)
    options: RunOptionsRecord | None = None
    reproduce: str | None = None
    checking: Checking | None = None
    history: HistoryDigest | None = None  # absent in runs from before it was recorded
    finished_at: str | None = None
    duration_s: Number | None = None
    check_notes: list[str] = Field(default_factory=list)
    rechecked_at: str | None = None
