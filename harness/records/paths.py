"""Target metric paths checked against :class:`~harness.records.metrics.VariantMetrics` when a
scenario loads."""

from __future__ import annotations

import types
import typing
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from pydantic import BaseModel

from harness.records.metrics import VariantMetrics


@dataclass(frozen=True)
class KeyRule:
    """The keys a map (or a model's kept keys) of :class:`VariantMetrics` has in one scenario."""

    keys: frozenset[str]
    what: str  # where they come from, for the error message


@dataclass(frozen=True)
class MetricKeys:
    """What one scenario's ``metrics.json`` holds beyond the model's fixed fields. Places are
    written with ``*`` for a key of a map (``invariants.*``)."""

    rules: Mapping[str, KeyRule]  # place -> the keys it has (a place without a rule: any key)
    free: Collection[str] = ()  # places below which anything goes (the platform's workload)
    absent: Mapping[str, str] = dataclass_field(default_factory=dict)  # place -> why it is never written


def _options(tp: Any) -> Any:
    """``X | None`` as ``X``; ``int | float`` as itself."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else typing.Union[tuple(args)]  # noqa: UP007
    return tp


def _is_number(tp: Any) -> bool:
    args = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
    return bool(args) and all(a in (int, float) for a in args)


def _kept_type(model: type[BaseModel]) -> Any:
    """The type of a model's kept keys when it names one (``__pydantic_extra__``), else None."""
    hint = typing.get_type_hints(model).get("__pydantic_extra__")  # in the model's own module
    args = typing.get_args(hint)
    return args[1] if len(args) == 2 else None


def metric_path_problem(path: str, variants: Sequence[str], known: MetricKeys) -> str | None:
    """What is wrong with a target's ``<variant>.<path>`` for a scenario, or None: the variant must
    be one of ``variants``, and the path must lead through :class:`VariantMetrics` to a number."""
    variant, _, rest = path.partition(".")
    if variant not in variants:
        return f"'{variant}' names no variant; use one of {', '.join(variants)}"
    tp: Any = VariantMetrics
    place: list[str] = []  # the path so far, a map's keys as '*'
    shown: list[str] = [variant]
    for part in rest.split("."):
        here = ".".join(place)
        if here in known.free or tp is Any:
            return None
        tp = _options(tp)
        rule = known.rules.get(here)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            fields = list(tp.model_fields)
            kept = _kept_type(tp)
            if part in fields:
                name = ".".join([*place, part])
                if name in known.absent:
                    return f"'{'.'.join([*shown, part])}': {known.absent[name]}"
                tp, place = tp.model_fields[part].annotation, [*place, part]
            elif kept is not None and rule is not None and part in rule.keys:
                tp, place = kept, [*place, "*"]
            else:
                others = fields + (sorted(rule.keys) if kept is not None and rule is not None else [])
                return f"'{'.'.join(shown)}' has no '{part}'; use one of {', '.join(others)}"
        elif typing.get_origin(tp) is dict:
            if rule is not None and part not in rule.keys:
                have = ", ".join(sorted(rule.keys)) or "none"
                return f"'{'.'.join(shown)}' has no '{part}' in this scenario ({rule.what}: {have})"
            tp, place = typing.get_args(tp)[1], [*place, "*"]
        elif typing.get_origin(tp) is list:
            return f"'{'.'.join(shown)}' is a list: a target can address only named figures"
        else:
            return f"'{'.'.join(shown)}' is a single figure: nothing is below it"
        shown.append(part)
    last = _options(tp)
    if ".".join(place) in known.free or last is Any or _is_number(last):
        return None
    if (isinstance(last, type) and issubclass(last, BaseModel)) or typing.get_origin(last) in (dict, list):
        return f"'{path}' is a group of figures, not one: name one below it"
    return f"'{path}' is not a number (a {getattr(last, '__name__', last)}): a target compares numbers"
