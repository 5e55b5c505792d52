"""Checks of an inventory against the configuration it deploys (kubespray-style: refuse a
bad plan before any host is touched).

``inventory`` is ``{"groups": {group: [host, ...]}, "hostvars": {host: {var: value}}}``,
the shape of Ansible's ``groups`` and ``hostvars`` and of ``inventory.read_inventory``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..monitoring.files import missing_channels
from .problem import Problem
from .stages import STAGES, unknown_stage

GROUPS = ("app_servers", "db_primary", "db_replicas", "cache", "lb", "monitoring")
ADDRESS_VAR = "tragen_private_address"
STAGE_VAR = "tragen_stage"
SENTINEL_VAR = "tragen_redis_sentinel_count"
PLACEHOLDER = "CHANGE_ME"
SECRET_VARS = (
    "tragen_admin_token",
    "tragen_db_password",
    "tragen_db_replication_password",
    "tragen_monitoring_password",
    "tragen_redis_password",
    "tragen_redis_sentinel_password",
)
CHANNELS_VAR = "tragen_monitoring_channels"
SANDBOX_VAR = "tragen_sandbox"
# The host variables these checks read (a caller holding lazy hostvars fetches only these).
HOST_VARS = (ADDRESS_VAR, STAGE_VAR, SENTINEL_VAR, CHANNELS_VAR, SANDBOX_VAR, *SECRET_VARS)


def check_inventory(inventory: Mapping[str, Any], doc: Mapping[str, Any]) -> list[Problem]:
    """Every problem of an inventory for the configuration ``doc`` it deploys."""
    groups = _groups(inventory.get("groups"))
    hostvars = inventory.get("hostvars") or {}
    hosts = _unique(host for group in GROUPS for host in groups.get(group, []))
    host_vars = {host: _vars(hostvars, host) for host in hosts}
    stage, problems = _stage(host_vars)
    problems += _group_problems(stage, groups, doc)
    problems += _address_problems(host_vars)
    problems += _collapse(_secret_findings(groups, host_vars, doc))
    problems += _collapse(_sentinel_findings(host_vars))
    problems += _collapse(_channel_findings(groups, host_vars, doc))
    return problems


def _groups(raw: object) -> dict[str, list[str]]:
    if not isinstance(raw, Mapping):
        return {}
    return {
        str(name): [str(host) for host in members] if isinstance(members, Iterable) else []
        for name, members in raw.items()
    }


def _vars(hostvars: Any, host: str) -> Mapping[str, Any]:
    try:
        values = hostvars[host]
    except (KeyError, TypeError):
        return {}
    return values if isinstance(values, Mapping) else {}


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _stage(host_vars: Mapping[str, Mapping[str, Any]]) -> tuple[str | None, list[Problem]]:
    location = f"inventory.vars.{STAGE_VAR}"
    stages = _unique(str(values[STAGE_VAR]) for values in host_vars.values() if STAGE_VAR in values)
    if not stages:
        return None, [Problem(location, f"expected {STAGE_VAR} ({', '.join(STAGES)}), found none")]
    if len(stages) > 1:
        return None, [Problem(location, f"expected one stage for all hosts, found {stages}")]
    if stages[0] not in STAGES:
        return None, [unknown_stage(stages[0], location)]
    return stages[0], []


def _group_problems(
    stage: str | None, groups: Mapping[str, list[str]], doc: Mapping[str, Any]
) -> list[Problem]:
    problems: list[Problem] = []
    required = STAGES[stage].groups if stage else ()
    for group in required:
        if not groups.get(group):
            problems.append(
                Problem(
                    f"inventory.groups.{group}",
                    f"stage {stage!r} needs at least one host in {group!r}, found none",
                )
            )
    database = doc.get("database") if isinstance(doc, Mapping) else None
    is_cluster = isinstance(database, Mapping) and database.get("type") == "postgresql_cluster"
    if is_cluster and "db_replicas" not in required and not groups.get("db_replicas"):
        problems.append(
            Problem(
                "inventory.groups.db_replicas",
                "a postgresql_cluster database needs at least one replica host, found none",
            )
        )
    app_servers = groups.get("app_servers", [])
    kind = database.get("type") if isinstance(database, Mapping) else None
    if kind in (None, "sqlite") and len(app_servers) > 1:
        # A SQLite database is a file on one host: each app server would keep its own agents
        # and trades, and a rolling update would migrate only one of them.
        problems.append(
            Problem(
                "inventory.groups.app_servers",
                f"a sqlite database serves one app server, found {len(app_servers)}: "
                f"{', '.join(app_servers)}; use a postgresql database (stage medium) "
                "or one app server",
            )
        )
    primaries = groups.get("db_primary", [])
    if len(primaries) > 1:
        problems.append(
            Problem(
                "inventory.groups.db_primary",
                f"expected exactly one host, found {len(primaries)}: {', '.join(primaries)}",
            )
        )
    return problems


def _address_problems(host_vars: Mapping[str, Mapping[str, Any]]) -> list[Problem]:
    problems: list[Problem] = []
    owners: dict[str, str] = {}
    for host, values in host_vars.items():
        location = f"inventory.hosts.{host}.{ADDRESS_VAR}"
        raw = values.get(ADDRESS_VAR)
        if raw in (None, ""):
            problems.append(Problem(location, "expected the host's private address, found none"))
            continue
        try:
            address = ipaddress.ip_address(str(raw))
        except ValueError:
            problems.append(Problem(location, f"expected an IP address, found {raw!r}"))
            continue
        if address.is_unspecified or str(address) == "127.0.0.1":
            problems.append(
                Problem(
                    location,
                    f"expected an address of this host alone (services bind to it), "
                    f"found {address}",
                )
            )
        first = owners.setdefault(str(address), host)
        if first != host:
            problems.append(
                Problem(location, f"expected an address of its own, found {address} of {first}")
            )
    return problems


Finding = tuple[str, str, str]  # host, variable, message


def _secret_findings(
    groups: Mapping[str, list[str]],
    host_vars: Mapping[str, Mapping[str, Any]],
    doc: Mapping[str, Any],
) -> Iterator[Finding]:
    for secret, holders in _needed_secrets(groups, host_vars, doc).items():
        for host in _unique(host for group in holders for host in groups.get(group, [])):
            value = host_vars.get(host, {}).get(secret)
            if value in (None, ""):
                yield host, secret, "expected a secret, found none"
            elif isinstance(value, str) and value.startswith(PLACEHOLDER):
                yield host, secret, f"expected a real secret, found the placeholder {value!r}"


def _needed_secrets(
    groups: Mapping[str, list[str]],
    host_vars: Mapping[str, Mapping[str, Any]],
    doc: Mapping[str, Any],
) -> dict[str, tuple[str, ...]]:
    """Secret variable -> groups whose hosts need it, for the components in use."""
    sections: Mapping[str, Any] = doc if isinstance(doc, Mapping) else {}
    database = sections.get("database")
    db_type = database.get("type") if isinstance(database, Mapping) else None
    caching = sections.get("caching")
    runtime = sections.get("runtime")
    uses_redis = (
        bool(groups.get("cache"))
        or (isinstance(runtime, Mapping) and "redis" in runtime)
        or (
            isinstance(caching, Mapping)
            and any(
                isinstance(level, Mapping) and level.get("type") == "redis"
                for level in caching.values()
            )
        )
    )
    needed: dict[str, tuple[str, ...]] = {"tragen_admin_token": ("app_servers",)}
    if db_type in ("postgresql", "postgresql_cluster") or groups.get("db_primary"):
        needed["tragen_db_password"] = ("app_servers", "db_primary", "db_replicas")
    if db_type == "postgresql_cluster" or groups.get("db_replicas"):
        needed["tragen_db_replication_password"] = ("db_primary", "db_replicas")
    if groups.get("monitoring"):
        needed["tragen_monitoring_password"] = ("monitoring",)
    if uses_redis:
        needed["tragen_redis_password"] = ("app_servers", "cache")
    if uses_redis and _uses_sentinel(runtime, host_vars):
        needed["tragen_redis_sentinel_password"] = ("app_servers", "cache")
    return needed


def _uses_sentinel(runtime: object, host_vars: Mapping[str, Mapping[str, Any]]) -> bool:
    redis = runtime.get("redis") if isinstance(runtime, Mapping) else None
    if isinstance(redis, Mapping) and "sentinel" in redis:
        return True
    counts = (values.get(SENTINEL_VAR) for values in host_vars.values())
    return any(isinstance(count, int) and count > 0 for count in counts)


def _sentinel_findings(host_vars: Mapping[str, Mapping[str, Any]]) -> Iterator[Finding]:
    for host, values in host_vars.items():
        if SENTINEL_VAR not in values:
            continue
        count = values[SENTINEL_VAR]
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            yield host, SENTINEL_VAR, f"expected a whole number of at least 0, found {count!r}"
        elif count > 0 and count % 2 == 0:
            yield (
                host,
                SENTINEL_VAR,
                (f"expected an odd number of sentinels (a quorum needs a majority), found {count}"),
            )


def _channel_findings(
    groups: Mapping[str, list[str]],
    host_vars: Mapping[str, Mapping[str, Any]],
    doc: Mapping[str, Any],
) -> Iterator[Finding]:
    """Every channel the escalation levels notify has a webhook URL on the monitoring hosts
    (the sandbox's recorder stands in for all of them)."""
    for host in groups.get("monitoring", []):
        values = host_vars.get(host, {})
        if values.get(SANDBOX_VAR) is True:
            continue
        channels = values.get(CHANNELS_VAR)
        endpoints = channels if isinstance(channels, Mapping) else {}
        for channel in missing_channels(doc if isinstance(doc, Mapping) else {}, endpoints):
            found = endpoints.get(channel)
            yield (host, f"{CHANNELS_VAR}.{channel}",
                   "expected the channel's webhook URL (http or https), "
                   + (f"found {found!r}" if found else "found none"))


def _collapse(findings: Iterable[Finding]) -> list[Problem]:
    """One problem per (variable, message), at its first host, naming the others: a secret
    set for the whole group is reported once, not once per host."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for host, variable, message in findings:
        grouped.setdefault((variable, message), []).append(host)
    problems = []
    for (variable, message), hosts in grouped.items():
        also = f" (also on {', '.join(hosts[1:])})" if len(hosts) > 1 else ""
        problems.append(Problem(f"inventory.hosts.{hosts[0]}.{variable}", message + also))
    return problems
