"""Loading YAML spec files into pydantic models with errors that name the file and the field."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import HarnessError, SpecError

M = TypeVar("M", bound=BaseModel)


def names_in(directory: Path) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.yaml"))


def resolve_spec(name_or_path: str | Path, directory: Path, kind: str) -> Path:
    """A path to a .yaml file as given, or ``<directory>/<name>.yaml`` for a bare name."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        return path
    path = directory / f"{name_or_path}.yaml"
    if not path.exists():
        raise HarnessError(
            f"unknown {kind} '{name_or_path}'; known: {', '.join(names_in(directory))} "
            f"(or give a path to a .yaml file)"
        )
    return path


def load_yaml_model(path: Path, model: type[M]) -> M:
    """Parses ``path`` as ``model``; any problem becomes one SpecError naming file and field."""
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise SpecError(str(path), "-", "file not found") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "-"
        raise SpecError(str(path), where, f"not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(raw, dict):
        raise SpecError(str(path), "-", f"expected a mapping at the top level, found {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "-"
        extra = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        got = first.get("input")
        shown = "" if isinstance(got, dict) else f"; got {got!r}"
        raise SpecError(str(path), field, f"{first['msg']}{shown}{extra}") from exc
