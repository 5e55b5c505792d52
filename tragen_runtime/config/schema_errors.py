"""Turn jsonschema's validation errors into problems a person can act on."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, relevance

from .problem import Problem, describe, json_path

_BOUNDS = {
    "minimum": ">=",
    "maximum": "<=",
    "exclusiveMinimum": ">",
    "exclusiveMaximum": "<",
}


def schema_problems(validator: Draft202012Validator, document: object) -> list[Problem]:
    """Every schema violation of ``document``, most relevant first, without repeats."""
    problems: list[Problem] = []
    for error in sorted(validator.iter_errors(document), key=relevance):
        for problem in error_problems(error):
            if problem not in problems:
                problems.append(problem)
    return problems


def error_problems(error: ValidationError) -> Iterator[Problem]:
    """The problems one validation error stands for (several for unknown keys)."""
    path = list(error.absolute_path)
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    keyword = error.validator
    if keyword == "additionalProperties" and isinstance(error.instance, Mapping):
        yield from _unknown_keys(path, error.instance, schema)
    elif "propertyNames" in error.relative_schema_path:
        key = error.instance
        yield Problem(
            json_path([*path, key]),
            f"expected a key that is {_expected(schema, 'a valid name')}, found {key!r}",
        )
    elif keyword in ("anyOf", "oneOf"):
        yield from _alternatives(error, path, schema)
    else:
        yield Problem(json_path(path), _message(error, schema))


def _unknown_keys(
    path: Sequence[object], instance: Mapping[Any, Any], schema: Mapping[str, Any]
) -> Iterator[Problem]:
    known = [str(key) for key in schema.get("properties", {})]
    patterns = schema.get("patternProperties", {})
    for key in instance:
        if key in known or _matches_any(key, patterns):
            continue
        message = unknown_key_message(str(key), known, schema.get("description"))
        yield Problem(json_path([*path, key]), message)


def unknown_key_message(key: str, known: Sequence[str], hint: object = None) -> str:
    """``unknown key 'max_agent'; did you mean 'max_agents'?`` (or the keys allowed here)."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"unknown key {key!r}; did you mean {close[0]!r}?"
    if known:
        return f"unknown key {key!r}; expected one of: {', '.join(known)}"
    if hint:
        return f"unknown key {key!r}; expected {hint}"
    return f"unknown key {key!r}"


def _matches_any(key: object, patterns: Mapping[str, Any]) -> bool:
    return isinstance(key, str) and any(re.search(pattern, key) for pattern in patterns)


def _alternatives(
    error: ValidationError, path: Sequence[object], schema: Mapping[str, Any]
) -> Iterator[Problem]:
    """Unpack an anyOf/oneOf: report the branch the value nearly fits, else list the choices."""
    if not error.context:  # a oneOf the value satisfies more than once
        yield Problem(json_path(path), error.message)
        return
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context or ():
        index = sub.relative_schema_path[0]
        if isinstance(index, int):
            branches.setdefault(index, []).append(sub)
    near = [
        errors
        for errors in branches.values()
        if not all(sub.validator == "type" and not sub.relative_path for sub in errors)
    ]
    if near:
        best = min(near, key=lambda errors: min(relevance(sub) for sub in errors))
        for sub in sorted(best, key=relevance):
            yield from error_problems(sub)
        return
    options = schema.get(str(error.validator), [])
    choices = [_expected(option, _type_text(option)) for option in options]
    yield Problem(
        json_path(path), f"expected {' or '.join(choices)}, found {describe(error.instance)}"
    )


def _message(error: ValidationError, schema: Mapping[str, Any]) -> str:
    keyword = error.validator
    found = describe(error.instance)
    value = error.validator_value
    if keyword == "required":
        missing = _missing_key(error)
        note = ""
        if "then" in error.relative_schema_path and schema.get("description"):
            note = f" ({schema['description']})"
        return f"expected a key {missing!r}{note}, found none"
    if keyword == "type":
        return f"expected {_expected(schema, _type_text(schema))}, found {found}"
    if keyword in _BOUNDS:
        return (
            f"expected {_expected(schema, f'a number {_BOUNDS[keyword]} {value}')}, found {found}"
        )
    if keyword in ("enum", "const"):
        allowed = list(value) if keyword == "enum" else [value]
        text = f"expected one of {', '.join(repr(item) for item in allowed)}, found {found}"
        if isinstance(error.instance, str):
            close = difflib.get_close_matches(
                error.instance, [str(item) for item in allowed], n=1, cutoff=0.6
            )
            if close:
                text += f"; did you mean {close[0]!r}?"
        return text
    if keyword == "pattern":
        return f"expected {_expected(schema, f'a string matching {value}')}, found {found}"
    if keyword == "format":
        return f"expected {_expected(schema, f'a valid {value}')}, found {found}"
    if keyword == "minItems":
        return f"expected at least {value} item(s), found {_count(error.instance)}"
    if keyword == "uniqueItems":
        return f"expected items without repeats, found {_repeats(error.instance)}"
    if keyword == "minLength":
        return f"expected a string of at least {value} character(s), found {found}"
    return f"{error.message}"


def _expected(schema: Mapping[str, Any], fallback: str) -> str:
    description = schema.get("description")
    return str(description) if description else fallback


def _type_text(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(str(item) for item in kind)
    if kind is None and "enum" in schema:
        return "one of " + ", ".join(repr(item) for item in schema["enum"])
    return str(kind)


def _missing_key(error: ValidationError) -> str:
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    required: Iterable[Any] = error.validator_value or ()
    for key in required:
        if key not in instance:
            return str(key)
    return str(error.message)


def _count(instance: object) -> int:
    return len(instance) if isinstance(instance, list) else 0


def _repeats(instance: object) -> str:
    if not isinstance(instance, list):
        return describe(instance)
    seen: list[object] = []
    for item in instance:
        if item in seen:
            return f"{describe(item)} more than once"
        seen.append(item)
    return "a repeated item"
