"""The harness's import graph: no cycles, and dependencies flow one way through the layers.

Every module of ``harness`` is parsed (not imported); every import counts, at module level, inside
functions and under ``TYPE_CHECKING`` alike. A unit is a package (``harness.workload``) or a
top-level module (``harness.cli``). A module may import
anything of its own unit and of the layers below its own, nothing of its own layer's other units
and nothing above. Today's exceptions are listed in :data:`ALLOWED`, each with its reason; the
list can only shrink (an entry whose import is gone, or no longer breaks a rule, fails too).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import harness

ROOT = Path(harness.__file__).resolve().parent

#: Highest first. From DESIGN: cli → nightly → report | scenario → faults | workload | clients → topology →
#: checkers | metrics → history → ops | errors | clock, and report never imports the runner.
#: Units of one layer import none of each other.
LAYERS: list[tuple[str, ...]] = [
    ("cli",),
    ("cli_capacity",),  # the capacity command: runs harness.bench.capacity
    # what the up/status commands print (endpoints, node health); the images commands
    ("cli_show", "cli_images", "cli_export", "cli_rehearse", "cli_nightly"),
    # incident rehearsal: built on the scenario layer's workload kinds, nemesis and checkers; the
    # nightly: scenarios in sequence (each a `harness scenario` process), a summary and baselines
    ("rehearsal", "nightly"),
    ("scenario", "bench"),  # the run layer: a scenario's run and re-check; the benchmarks (bench*.py)
    ("report",),  # renders a run directory; the runner renders through it, never the other way
    ("workload", "faults"),
    ("clients",),
    ("topology",),
    ("docker",),  # the Docker engine and images: under topology, whose Docker backend runs them
    ("checkers", "metrics"),
    ("history",),
    ("doctor", "specload", "records"),  # binaries and versions; loading the YAML specs; run records
    ("ops", "clock", "errors", "audit_chain", "harness"),  # leaves ("harness": the package's __init__)
]

#: Checkers judge a finished run: only the run layer imports them, so no workload, fault or client
#: depends on the code that judges it.
CHECKER_USERS = frozenset({"cli", "scenario", "bench"})

#: Imports that break the layering today, (importer, imported) -> why it is still there.
ALLOWED: dict[tuple[str, str], str] = {
    ("harness.topology.mongo", "harness.clients.mongo_stats"): (
        "bring-up reads back the chunks it made per shard with the read `harness status` uses"
    ),
    ("harness.topology.mongo_presplit", "harness.workload.model.tenants"): (
        "the presplit cuts the workload's tenant names, and tenant_name is their one spelling"
    ),
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = ["harness", *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _target(name: str) -> str:
    """The module ``name`` loads: itself, or the nearest enclosing module (a name in it)."""
    while name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _imports(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """(harness module imported, line) for every import in ``path``, wherever it stands."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "harness" or alias.name.startswith("harness."):
                    yield _target(alias.name), node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            if source != "harness" and not source.startswith("harness."):
                continue
            for alias in node.names:
                sub = f"{source}.{alias.name}"  # `from harness.x import y` may load module x.y
                yield (sub if sub in MODULES else _target(source)), node.lineno


def import_graph() -> dict[tuple[str, str], int]:
    """Every import between two harness modules, with the line of its first occurrence."""
    edges: dict[tuple[str, str], int] = {}
    for module, path in MODULES.items():
        for target, line in _imports(module, path):
            if target != module:
                edges.setdefault((module, target), line)
    return edges


def unit(module: str) -> str:
    name = module.split(".")[1] if "." in module else "harness"
    return "bench" if name.startswith("bench") else name


LAYER = {u: i for i, units in enumerate(LAYERS) for u in units}


def breaks_rules(a: str, b: str) -> str | None:
    """Why the import of ``b`` by ``a`` breaks the layering (None when it does not)."""
    ua, ub = unit(a), unit(b)
    if ua == ub:
        return None
    if ub == "checkers" and ua not in CHECKER_USERS:
        return f"only {sorted(CHECKER_USERS)} import checkers"
    if LAYER[ub] <= LAYER[ua]:
        where = "its own layer" if LAYER[ub] == LAYER[ua] else "a higher layer"
        return f"{ua} imports {ub}, of {where}"
    return None


def _cycles(edges: dict[tuple[str, str], int]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    succ: dict[str, list[str]] = {m: [] for m in MODULES}
    for a, b in edges:
        succ[a].append(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for root in MODULES:
        if root in index:
            continue
        work = [(root, iter(succ[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        x = stack.pop()
                        on_stack.discard(x)
                        comp.append(x)
                        if x == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
            elif w not in index:
                index[w] = low[w] = len(index)
                stack.append(w)
                on_stack.add(w)
                work.append((w, iter(succ[w])))
            elif w in on_stack:
                low[v] = min(low[v], index[w])
    return out


def test_every_unit_has_a_layer() -> None:
    missing = sorted({unit(m) for m in MODULES} - set(LAYER))
    assert not missing, f"give these a place in LAYERS: {missing}"


def test_no_import_cycles() -> None:
    edges = import_graph()
    cycles = _cycles(edges)
    described = [
        ", ".join(f"{a} -> {b} (line {edges[a, b]})" for a in comp for b in comp if (a, b) in edges)
        for comp in cycles
    ]
    assert not cycles, "import cycles:\n" + "\n".join(described)


def test_imports_follow_the_layers() -> None:
    bad = [
        f"{a} -> {b} (line {line}): {why}"
        for (a, b), line in sorted(import_graph().items())
        if (why := breaks_rules(a, b)) is not None and (a, b) not in ALLOWED
    ]
    why = "imports against the layering (fix them, or add them to ALLOWED with a reason):"
    assert not bad, "\n".join([why, *bad])


def test_the_allowlist_is_still_true() -> None:
    edges = import_graph()
    stale = [f"{a} -> {b}" for a, b in ALLOWED if (a, b) not in edges or breaks_rules(a, b) is None]
    assert not stale, f"remove from ALLOWED (no longer imported, or no longer against the layering): {stale}"


def test_the_walk_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    path = tmp_path / "render.py"
    body = ["from harness.scenario import runner", "from ..ops import Op", "import harness.clock"]
    path.write_text("def f():\n" + "".join(f"    {line}\n" for line in body))
    found = {target for target, _ in _imports("harness.report.render", path)}
    assert found == {"harness.scenario.runner", "harness.ops", "harness.clock"}
    assert breaks_rules("harness.report.render", "harness.scenario.runner") is not None
    assert (
        breaks_rules("harness.workload.mongo_plane.audit_writer", "harness.checkers.audit_trail") is not None
    )
    assert breaks_rules("harness.scenario.runner", "harness.report.render") is None
