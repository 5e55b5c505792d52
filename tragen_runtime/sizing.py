"""Sizing arithmetic shared by the runtime, the planner and the Ansible filters.

Pure functions: sizes written as in the guide ("4GB"), the guide's ``allocate_resources``,
gunicorn worker counts from a ``cpu_scaling`` profile, PostgreSQL memory settings and the
connection budget of all app pools against ``max_connections``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tragen_runtime.config.problem import Problem

UNITS: Mapping[str, int] = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB)\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes in a size such as "4GB", "500MB" or "1.5GB" (1024-based)."""
    match = _SIZE.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"expected a size such as '4GB' or '500MB' (units B, KB, MB, GB, TB), found {text!r}"
        )
    amount, unit = match.groups()
    return int(float(amount) * UNITS[unit.upper()])


def format_size(size: int) -> str:
    """The largest unit that writes ``size`` bytes as a whole number: 4294967296 -> "4GB"."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"expected a whole number of bytes of at least 0, found {size!r}")
    for unit, factor in reversed(list(UNITS.items())):
        if size and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B"


def allocate_resources(agent_count: int, performance_history: Mapping[str, Any]) -> dict[str, Any]:
    """The guide's "Intelligent resource allocation", arithmetic unchanged."""
    base_resources: dict[str, Any] = {
        "cpu_cores": max(2, agent_count // 10),
        "memory_gb": max(4, agent_count * 0.1),
        "storage_gb": max(20, agent_count * 0.5),
    }
    if performance_history["avg_profit_factor"] > 1.5:
        base_resources["cpu_cores"] *= 1.2
        base_resources["memory_gb"] *= 1.3
    return base_resources


def max_workers(host_cores: int) -> int:
    """gunicorn's ceiling for a host: 2 * cores + 1."""
    return 2 * max(1, host_cores) + 1


def gunicorn_workers(profile: Mapping[str, Any], host_cores: int) -> dict[str, int]:
    """Workers and threads per worker for one app server from a ``cpu_scaling`` profile.

    ``single_process``/``multi_process`` name ``workers`` and ``threads_per_worker``;
    ``distributed`` names ``workers_per_server`` (one thread each). The count is kept
    between 1 and 2 * host_cores + 1.
    """
    wanted = profile.get("workers_per_server", profile.get("workers", 1))
    threads = profile.get("threads_per_worker", 1)
    workers = max(1, min(int(wanted), max_workers(host_cores)))
    return {"workers": workers, "threads": max(1, int(threads))}


def postgresql_memory(
    memory_limit: str, host_memory_bytes: int | None = None, max_connections: int = 100
) -> dict[str, str]:
    """PostgreSQL memory settings for a memory limit such as "64GB", capped to the host.

    shared_buffers 25%, effective_cache_size 75%, maintenance_work_mem 1/16 (at most 2GB),
    work_mem what is left after shared_buffers shared by 3 sorts per connection (at least
    4MB, PostgreSQL's default). Values are written in MB.
    """
    total = parse_size(memory_limit)
    if host_memory_bytes is not None:
        total = min(total, host_memory_bytes)
    mib = UNITS["MB"]
    shared_buffers = total // 4
    work_mem = max(4 * mib, (total - shared_buffers) // (3 * max(1, max_connections)))
    maintenance = min(2 * UNITS["GB"], total // 16)
    return {
        "shared_buffers": f"{max(1, shared_buffers // mib)}MB",
        "effective_cache_size": f"{max(1, total * 3 // 4 // mib)}MB",
        "work_mem": f"{work_mem // mib}MB",
        "maintenance_work_mem": f"{max(1, maintenance // mib)}MB",
    }


def pool_budget(
    app_servers: int, workers: int, pool_max: int, max_connections: int, reserved: int = 10
) -> Problem | None:
    """A problem when every app worker's full pool plus ``reserved`` (superuser, backups,
    replication) needs more connections than PostgreSQL's ``max_connections``."""
    needed = app_servers * workers * pool_max
    if needed + reserved <= max_connections:
        return None
    return Problem(
        "$.database.max_connections",
        f"expected at least {needed + reserved} connections ({app_servers} app servers x "
        f"{workers} workers x pool of {pool_max} + {reserved} reserved), "
        f"found max_connections {max_connections}",
    )
