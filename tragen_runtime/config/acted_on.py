"""Answers from the key registry: which entry speaks for a path, and which keys of a document
nothing acts on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .keypaths import KeyPath, generalised, parse, prefix_rank, render
from .problem import Problem
from .registry import ABSENT, REGISTRY, Entry, IgnoredWhen, NotActedOn, Value

NOT_ACTED_ON = "not acted on in this release"


@dataclass(frozen=True)
class Match:
    """The entry that answers for ``path`` (the asked path, or a key below it)."""

    path: KeyPath
    entry: Entry


@lru_cache(maxsize=1)
def _patterns() -> tuple[tuple[KeyPath, Entry], ...]:
    return tuple((parse(entry.path), entry) for entry in REGISTRY)


def lookup(path: KeyPath) -> tuple[Match, ...]:
    """The entry of the key at ``path``, or, for a section or map, the entries of every key
    below it (in registry order); empty when the registry knows nothing there.

    The most literal entry wins: ``...total_loss.threshold`` answers for that breaker and
    ``...*.threshold`` for every other."""
    candidates = [
        (rank, pattern, entry)
        for pattern, entry in _patterns()
        if (rank := prefix_rank(pattern, path)) is not None
    ]
    if not candidates:
        return ()
    best = max(rank for rank, _, _ in candidates)
    for rank, pattern, entry in candidates:
        if rank == best and len(pattern) == len(path):
            return (Match(path, entry),)
    below: dict[KeyPath, tuple[tuple[int, ...], Entry]] = {}
    for _, pattern, entry in candidates:
        if len(pattern) == len(path):
            continue  # a wildcard key beside a more literal map (agent_pools.* and its pools)
        key = (*path, *pattern[len(path) :])
        rank = prefix_rank(pattern, key)
        assert rank is not None  # the pattern matched the prefix and the rest is its own
        if key not in below or rank > below[key][0]:
            below[key] = (rank, entry)
    return tuple(Match(key, entry) for key, (_, entry) in below.items())


def is_key(path: KeyPath, matches: Sequence[Match]) -> bool:
    """Whether ``lookup(path)`` answered for the key itself (not for keys below it)."""
    return len(matches) == 1 and matches[0].path == path


def ignored_reason(entry: Entry, parent: Mapping[str, Any],
                   empty_groups: frozenset[str] = frozenset()) -> str | None:
    """Why nothing acts on this key in its mapping ``parent``, with no host in the inventory
    groups ``empty_groups``; None when something does."""
    if isinstance(entry, NotActedOn):
        return entry.reason
    if entry.needs_group is not None and entry.needs_group in empty_groups:
        return (f"the inventory has no {entry.needs_group} host, so nothing in this stage "
                f"acts on it ({entry.needs_group} hosts do)")
    condition = entry.ignored_when
    if condition is not None and _holds(condition, parent):
        return f"while {condition.sibling} is {describe_values(condition)}: {condition.reason}"
    return None


def describe_values(condition: IgnoredWhen) -> str:
    """``sqlite``, ``false or absent``: the sibling values that make the key ignored."""
    return " or ".join(_value_text(value) for value in condition.values)


def _value_text(value: Value) -> str:
    if value is ABSENT:
        return "absent"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def _holds(condition: IgnoredWhen, parent: Mapping[str, Any]) -> bool:
    value = parent.get(condition.sibling, ABSENT)
    # type-strict: a sibling of 0 is not "false", 1.0 is not "1"
    return any(type(value) is type(want) and value == want for want in condition.values)


def not_acted_on(doc: object, empty_groups: frozenset[str] = frozenset()) -> list[Problem]:
    """One note per key of ``doc`` that nothing acts on in this release, at its path (the
    items of a list count as one key, ``[*]``), in document order. ``empty_groups``: the
    inventory groups that have no host (unknown without an inventory: none)."""
    notes: dict[str, str] = {}
    if isinstance(doc, Mapping):
        _walk(doc, (), notes, empty_groups)
    return [Problem(location, f"{NOT_ACTED_ON}: {reason}") for location, reason in notes.items()]


def _walk(node: Mapping[str, Any] | list[Any], path: KeyPath, notes: dict[str, str],
          empty_groups: frozenset[str]) -> None:
    items = node.items() if isinstance(node, Mapping) else enumerate(node)
    for key, value in items:
        child = (*path, key)
        matches = lookup(child)
        if not matches:
            continue  # not a key of the schemas: validation reports it
        if is_key(child, matches):
            parent = node if isinstance(node, Mapping) else {}
            reason = ignored_reason(matches[0].entry, parent, empty_groups)
            if reason is not None:
                notes.setdefault(render(generalised(child)), reason)
        elif isinstance(value, Mapping | list):
            _walk(value, child, notes, empty_groups)

