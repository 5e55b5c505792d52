"""Capacity and cost plan of a stage: the guide's allocation for the configured agents,
what it costs per day against the budgets, and whether the app servers can carry it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tragen_runtime.sizing import allocate_resources

from .problem import Problem
from .rules import number
from .stages import STAGES

HOURS_PER_DAY = 24
DAYS_PER_MONTH = 30


@dataclass(frozen=True)
class Host:
    """An app server and what it offers."""

    name: str
    cores: float
    memory_gb: float


@dataclass(frozen=True)
class Plan:
    """The figures of a plan, report lines for people and the problems that fail it."""

    agents: int
    resources: dict[str, Any]
    daily_cost: float | None
    lines: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def default_hosts(stage: str, count: int) -> list[Host]:
    """``count`` app servers of the stage's smallest size in the guide."""
    profile = STAGES[stage]
    return [
        Host(f"app{n}", profile.host_cores, profile.host_memory_gb) for n in range(1, count + 1)
    ]


def app_hosts(
    stage: str, groups: Mapping[str, Sequence[str]], hostvars: Mapping[str, Mapping[str, Any]]
) -> list[Host]:
    """The inventory's app servers, sized by ``tragen_host_cores``/``tragen_host_memory_gb``
    or the stage's defaults."""
    profile = STAGES[stage]
    hosts = []
    for name in groups.get("app_servers", []):
        values = hostvars.get(name, {})
        cores = number(values.get("tragen_host_cores")) or profile.host_cores
        memory = number(values.get("tragen_host_memory_gb")) or profile.host_memory_gb
        hosts.append(Host(name, cores, memory))
    return hosts


def agent_count(doc: Mapping[str, Any]) -> int | None:
    """production.max_agents, else agents.max_count."""
    for section, key in (("production", "max_agents"), ("agents", "max_count")):
        value = doc.get(section, {}).get(key) if isinstance(doc.get(section), Mapping) else None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def make_plan(
    doc: Mapping[str, Any],
    hosts: Sequence[Host],
    avg_profit_factor: float = 1.0,
    api_calls_per_day: int | None = None,
) -> Plan:
    """Plan the configured agents on ``hosts``; problems when they do not fit or the cost
    exceeds a budget."""
    agents = agent_count(doc)
    if agents is None:
        problem = Problem("$.production.max_agents", "expected the number of agents, found none")
        return Plan(0, {}, None, [], [problem])
    resources = allocate_resources(agents, {"avg_profit_factor": avg_profit_factor})
    lines = [
        f"agents: {agents} (average profit factor {avg_profit_factor:g})",
        f"resources (guide's allocate_resources): {resources['cpu_cores']:g} cores, "
        f"{resources['memory_gb']:g} GB memory, {resources['storage_gb']:g} GB storage",
    ]
    problems = _capacity(resources, hosts, lines)
    daily = _cost(doc, resources, agents, api_calls_per_day, lines, problems)
    return Plan(agents, resources, daily, lines, problems)


def _capacity(
    resources: Mapping[str, Any], hosts: Sequence[Host], lines: list[str]
) -> list[Problem]:
    cores = sum(host.cores for host in hosts)
    memory = sum(host.memory_gb for host in hosts)
    lines.append(
        f"app servers: {len(hosts)} ({', '.join(h.name for h in hosts) or 'none'}): "
        f"{cores:g} cores, {memory:g} GB memory"
    )
    problems = []
    for key, offered, unit in (("cpu_cores", cores, "cores"), ("memory_gb", memory, "GB memory")):
        needed = float(resources[key])
        if needed > offered:
            problems.append(
                Problem(
                    "inventory.groups.app_servers",
                    f"expected at least {needed:g} {unit} for the agents, found {offered:g}",
                )
            )
    lines.append("capacity: " + ("fits" if not problems else "does NOT fit"))
    return problems


def _cost(
    doc: Mapping[str, Any],
    resources: Mapping[str, Any],
    agents: int,
    api_calls_per_day: int | None,
    lines: list[str],
    problems: list[Problem],
) -> float | None:
    monitoring = doc.get("cost_monitoring")
    costs = monitoring.get("resource_costs") if isinstance(monitoring, Mapping) else None
    if not isinstance(costs, Mapping):
        lines.append("cost: no cost_monitoring.resource_costs, not checked")
        return None
    rate = {key: number(costs.get(key)) or 0.0 for key in costs}
    parts = {
        "cpu": float(resources["cpu_cores"]) * rate.get("cpu_hour", 0.0) * HOURS_PER_DAY,
        "memory": float(resources["memory_gb"]) * rate.get("memory_gb_hour", 0.0) * HOURS_PER_DAY,
        "storage": float(resources["storage_gb"])
        * rate.get("storage_gb_month", 0.0)
        / DAYS_PER_MONTH,
    }
    if api_calls_per_day is not None:
        parts["api calls"] = api_calls_per_day * rate.get("api_call", 0.0)
    daily = sum(parts.values())
    detail = ", ".join(f"{name} {value:.2f}" for name, value in parts.items())
    lines.append(f"daily cost: ${daily:.2f} ({detail})")
    if api_calls_per_day is None:
        lines.append("api calls: not counted (give --api-calls-per-day)")
    alerts = monitoring.get("cost_alerts") if isinstance(monitoring, Mapping) else None
    if isinstance(alerts, Mapping):
        _budgets(alerts, daily, agents, lines, problems)
    return daily


def _budgets(
    alerts: Mapping[str, Any], daily: float, agents: int, lines: list[str], problems: list[Problem]
) -> None:
    path = "$.cost_monitoring.cost_alerts"
    checks = (
        ("daily_budget", daily, "daily cost"),
        ("monthly_budget", daily * DAYS_PER_MONTH, f"monthly cost ({DAYS_PER_MONTH} days)"),
        ("agent_cost_limit", daily / agents if agents else 0.0, "daily cost per agent"),
    )
    for key, cost, what in checks:
        budget = number(alerts.get(key))
        if budget is None:
            continue
        lines.append(f"{key}: ${budget:g}, {what} ${cost:.2f}")
        if cost > budget:
            problems.append(
                Problem(f"{path}.{key}", f"expected {what} at most ${budget:g}, found ${cost:.2f}")
            )
    budget = number(alerts.get("daily_budget"))
    thresholds = alerts.get("alert_thresholds")
    if budget and isinstance(thresholds, list):
        fired = [f"{t:.0%}" for t in thresholds if number(t) is not None and daily >= t * budget]
        lines.append("cost alerts that would fire: " + (", ".join(fired) or "none"))
