"""Named suites of scenarios for ``harness nightly --suite NAME``, from ``scenarios/suites.yaml``.

Each suite has a description and its scenarios, in the order they run: a list of names, or ``"*"``
for every scenario in ``scenarios/`` in name order (the ``all`` suite).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator

from harness.errors import HarnessError
from harness.scenario.spec import SCENARIO_DIR, SUITES_FILE, available_scenarios
from harness.specload import load_yaml_model

SUITES_PATH = SCENARIO_DIR / f"{SUITES_FILE}.yaml"
EVERY = "*"


class Suite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    scenarios: list[str] | str

    @field_validator("scenarios")
    @classmethod
    def _star_or_names(cls, v: list[str] | str) -> list[str] | str:
        if isinstance(v, str) and v != EVERY:
            raise ValueError(f"a list of scenario names, or '{EVERY}' for all of them")
        if isinstance(v, list) and not v:
            raise ValueError("a suite needs at least one scenario")
        return v


class Suites(BaseModel):
    model_config = ConfigDict(extra="forbid")

    suites: dict[str, Suite]


def load_suites(path: Path = SUITES_PATH) -> dict[str, Suite]:
    """The suites of ``path``, each scenario named checked against ``scenarios/``."""
    suites = load_yaml_model(path, Suites).suites
    known = set(available_scenarios())
    for name, suite in suites.items():
        if isinstance(suite.scenarios, list):
            unknown = [s for s in suite.scenarios if s not in known]
            if unknown:
                raise HarnessError(
                    f"{path}: suite '{name}' names unknown scenarios {', '.join(unknown)}; "
                    f"known: {', '.join(sorted(known))}"
                )
    return suites


def resolve(suite: str | None, scenarios: list[str] | None, path: Path = SUITES_PATH) -> list[str]:
    """The scenarios to run: those named (``--scenarios a,b``), else the suite's."""
    if scenarios:
        known = set(available_scenarios())
        unknown = [s for s in scenarios if s not in known and not s.endswith((".yaml", ".yml"))]
        if unknown:
            raise HarnessError(f"unknown scenario {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return list(dict.fromkeys(scenarios))
    suites = load_suites(path)
    name = suite or "all"
    if name not in suites:
        raise HarnessError(f"unknown suite '{name}'; known: {', '.join(suites)} (in {path})")
    chosen = suites[name].scenarios
    return available_scenarios() if chosen == EVERY else list(dict.fromkeys(chosen))
