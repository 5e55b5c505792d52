"""Notes for the operator about a valid configuration: what the toolkit makes of a value
the guide writes but the deploy does not provide literally, and every key nothing acts on in
this release (the key registry). Not problems; nothing fails."""

from __future__ import annotations

from collections.abc import Mapping

from .acted_on import not_acted_on
from .problem import Problem


def notices(doc: object) -> list[Problem]:
    """Notes on a document, each at the value it is about: the load balancer's, then the
    keys not acted on in document order."""
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
    return notes + not_acted_on(doc)
