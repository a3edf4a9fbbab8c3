"""Pieces every Redis-plane workload of a scenario variant is built from: its tenant mix and its key
scheme (the whale write-sharded per the variant)."""

from __future__ import annotations

from harness.scenario.spec import ScenarioSpec, VariantSpec
from harness.workload.model.keys import KeyScheme
from harness.workload.model.tenants import TenantMix


def tenants_and_keys(spec: ScenarioSpec, variant: VariantSpec) -> tuple[TenantMix, KeyScheme]:
    wl, whale = spec.workload, spec.workload.whale
    mix = TenantMix(wl.tenants, wl.zipf_s, whale.tenant if whale else None, whale.share if whale else 0.0)
    return mix, KeyScheme({whale.tenant: variant.whale_shards} if whale else {})
