"""Parse a configuration file's text into a document, with syntax errors located."""

from __future__ import annotations

import json
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

from .problem import Problem


class _DuplicateKeyError(yaml.MarkedYAMLError):
    """A mapping names the same key twice: one value would be dropped silently."""


class StrictSafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses a key written twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Hashable] = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key in seen:
                raise _DuplicateKeyError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found key {key!r} a second time",
                    key_node.start_mark,
                )
            if isinstance(key, Hashable):
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


StrictSafeLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, StrictSafeLoader.construct_mapping
)


def parse_text(text: str, name: str = "") -> tuple[object, list[Problem]]:
    """Parse YAML (or JSON, for a name ending in .json). Returns (document, problems)."""
    if name.endswith(".json"):
        return _parse_json(text)
    return _parse_yaml(text)


def read_document(path: str | Path) -> tuple[object, list[Problem]]:
    """Read and parse a file. OSError propagates: an unreadable file is the caller's usage
    error, not a problem of the configuration."""
    source = Path(path)
    data = source.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        return None, [Problem(f"byte {error.start}", "expected UTF-8 text, found other bytes")]
    return parse_text(text, source.name)


def _parse_json(text: str) -> tuple[object, list[Problem]]:
    try:
        return json.loads(text), []
    except json.JSONDecodeError as error:
        return None, [
            Problem(f"line {error.lineno}, column {error.colno}", f"invalid JSON: {error.msg}")
        ]


def _parse_yaml(text: str) -> tuple[object, list[Problem]]:
    try:
        return yaml.load(text, Loader=StrictSafeLoader), []
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "$"
        what = error.problem or str(error)
        context = f" ({error.context})" if error.context else ""
        kind = "duplicate key" if isinstance(error, _DuplicateKeyError) else "invalid YAML"
        return None, [Problem(where, f"{kind}: {what}{context}")]
    except yaml.YAMLError as error:
        return None, [Problem("$", f"invalid YAML: {error}")]
