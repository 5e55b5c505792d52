"""JSON paths of configuration keys, with the key registry's wildcards.

Concrete paths are written as ``problem.json_path`` writes them (``$.a.b``, ``$.a[0]``,
``$.agent_templates['x.yaml']``); a registry path may also hold ``.*`` (any key of a map) and
``[*]`` (any item of a list). A path is a tuple of segments: a key (str), an index (int) or a
``Wildcard``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from enum import Enum

from .problem import json_path


class Wildcard(Enum):
    """A segment of a registry path that stands for many."""

    ANY_KEY = ".*"
    ANY_ITEM = "[*]"


ANY_KEY = Wildcard.ANY_KEY
ANY_ITEM = Wildcard.ANY_ITEM

Segment = str | int | Wildcard
KeyPath = tuple[Segment, ...]

_DOT_KEY = re.compile(r"\.([^.\[\]'\"*][^.\[\]]*)")
_INDEX = re.compile(r"\[(\d+)\]")
_QUOTED = re.compile(r"\[('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\]")


class PathSyntaxError(ValueError):
    """Text that is not a JSON path of a configuration key."""


def parse(text: str) -> KeyPath:
    """The segments of ``$.a.b``, ``$.a[0]``, ``$.a['x.yaml']``, ``$.a.*`` or ``$.a[*]``."""
    if not text.startswith("$"):
        raise PathSyntaxError(f"expected a JSON path starting with '$', found {text!r}")
    segments: list[Segment] = []
    position = 1
    while position < len(text):
        rest = text[position:]
        if rest.startswith(".*"):
            segments.append(ANY_KEY)
            position += 2
        elif rest.startswith("[*]"):
            segments.append(ANY_ITEM)
            position += 3
        elif match := _DOT_KEY.match(rest):
            segments.append(match.group(1))
            position += match.end()
        elif match := _INDEX.match(rest):
            segments.append(int(match.group(1)))
            position += match.end()
        elif match := _QUOTED.match(rest):
            segments.append(str(ast.literal_eval(match.group(1))))
            position += match.end()
        else:
            raise PathSyntaxError(
                f"expected .key, ['key'], [index], .* or [*] at character {position + 1} "
                f"of {text!r}, found {rest[:20]!r}"
            )
    return tuple(segments)


def render(path: Sequence[Segment]) -> str:
    """The text of a path; concrete parts exactly as ``problem.json_path`` writes them."""
    text = "$"
    for segment in path:
        text += segment.value if isinstance(segment, Wildcard) else json_path((segment,), "")
    return text


def segment_matches(pattern: Segment, segment: Segment) -> bool:
    """A pattern's wildcard matches a key (or an index) and the same wildcard."""
    if pattern is ANY_KEY:
        return isinstance(segment, str) or segment is ANY_KEY
    if pattern is ANY_ITEM:
        return isinstance(segment, int) or segment is ANY_ITEM
    return type(pattern) is type(segment) and pattern == segment


def prefix_rank(pattern: KeyPath, path: KeyPath) -> tuple[int, ...] | None:
    """How literally ``pattern`` starts with ``path``: 1 per segment matched by an equal
    segment, 0 per segment matched by a wildcard; None when it does not match. Ranks compare
    as tuples: the entry that is literal earliest is the most specific."""
    if len(pattern) < len(path):
        return None
    rank = []
    for want, have in zip(pattern, path, strict=False):
        if not segment_matches(want, have):
            return None
        rank.append(1 if want == have else 0)
    return tuple(rank)


def compatible(one: KeyPath, other: KeyPath) -> bool:
    """Two paths of the same length that some concrete path matches both."""
    return len(one) == len(other) and all(
        segment_matches(a, b) or segment_matches(b, a) for a, b in zip(one, other, strict=True)
    )


def generalised(path: Sequence[Segment]) -> KeyPath:
    """The path with every index replaced by ``[*]``: the items of a list are one key."""
    return tuple(
        ANY_ITEM if isinstance(segment, int) and not isinstance(segment, bool) else segment
        for segment in path
    )
