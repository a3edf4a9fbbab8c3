"""Shape checks on a collection validator's ``$jsonSchema``, so a malformed one fails at load.

The server's ``$jsonSchema`` parser refuses ``create`` (TypeMismatch 14, FailedToParse 9) when a
keyword has the wrong type, and that only shows at bring-up, after every process has started.
The usual cause is YAML: in a flow mapping an unquoted comma ends a value, so
``{description: tenant identifier, required}`` makes ``required`` a key with a null value.
Checked here: no keyword is null, ``required`` is a non-empty list of strings, ``properties`` /
``patternProperties`` map names to schemas, and every subschema (``items``, ``allOf``, ``not``,
...) is itself checked. Keyword *values* such as an ``enum`` list may hold nulls: only a
keyword's own value is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Keywords whose value maps names to subschemas.
_SCHEMA_MAPS = ("properties", "patternProperties")
#: Keywords whose value is a list of subschemas.
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_NULL_HINT = (
    "has no value (null); in a YAML flow mapping an unquoted comma ends the value, "
    "so 'description: a, b' makes 'b' a key: quote the text"
)


def validator_problem(validator: Mapping[str, Any]) -> str | None:
    """The first problem in ``validator``'s ``$jsonSchema`` as ``<path> <what is wrong>``, or None.
    A validator of query operators (no ``$jsonSchema``) is not a schema and is not walked."""
    if "$jsonSchema" not in validator:
        return None
    return _schema_problem(validator["$jsonSchema"], "$jsonSchema")


def _schema_problem(schema: Any, path: str) -> str | None:
    if not isinstance(schema, Mapping):
        return f"{path} must be a schema (a mapping), got {schema!r}"
    for key, value in schema.items():
        problem = _keyword_problem(str(key), value, f"{path}.{key}")
        if problem is not None:
            return problem
    return None


def _keyword_problem(key: str, value: Any, where: str) -> str | None:
    if value is None:
        return f"{where} {_NULL_HINT}"
    if key == "required":
        if not _names(value):
            return f"{where} must be a non-empty list of field names, got {value!r}"
        return None
    if key in _SCHEMA_MAPS or key == "dependencies":
        if not isinstance(value, Mapping):
            return f"{where} must be a mapping of field name to schema, got {value!r}"
        for name, sub in value.items():
            if key == "dependencies" and isinstance(sub, list):  # a property dependency: names
                if not _names(sub):
                    return f"{where}.{name} must be a non-empty list of field names, got {sub!r}"
                continue
            problem = _schema_problem(sub, f"{where}.{name}")
            if problem is not None:
                return problem
        return None
    if key in _SCHEMA_LISTS or (key == "items" and isinstance(value, list)):
        if not isinstance(value, list) or not value:
            return f"{where} must be a non-empty list of schemas, got {value!r}"
        for i, sub in enumerate(value):
            problem = _schema_problem(sub, f"{where}.{i}")
            if problem is not None:
                return problem
        return None
    if key in ("additionalProperties", "additionalItems") and isinstance(value, bool):
        return None
    if key in ("not", "items", "additionalProperties", "additionalItems"):
        return _schema_problem(value, where)
    return None


def _names(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)
