"""Every leaf key the configuration schemas accept, as a registry path.

A leaf is a value that holds no further keys: a number, a string, a boolean or a list of such.
Maps of named things (``additionalProperties``/``patternProperties``) become ``.*``, lists of
mappings ``[*]``; ``$ref``s are followed into the packaged files and the branches of
``allOf``/``anyOf``/``oneOf`` are walked at the same path (an ``if`` only selects, it adds no key).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from .keypaths import ANY_ITEM, ANY_KEY, KeyPath
from .schemas import DOCUMENT_SCHEMA, load_schemas

_BRANCHES = ("allOf", "anyOf", "oneOf", "then", "else")
_VALUE_KEYWORDS = ("type", "enum", "const")


@lru_cache(maxsize=1)
def leaf_paths() -> tuple[KeyPath, ...]:
    """The leaf paths of the document schema, in schema order, each once."""
    found: list[KeyPath] = []
    _walk(load_schemas()[DOCUMENT_SCHEMA], DOCUMENT_SCHEMA, (), found)
    return tuple(dict.fromkeys(found))


def _resolve(ref: str, current: str) -> tuple[dict[str, Any], str]:
    name, _, fragment = ref.partition("#")
    name = name or current
    node: Any = load_schemas()[name]
    for part in filter(None, fragment.split("/")):
        node = node[part]
    return node, name


def _structured(node: dict[str, Any], current: str) -> bool:
    """Whether a schema (after its $ref) describes a mapping with keys of its own."""
    if "$ref" in node:
        node, current = _resolve(node["$ref"], current)
        return _structured(node, current)
    return bool(
        node.get("properties")
        or node.get("patternProperties")
        or isinstance(node.get("additionalProperties"), dict)
    )


def _walk(node: dict[str, Any], current: str, path: KeyPath, found: list[KeyPath]) -> None:
    if "$ref" in node:
        target, name = _resolve(node["$ref"], current)
        _walk(target, name, path, found)
        return
    has_keys = False
    for key, child in node.get("properties", {}).items():
        _walk(child, current, (*path, key), found)
        has_keys = True
    for child in node.get("patternProperties", {}).values():
        _walk(child, current, (*path, ANY_KEY), found)
        has_keys = True
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        _walk(extra, current, (*path, ANY_KEY), found)
        has_keys = True
    items = node.get("items")
    if isinstance(items, dict) and _structured(items, current):
        _walk(items, current, (*path, ANY_ITEM), found)
        has_keys = True
    for keyword in _BRANCHES:
        branches = node.get(keyword, [])
        for branch in branches if isinstance(branches, list) else [branches]:
            _walk(branch, current, path, found)
    if not has_keys and any(keyword in node for keyword in _VALUE_KEYWORDS):
        found.append(path)
