"""Size limits of the harness's code: no module over :data:`MAX_MODULE_LINES` lines, no function
(methods and nested functions included) over :data:`MAX_FUNCTION_LINES` lines.

Measured with ``ast`` (``end_lineno - lineno + 1``: a function from its ``def``, decorators not
counted, to its last line). A module or function may be longer when its own docstring says why on
one line marked ``Long because: …``. Today's offenders that are being split elsewhere are listed in
:data:`ALLOWED`; the list can only shrink (an entry that no longer offends fails too).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import harness

ROOT = Path(harness.__file__).resolve().parent
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
REASON = re.compile(r"^\s*Long because: \S", re.MULTILINE)

#: Offenders allowed for now, ``path`` (a module) or ``path::Qualified.name`` (a function) -> why.
#: Empty: every module and function is within its limit or says why in its docstring. An entry is
#: for a split under way on a branch, and fails once it no longer offends.
ALLOWED: dict[str, str] = {}

Func = ast.FunctionDef | ast.AsyncFunctionDef


def _explained(node: ast.Module | Func) -> bool:
    doc = ast.get_docstring(node, clean=False)
    return doc is not None and REASON.search(doc) is not None


def _functions(node: ast.AST, prefix: str = "") -> Iterator[tuple[str, Func]]:
    """(qualified name, node) of every function under ``node``, nested ones included."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield prefix + child.name, child
            yield from _functions(child, f"{prefix}{child.name}.")
        elif isinstance(child, ast.ClassDef):
            yield from _functions(child, f"{prefix}{child.name}.")
        else:
            yield from _functions(child, prefix)


def offenders(source: str, name: str) -> dict[str, int]:
    """``name`` (a module) or ``name::qualname`` (a function) -> its lines, for each one over its
    limit without a ``Long because:`` reason."""
    tree = ast.parse(source, name)
    out: dict[str, int] = {}
    lines = len(source.splitlines())
    if lines > MAX_MODULE_LINES and not _explained(tree):
        out[name] = lines
    for qualname, fn in _functions(tree):
        length = (fn.end_lineno or fn.lineno) - fn.lineno + 1
        if length > MAX_FUNCTION_LINES and not _explained(fn):
            out[f"{name}::{qualname}"] = length
    return out


def _all_offenders() -> dict[str, int]:
    out: dict[str, int] = {}
    for path in sorted(ROOT.rglob("*.py")):
        out |= offenders(path.read_text(), path.relative_to(ROOT).as_posix())
    return out


def test_no_module_or_function_over_its_limit() -> None:
    found = _all_offenders()
    new = {name: lines for name, lines in found.items() if name not in ALLOWED}
    assert not new, (
        f"over {MAX_MODULE_LINES} lines (module) or {MAX_FUNCTION_LINES} (function): {new}; split it, "
        "or say why in its docstring on one line marked 'Long because: ...'"
    )


def test_allowed_list_only_shrinks() -> None:
    found = _all_offenders()
    stale = sorted(name for name in ALLOWED if name not in found)
    assert not stale, f"no longer over the limit, remove from ALLOWED: {stale}"


def test_measures_nested_functions_and_methods_and_honours_a_reason() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    source = (
        f"class C:\n    def m(self):\n    {body.replace(chr(10), chr(10) + '    ')}\n\n"
        f"def outer():\n    def inner():\n    {body.replace(chr(10), chr(10) + '    ')}\n\n"
        f'def explained():\n    """Long because: a table that reads best whole."""\n{body}\n\n'
        f"def short():\n    return 1\n"
    )
    found = offenders(source, "m.py")
    assert set(found) == {"m.py::C.m", "m.py::outer", "m.py::outer.inner"}, found
    assert found["m.py::C.m"] == MAX_FUNCTION_LINES + 1


def test_a_module_reason_is_its_docstrings() -> None:
    lines = "\n".join(f"x{i} = {i}" for i in range(MAX_MODULE_LINES + 1))
    assert offenders(lines, "m.py") == {"m.py": MAX_MODULE_LINES + 1}
    assert offenders(f'"""Spec tables.\n\nLong because: one table per server."""\n{lines}', "m.py") == {}
    assert offenders(f'"""Long because:"""\n{lines}', "m.py") == {"m.py": MAX_MODULE_LINES + 2}
