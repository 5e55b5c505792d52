"""Jinja2 filters of Tragen deploy: thin calls into ``tragen_runtime``.

    {{ '4GB' | tragen_size_to_bytes }}                     -> 4294967296
    {{ 4294967296 | tragen_bytes_to_size }}                -> '4GB'
    {{ 100 | tragen_allocate_resources({'avg_profit_factor': 1.2}) }}
    {{ tragen_config.cpu_scaling.multi_process | tragen_gunicorn_workers(ansible_processor_vcpus) }}
    {{ '64GB' | tragen_postgresql_memory(ansible_memtotal_mb * 1048576) }}
    {{ tragen_config | tragen_validate_config }}           -> ['location: message', ...]
    {{ tragen_config | tragen_stage_requirements(tragen_stage) }}
    {{ {'groups': groups, 'hostvars': hostvars} | tragen_check_inventory(tragen_config) }}
    {{ tragen_config | tragen_config_notice_summary(inventory_dir) }}  -> ['N keys ... ']
    {{ source_digest | tragen_release_id(documents) }}     -> 'r1a2b3c4d5e-9f8e7d6c'
    {{ tragen_config | tragen_monitoring_files(inventory) }}  -> rules, prometheus.yml, ...

Problems come back as ``"location: message"`` strings, ready for an ``assert``'s message.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

try:
    import tragen_runtime.config  # noqa: F401  (probe: is the package importable?)
except ImportError:  # ansible runs from the venv, where the package may not be installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ansible.errors import AnsibleFilterError

from tragen_runtime import release, sizing
from tragen_runtime.config import (
    Problem,
    check_inventory,
    check_stage_requirements,
    notices,
    validate_document,
)
from tragen_runtime.config.inventory_checks import HOST_VARS
from tragen_runtime.config.notices import gate_summary
from tragen_runtime.monitoring import files as monitoring


def plain(value: Any) -> Any:
    """Ansible's (tagged, lazy) containers and strings as plain Python data."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, Mapping):
        return {
            str(key) if isinstance(key, str) else key: plain(item) for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def _lines(problems: list[Problem]) -> list[str]:
    return [str(problem) for problem in problems]


def size_to_bytes(text: str) -> int:
    try:
        return sizing.parse_size(plain(text))
    except ValueError as error:
        raise AnsibleFilterError(f"tragen_size_to_bytes: {error}") from error


def bytes_to_size(size: int) -> str:
    try:
        return sizing.format_size(int(size))
    except (TypeError, ValueError) as error:
        raise AnsibleFilterError(f"tragen_bytes_to_size: {error}") from error


def allocate_resources(
    agent_count: int, performance_history: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    history = plain(performance_history) or {"avg_profit_factor": 1.0}
    return sizing.allocate_resources(int(agent_count), history)


def gunicorn_workers(profile: Mapping[str, Any], host_cores: int) -> dict[str, int]:
    return sizing.gunicorn_workers(plain(profile), int(host_cores))


def postgresql_memory(
    memory_limit: str, host_memory_bytes: int | None = None, max_connections: int = 100
) -> dict[str, str]:
    try:
        host = None if host_memory_bytes is None else int(host_memory_bytes)
        return sizing.postgresql_memory(plain(memory_limit), host, int(max_connections))
    except ValueError as error:
        raise AnsibleFilterError(f"tragen_postgresql_memory: {error}") from error


def validate_config(doc: Any) -> list[str]:
    return _lines(validate_document(plain(doc)))


def stage_requirements(doc: Any, stage: str) -> list[str]:
    return _lines(check_stage_requirements(plain(doc), str(stage)))


def config_notice_summary(doc: Any, inventory: str,
                          groups: Mapping[str, Any] | None = None) -> list[str]:
    """The gate's short form of the notes: keys not acted on counted per section; with the
    inventory's ``groups``, those only an empty group's hosts act on too."""
    return gate_summary(notices(plain(doc), plain(groups) if groups is not None else None),
                        str(plain(inventory)))


def check_inventory_filter(inventory: Mapping[str, Any], doc: Any) -> list[str]:
    """``inventory`` holds Ansible's ``groups`` and ``hostvars``; only the variables the
    checks read are fetched from the (lazy, templated) hostvars."""
    groups = plain(inventory.get("groups") or {})
    raw_hostvars = inventory.get("hostvars") or {}
    hosts = {host for members in groups.values() for host in members}
    hostvars = {}
    for host in hosts:
        try:
            values = raw_hostvars[host]
        except KeyError:
            continue
        hostvars[host] = {name: plain(values[name]) for name in HOST_VARS if name in values}
    return _lines(check_inventory({"groups": groups, "hostvars": hostvars}, plain(doc) or {}))


def release_id(source_digest: str, documents: Any) -> str:
    """``documents``: every app server's rendered configuration (a list of mappings)."""
    docs = plain(documents)
    wrong = [d for d in docs if not isinstance(d, Mapping)] if isinstance(docs, list) else [docs]
    try:
        if wrong:  # a mapping given for the list would be read key by key
            raise TypeError("documents must be a list of mappings, found a "
                            f"{type(wrong[0]).__name__}")
        return release.release_id(str(plain(source_digest)).strip(), release.config_digest(docs))
    except (TypeError, ValueError) as error:
        raise AnsibleFilterError(f"tragen_release_id: {error}") from error


def monitoring_files(doc: Any, inventory: Mapping[str, Any]) -> dict[str, Any]:
    """``inventory``: groups, addresses, ports, stage, auth and notifier, as
    ``tragen_runtime.monitoring.files.monitoring_files`` takes them."""
    args = plain(inventory)
    try:
        return monitoring.monitoring_files(plain(doc) or {}, **args)
    except (KeyError, TypeError, ValueError) as error:
        raise AnsibleFilterError(f"tragen_monitoring_files: {error!r}") from error


def missing_channels(doc: Any, endpoints: Mapping[str, Any]) -> list[str]:
    return monitoring.missing_channels(plain(doc) or {}, plain(endpoints) or {})


class FilterModule:
    """Ansible's entry point."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "tragen_size_to_bytes": size_to_bytes,
            "tragen_bytes_to_size": bytes_to_size,
            "tragen_allocate_resources": allocate_resources,
            "tragen_gunicorn_workers": gunicorn_workers,
            "tragen_postgresql_memory": postgresql_memory,
            "tragen_validate_config": validate_config,
            "tragen_stage_requirements": stage_requirements,
            "tragen_check_inventory": check_inventory_filter,
            "tragen_config_notice_summary": config_notice_summary,
            "tragen_release_id": release_id,
            "tragen_monitoring_files": monitoring_files,
            "tragen_monitoring_missing_channels": missing_channels,
        }
