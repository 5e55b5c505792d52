"""Validate a Tragen configuration document: schema and rules in one pass."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .parsing import read_document
from .problem import Problem, describe, json_path
from .rules import rule_problems
from .schema_errors import schema_problems
from .schemas import validator


class InvalidConfiguration(Exception):
    """A configuration file that cannot be used; ``problems`` holds every reason."""

    def __init__(self, path: str | Path, problems: Sequence[Problem]) -> None:
        self.path = str(path)
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(f"{self.path}: {problem}" for problem in self.problems)


def validate_document(doc: object) -> list[Problem]:
    """Every problem of a parsed document: schema violations (most relevant first), then
    the rules beyond types. An empty list means the document is valid."""
    if not isinstance(doc, Mapping):
        found = "an empty document" if doc is None else describe(doc)
        return [Problem("$", f"expected a mapping of sections, found {found}")]
    problems: list[Problem] = []
    document = _with_string_keys(doc, (), problems)
    problems += schema_problems(validator(), document)
    problems += [problem for problem in rule_problems(document) if problem not in problems]
    return problems


def load_document(path: str | Path) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Parse and validate a YAML or JSON file.

    Returns the document (None when it cannot be parsed or is not a mapping) and every
    problem found. An unreadable file raises OSError.
    """
    doc, problems = read_document(path)
    if problems:
        return None, problems
    return (dict(doc) if isinstance(doc, Mapping) else None), validate_document(doc)


def load_valid_config(path: str | Path) -> dict[str, Any]:
    """The document of a valid configuration file; InvalidConfiguration otherwise."""
    doc, problems = load_document(path)
    if problems or doc is None:
        raise InvalidConfiguration(path, problems)
    return doc


def _with_string_keys(node: object, path: tuple[object, ...], problems: list[Problem]) -> Any:
    """A copy whose mapping keys are all strings; other keys are reported (YAML allows
    ``1: x`` or ``yes: x``, JSON Schema and the runtime do not)."""
    if isinstance(node, Mapping):
        copy: dict[str, Any] = {}
        for key, value in node.items():
            if not isinstance(key, str):
                problems.append(
                    Problem(json_path((*path, key)), f"expected a text key, found {describe(key)}")
                )
            copy[str(key)] = _with_string_keys(value, (*path, key), problems)
        return copy
    if isinstance(node, list):
        return [
            _with_string_keys(item, (*path, index), problems) for index, item in enumerate(node)
        ]
    return node
