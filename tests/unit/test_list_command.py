"""``harness list``: every scenario with what it shows and its topology, every topology with what
it is, on stdout."""

from __future__ import annotations

from click.testing import CliRunner

from harness.cli import cli
from harness.scenario.spec import available_scenarios, load_scenario
from harness.topology.spec import available_topologies


def test_list_names_each_scenario_with_its_one_line_description_and_topology() -> None:
    result = CliRunner().invoke(cli, ["list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for name in available_scenarios():
        spec = load_scenario(name)
        row = next((line for line in lines if f" {name} " in line), None)
        assert row is not None, f"{name} not listed"
        assert spec.topology in row and spec.title.split(":")[0] in row
    for name in available_topologies():
        assert any(f" {name} " in line for line in lines), f"topology {name} not listed"
