"""The record every check returns: where the problem is and what it is."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Problem:
    """One problem of a configuration.

    ``location`` is a JSON path such as ``$.portfolio_risk.emergency_procedures`` (or
    ``line 3, column 5`` for a syntax error, ``inventory.groups.lb`` for an inventory);
    ``message`` says what was expected and what was found.
    """

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


def json_path(parts: Iterable[object], root: str = "$") -> str:
    """Render a path of keys and indexes: ``$.a.b[0]``, ``$.agent_templates['x.yaml']``."""
    path = root
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            path += f"[{part}]"
        elif isinstance(part, str) and _IDENTIFIER.match(part):
            path += f".{part}"
        else:
            path += f"[{str(part)!r}]"
    return path


def describe(value: object) -> str:
    """A short, readable rendering of a found value with its JSON type: ``string '4 GB'``."""
    kind = type_name(value)
    if value is None or isinstance(value, dict | list):
        return kind
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = repr(value)
    else:
        text = str(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{kind} {text}"


def type_name(value: object) -> str:
    """The JSON name of a Python value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return type(value).__name__
