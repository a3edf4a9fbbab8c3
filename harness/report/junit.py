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

from harness.records import Invariant, Plane, RunResults, TargetResult

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


def _case(suite: ET.Element, classname: str, name: object) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=_text(classname), name=_text(name))


def _invariant(suite: ET.Element, inv: Invariant) -> str:
    case = _case(suite, f"invariants.{_text(inv.variant)}", inv.name)
    status = inv.status
    summary = inv.summary
    if status == "invalid":
        n = inv.violations
        msg = f"{_text(n)} violation{'' if n == 1 else 's'}"
        if summary:
            msg += f": {_text(summary)}"
        examples = inv.examples[:_EXAMPLES]
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


def _target(suite: ET.Element, tgt: TargetResult) -> str:
    case = _case(suite, "targets", tgt.name)
    status = tgt.status
    desc = tgt.description
    if status == "fail":
        msg = f"value {_text(tgt.value)}, needs {_text(tgt.op)} {_text(tgt.threshold)}"
        ET.SubElement(case, "failure", message=msg, type="target-missed").text = (
            f"{msg}\n{_text(desc)}" if desc else msg
        )
        return "failure"
    if status != "pass":
        why = "unknown" if status == "unknown" else f"status {_text(status)}"
        if status == "not_run" and tgt.reason:
            why = f"not judged: {_text(tgt.reason)}"
        ET.SubElement(case, "skipped", message=f"{why}: {_text(desc)}" if desc else why)
        return "skipped"
    return "pass"


def _plane(suite: ET.Element, name: str, plane: Plane) -> str:
    case = _case(suite, "planes", name)
    status = plane.status
    if status == "ran":
        return "pass"
    reason = plane.reason
    label = "not run" if status == "not_run" else f"status {_text(status)}"
    ET.SubElement(case, "skipped", message=f"{label}: {_text(reason)}" if reason else label)
    return "skipped"


def build_junit(results: RunResults) -> ET.Element:
    """The ``<testsuites>`` element for ``results`` (any field may be missing)."""
    scenario = _text(results.scenario or "unknown-scenario")
    root = ET.Element("testsuites", name=scenario)
    suite = ET.SubElement(root, "testsuite", name=scenario)
    props = ET.SubElement(suite, "properties")
    for key, value in (
        ("run_id", results.run_id),
        ("seed", results.seed),
        ("verdict", results.verdict),
        ("verdict_reason", results.verdict_reason),
        ("started_at", results.started_at),
        ("finished_at", results.finished_at),
    ):
        if value is not None:
            ET.SubElement(props, "property", name=key, value=_text(value))

    outcomes: list[str] = []
    if results.error is not None:
        case = _case(suite, scenario, "run")
        first = _text(results.error).strip().splitlines()
        ET.SubElement(case, "error", message=first[0] if first else "error", type="run-error").text = _text(
            results.error
        )
        outcomes.append("error")
    outcomes += [_invariant(suite, inv) for inv in results.invariants]
    outcomes += [_target(suite, tgt) for tgt in results.targets]
    outcomes += [_plane(suite, str(name), plane) for name, plane in results.planes.items()]

    counts = {
        "tests": str(len(outcomes)),
        "failures": str(outcomes.count("failure")),
        "errors": str(outcomes.count("error")),
        "skipped": str(outcomes.count("skipped")),
    }
    duration = results.duration_s
    if duration is not None and math.isfinite(duration):
        counts["time"] = f"{float(duration):.3f}"
    for el in (root, suite):
        for k, v in counts.items():
            el.set(k, v)
    if results.started_at is not None:
        suite.set("timestamp", _text(results.started_at))
    if len(props) == 0:
        suite.remove(props)
    return root


def write_junit(results: RunResults, path: Path) -> None:
    """Write ``junit.xml`` for ``results`` to ``path`` (UTF-8, indented)."""
    tree = ET.ElementTree(build_junit(results))
    ET.indent(tree)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tree.write(tmp, encoding="utf-8", xml_declaration=True)
    tmp.replace(path)
