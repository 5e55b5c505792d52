"""What ``tragen-config explain`` says: what acts on a key, or why nothing does; and the
README's table of the keys nothing acts on."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from .acted_on import NOT_ACTED_ON, Match, describe_values, is_key, lookup
from .keypaths import KeyPath, compatible, parse, render, segment_matches
from .registry import REGISTRY, ActedOn, NotActedOn
from .schema_paths import leaf_paths
from .schemas import section_keys


@dataclass(frozen=True)
class Explanation:
    """Lines for a known path (``known``), else the reason it is unknown, with a suggestion."""

    known: bool
    lines: tuple[str, ...]


def explain(text: str) -> Explanation:
    """The explanation of the key (or section, or map) at the JSON path ``text``.

    Raises ``keypaths.PathSyntaxError`` for text that is not a JSON path."""
    path = parse(text)
    if not _in_schemas(path):
        return Explanation(False, (_unknown(text, path),))
    matches = lookup(path)
    if is_key(path, matches):
        return Explanation(True, _key_lines(matches[0]))
    lines = [f"{render(path)}: {len(matches)} keys"]
    lines += [f"  {_summary(match)}" for match in matches]
    return Explanation(True, tuple(lines))


def _in_schemas(path: KeyPath) -> bool:
    """A path of a schema key, or of a section or map that holds some."""
    return any(compatible(leaf[: len(path)], path) for leaf in leaf_paths())


def _unknown(text: str, path: KeyPath) -> str:
    guess = difflib.get_close_matches(render(path), _candidates(path), n=1, cutoff=0.6)
    hint = f"did you mean {guess[0]!r}?" if guess else "`tragen-config explain '$'` lists every key"
    return f"{text}: no such key in the configuration schemas; {hint}"


def _candidates(path: KeyPath) -> list[str]:
    """Every schema path and section, and the leaves with the asked path's names put in
    for their wildcards (so ``$.caching.l1_cache.tll`` finds ``$.caching.l1_cache.ttl``)."""
    found: dict[str, None] = {}
    for leaf in leaf_paths():
        for size in range(1, len(leaf) + 1):
            found[render(leaf[:size])] = None
        if len(leaf) == len(path):
            named = tuple(
                have if segment_matches(want, have) else want
                for want, have in zip(leaf, path, strict=True)
            )
            found[render(named)] = None
    return list(found)


def _key_lines(match: Match) -> tuple[str, ...]:
    entry = match.entry
    asked = render(match.path)
    lines = [asked if asked == entry.path else f"{asked} (registry entry {entry.path})"]
    if isinstance(entry, NotActedOn):
        lines.append(f"  {NOT_ACTED_ON}: {entry.reason}")
        return tuple(lines)
    lines.append("  acted on by:")
    lines += [f"    {actor}" for actor in entry.actors]
    lines.append(f"  rule: {entry.rule}")
    lines.append(f"  default: {entry.default}")
    condition = entry.ignored_when
    if condition is not None:
        lines.append(
            f"  {NOT_ACTED_ON} while {condition.sibling} is {describe_values(condition)}: "
            f"{condition.reason}"
        )
    if entry.needs_group is not None:
        lines.append(f"  {NOT_ACTED_ON} on a stage whose inventory has no {entry.needs_group} "
                     "host")
    return tuple(lines)


def _summary(match: Match) -> str:
    entry = match.entry
    if isinstance(entry, NotActedOn):
        return f"{render(match.path)}: {NOT_ACTED_ON}: {entry.reason}"
    return f"{render(match.path)}: acted on: {entry.rule}"


@dataclass(frozen=True)
class _Row:
    section: str
    reason: str
    keys: list[str]


def not_acted_on_table() -> str:
    """A markdown table of the keys nothing acts on in this release (or only under a
    condition), by section in schema order, one row per reason."""
    rows: dict[tuple[str, str], _Row] = {}
    for section, key, reason in _unacted(REGISTRY):
        rows.setdefault((section, reason), _Row(section, reason, [])).keys.append(key)
    order = {name: index for index, name in enumerate(section_keys())}
    lines = [
        "| section | keys | why nothing acts on them |",
        "| --- | --- | --- |",
    ]
    for row in sorted(rows.values(), key=lambda row: order[row.section]):
        keys = ", ".join(f"`{key}`" for key in row.keys)
        lines.append(f"| `{row.section}` | {keys} | {row.reason} |")
    return "\n".join(lines) + "\n"


def _unacted(entries: Iterable[ActedOn | NotActedOn]) -> Iterable[tuple[str, str, str]]:
    """(section, key below the section, reason) of every entry that is not (always) acted on."""
    for entry in entries:
        path = parse(entry.path)
        section, key = str(path[0]), render(path[1:])[2:]
        if isinstance(entry, NotActedOn):
            yield section, key, entry.reason
        elif entry.ignored_when is not None:
            condition = entry.ignored_when
            yield (
                section,
                key,
                f"while `{condition.sibling}` is {describe_values(condition)}: "
                f"{condition.reason}",
            )
