"""How many gunicorn workers and threads: the config's `cpu_scaling` profile and the host."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from tragen_runtime.configsource import ConfigError
from tragen_runtime.settings import Settings


def choose_profile(config: Mapping[str, Any],
                   env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The cpu_scaling profile for this server (TRAGEN_CPU_PROFILE names one explicitly)."""
    profiles = config.get("cpu_scaling") or {}
    wanted = env.get("TRAGEN_CPU_PROFILE")
    if wanted:
        if wanted not in profiles:
            raise ConfigError(f"TRAGEN_CPU_PROFILE={wanted}: no such cpu_scaling profile "
                              f"(have {sorted(profiles)})")
        return dict(profiles[wanted])
    if len(profiles) == 1:
        return dict(next(iter(profiles.values())))
    production = config.get("production") or {}
    if production.get("distributed") and "distributed" in profiles:
        name = "distributed"
    elif int(production.get("max_agents", 5)) > 25 and "multi_process" in profiles:
        name = "multi_process"
    else:
        name = "single_process"
    return dict(profiles.get(name) or {"workers": 1, "threads_per_worker": 4})


def worker_plan(settings: Settings, host_cores: int,
                env: Mapping[str, str] = os.environ) -> dict[str, int]:
    from tragen_runtime.sizing import gunicorn_workers

    plan = dict(gunicorn_workers(choose_profile(settings.config, env), host_cores))
    if settings.concurrent_analyses:  # each worker runs one analysis at a time
        plan["workers"] = max(1, min(plan["workers"], settings.concurrent_analyses))
    plan["threads"] = max(plan["threads"], 4)  # health probes must not queue behind the API
    if env.get("TRAGEN_WORKERS"):
        plan["workers"] = int(env["TRAGEN_WORKERS"])
    if env.get("TRAGEN_THREADS"):
        plan["threads"] = int(env["TRAGEN_THREADS"])
    return plan
