"""The four growth stages of the scaling guide and what a deploy of each needs.

Validity (``validate_document``) says a document can be read; a deploy needs more: the
sections a stage runs on must be there. These are the guide's stages:

==========  =====================  ==================================  ================
stage       database               also needs                          host groups
==========  =====================  ==================================  ================
single      sqlite or none         production, agents                  app_servers
small       sqlite or none         production, agents                  app_servers
medium      postgresql[_cluster]   production, agents, load_balancing  + db_primary, lb
enterprise  postgresql[_cluster]   ... and servers                     + db_replicas, cache
==========  =====================  ==================================  ================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .problem import Problem, json_path


@dataclass(frozen=True)
class Stage:
    """What one stage needs; host sizes are the guide's lower bounds per app server."""

    name: str
    sections: tuple[str, ...]
    database_types: tuple[str | None, ...]
    groups: tuple[str, ...]
    host_cores: int
    host_memory_gb: int
    cpu_profile: str


_SERVER_DATABASES: tuple[str | None, ...] = ("postgresql", "postgresql_cluster")

STAGES: Mapping[str, Stage] = MappingProxyType(
    {
        "single": Stage(
            name="single",
            sections=("production", "agents"),
            database_types=("sqlite", None),
            groups=("app_servers",),
            host_cores=2,
            host_memory_gb=4,
            cpu_profile="single_process",
        ),
        "small": Stage(
            name="small",
            sections=("production", "agents"),
            database_types=("sqlite", None),
            groups=("app_servers",),
            host_cores=4,
            host_memory_gb=16,
            cpu_profile="single_process",
        ),
        "medium": Stage(
            name="medium",
            sections=("production", "agents", "database", "load_balancing"),
            database_types=_SERVER_DATABASES,
            groups=("app_servers", "db_primary", "lb"),
            host_cores=16,
            host_memory_gb=64,
            cpu_profile="multi_process",
        ),
        "enterprise": Stage(
            name="enterprise",
            sections=("production", "agents", "database", "load_balancing", "servers"),
            database_types=_SERVER_DATABASES,
            groups=("app_servers", "db_primary", "db_replicas", "cache", "lb"),
            host_cores=32,
            host_memory_gb=128,
            cpu_profile="distributed",
        ),
    }
)


def unknown_stage(stage: object, location: str) -> Problem:
    return Problem(location, f"expected a stage of {', '.join(STAGES)}, found {stage!r}")


def check_stage_requirements(doc: object, stage: str) -> list[Problem]:
    """What a deploy of ``stage`` needs beyond a valid document: its sections, and a
    database type the stage's hosts provide."""
    profile = STAGES.get(stage)
    if profile is None:
        return [unknown_stage(stage, "stage")]
    sections: Mapping[str, Any] = doc if isinstance(doc, Mapping) else {}
    problems = [
        Problem(json_path((name,)), f"stage {stage!r} needs a {name!r} section; found none")
        for name in profile.sections
        if name not in sections
    ]
    database = sections.get("database")
    kind = database.get("type") if isinstance(database, Mapping) else None
    if "database" in sections and kind not in profile.database_types:
        wanted = " or ".join(str(item) for item in profile.database_types if item)
        problems.append(
            Problem(
                json_path(("database", "type")),
                f"stage {stage!r} expects a {wanted} database, found {kind!r}",
            )
        )
    return problems
