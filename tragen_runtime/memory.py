"""The `memory` section at run time: garbage-collector tuning and per-agent memory checks."""

from __future__ import annotations

import gc
from collections.abc import Mapping
from typing import Any

GC_THRESHOLDS = {
    "normal": (700, 10, 10),  # CPython's defaults
    "aggressive": (300, 5, 5),  # collect young objects more often: smaller heap
    "optimized": (50_000, 20, 20),  # fewer pauses; long-lived state is frozen after start
}


def apply_gc_policy(config: Mapping[str, Any]) -> str:
    """Set the collector thresholds for `memory.gc_frequency`; returns the policy used."""
    policy = str((config.get("memory") or {}).get("gc_frequency", "normal"))
    gc.set_threshold(*GC_THRESHOLDS.get(policy, GC_THRESHOLDS["normal"]))
    if policy == "optimized":
        gc.freeze()  # objects built at start (config, specs) are never scanned again
    return policy


def agent_memory_check(config: Mapping[str, Any], rss_bytes: int,
                       agents: int) -> dict[str, Any] | None:
    """RSS per agent of this worker against `memory.agent_memory_limit` (None if unset)."""
    from tragen_runtime.sizing import parse_size

    limit = (config.get("memory") or {}).get("agent_memory_limit")
    if not limit or agents <= 0 or rss_bytes <= 0:
        return None
    per_agent = rss_bytes // agents
    limit_bytes = parse_size(str(limit))
    return {"rss_per_agent_bytes": per_agent, "agent_memory_limit": limit,
            "within_limit": per_agent <= limit_bytes}
