"""JUnit XML for CI dashboards, built from a run's ``results.json`` alone.

One ``<testsuite>`` named after the scenario, with a testcase per invariant (``invariants.<variant>``),
per target (``targets``) and per plane (``planes``), plus an ``<error>`` testcase ``run`` when the run
itself errored.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

_EXAMPLES = 5
# Characters XML 1.0 cannot carry at all; ElementTree would write them and parsers would then choke.
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _text(v: object) -> str:
    """A value as plain text: floats trimmed (1.780000 -> 1.78), None -> "?"."""
    if v is None:
        return "?"
    if isinstance(v, float) and math.isfinite(v):
        s = f"{v:.6g}"
    elif isinstance(v, str):
        s = v
    elif isinstance(v, int | float | bool):
        s = str(v)
    else:
        s = json.dumps(v, default=str, sort_keys=True)
    return _ILLEGAL_XML.sub("\ufffd", s)


def _dicts(v: object) -> list[dict[str, Any]]:
    return [x for x in v if isinstance(x, dict)] if isinstance(v, list) else []


def _case(suite: ET.Element, classname: str, name: object) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=_text(classname), name=_text(name))


def _invariant(suite: ET.Element, inv: dict[str, Any]) -> str:
    case = _case(suite, f"invariants.{_text(inv.get('variant'))}", inv.get("name"))
    status = inv.get("status")
    summary = inv.get("summary")
    if status == "invalid":
        n = inv.get("violations")
        msg = f"{_text(n)} violation{'' if n == 1 else 's'}"
        if summary:
            msg += f": {_text(summary)}"
        examples = _dicts(inv.get("examples"))[:_EXAMPLES]
        lines = [msg]
        if examples:
            lines.append(f"first {len(examples)} example{'' if len(examples) == 1 else 's'}:")
            lines += ["  " + _text(json.dumps(ex, default=str, sort_keys=True)) for ex in examples]
        ET.SubElement(case, "failure", message=msg, type="invariant-violated").text = "\n".join(lines)
        return "failure"
    if status != "valid":
        why = "unknown" if status == "unknown" else f"status {_text(status)}"
        msg = f"{why}: {_text(summary)}" if summary else why
        ET.SubElement(case, "skipped", message=msg)
        return "skipped"
    if summary:
        ET.SubElement(case, "system-out").text = _text(summary)
    return "pass"


def _target(suite: ET.Element, tgt: dict[str, Any]) -> str:
    case = _case(suite, "targets", tgt.get("name"))
    status = tgt.get("status")
    desc = tgt.get("description")
    if status == "fail":
        msg = f"value {_text(tgt.get('value'))}, needs {_text(tgt.get('op'))} {_text(tgt.get('threshold'))}"
        ET.SubElement(case, "failure", message=msg, type="target-missed").text = (
            f"{msg}\n{_text(desc)}" if desc else msg
        )
        return "failure"
    if status != "pass":
        why = "unknown" if status == "unknown" else f"status {_text(status)}"
        if status == "not_run" and tgt.get("reason"):
            why = f"not judged: {_text(tgt.get('reason'))}"
        ET.SubElement(case, "skipped", message=f"{why}: {_text(desc)}" if desc else why)
        return "skipped"
    return "pass"


def _plane(suite: ET.Element, name: str, plane: object) -> str:
    case = _case(suite, "planes", name)
    info = plane if isinstance(plane, dict) else {}
    status = info.get("status")
    if status == "ran":
        return "pass"
    reason = info.get("reason")
    label = "not run" if status == "not_run" else f"status {_text(status)}"
    ET.SubElement(case, "skipped", message=f"{label}: {_text(reason)}" if reason else label)
    return "skipped"


def build_junit(results: dict[str, Any]) -> ET.Element:
    """The ``<testsuites>`` element for ``results`` (a parsed results.json; any field may be missing)."""
    scenario = _text(results.get("scenario") or "unknown-scenario")
    root = ET.Element("testsuites", name=scenario)
    suite = ET.SubElement(root, "testsuite", name=scenario)
    props = ET.SubElement(suite, "properties")
    for key in ("run_id", "seed", "verdict", "verdict_reason", "started_at", "finished_at"):
        if results.get(key) is not None:
            ET.SubElement(props, "property", name=key, value=_text(results.get(key)))

    outcomes: list[str] = []
    error = results.get("error")
    if error is not None:
        case = _case(suite, scenario, "run")
        text = error if isinstance(error, str) else json.dumps(error, indent=2, default=str)
        first = _text(text).strip().splitlines()
        ET.SubElement(case, "error", message=first[0] if first else "error", type="run-error").text = _text(
            text
        )
        outcomes.append("error")
    for inv in _dicts(results.get("invariants")):
        outcomes.append(_invariant(suite, inv))
    for tgt in _dicts(results.get("targets")):
        outcomes.append(_target(suite, tgt))
    planes = results.get("planes")
    if isinstance(planes, dict):
        for name, plane in planes.items():
            outcomes.append(_plane(suite, str(name), plane))

    counts = {
        "tests": str(len(outcomes)),
        "failures": str(outcomes.count("failure")),
        "errors": str(outcomes.count("error")),
        "skipped": str(outcomes.count("skipped")),
    }
    duration = results.get("duration_s")
    if isinstance(duration, int | float) and not isinstance(duration, bool) and math.isfinite(duration):
        counts["time"] = f"{float(duration):.3f}"
    for el in (root, suite):
        for k, v in counts.items():
            el.set(k, v)
    if isinstance(results.get("started_at"), str):
        suite.set("timestamp", _text(results["started_at"]))
    if len(props) == 0:
        suite.remove(props)
    return root


def write_junit(results: dict[str, Any], path: Path) -> None:
    """Write ``junit.xml`` for ``results`` to ``path`` (UTF-8, indented)."""
    tree = ET.ElementTree(build_junit(results))
    ET.indent(tree)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tree.write(tmp, encoding="utf-8", xml_declaration=True)
    tmp.replace(path)
