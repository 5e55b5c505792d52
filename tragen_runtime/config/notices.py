"""Notes for the operator about a valid configuration: what the toolkit makes of a value
the guide writes but the deploy does not provide literally, and every key nothing acts on in
this release (the key registry). Not problems; nothing fails."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .acted_on import NOT_ACTED_ON, not_acted_on
from .problem import Problem


def notices(doc: object, groups: Mapping[str, Sequence[str]] | None = None) -> list[Problem]:
    """Notes on a document, each at the value it is about: the load balancer's, then the
    keys not acted on in document order. With the inventory's ``groups``, a key that only the
    hosts of an empty group act on (monitoring) is not acted on either."""
    notes: list[Problem] = []
    balancing = doc.get("load_balancing") if isinstance(doc, Mapping) else None
    if isinstance(balancing, Mapping) and balancing.get("type") == "nginx_plus":
        notes.append(
            Problem(
                "$.load_balancing.type",
                "nginx_plus is deployed as open-source nginx: health checks are passive "
                "(an app server is taken out after failed requests, max_fails/fail_timeout) "
                "plus the deploy's own /readyz checks, not NGINX Plus active probes",
            )
        )
    empty = frozenset(name for name, hosts in (groups or {}).items() if not hosts)
    if groups is not None:
        empty |= frozenset({"monitoring"} - set(groups))
    return notes + not_acted_on(doc, empty)


def gate_summary(notes: list[Problem], inventory: str) -> list[str]:
    """What the deploy gate shows of the notes: each note in full except the keys not acted on,
    which are counted per section (a hundred lines before every playbook would bury the rest);
    `tragen-config check` lists each with its reason."""
    lines = [f"{note.location}: {note.message}" for note in notes
             if not note.message.startswith(NOT_ACTED_ON)]
    per_section: dict[str, int] = {}
    for note in notes:
        if note.message.startswith(NOT_ACTED_ON):
            section = note.location.removeprefix("$.").split(".")[0].split("[")[0]
            per_section[section] = per_section.get(section, 0) + 1
    if per_section:
        counts = ", ".join(f"{section} {count}" for section, count in per_section.items())
        lines.append(
            f"{sum(per_section.values())} keys are accepted but nothing acts on them in this "
            f"release ({counts}): tragen-config check {inventory} lists each with the reason"
        )
    return lines
