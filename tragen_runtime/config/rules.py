"""Rules of config-sections.md that types alone cannot say.

Each rule reads the document defensively (values of the wrong type are the schema's to
report) and yields problems located at the key to look at. ``rule_problems`` runs them all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from tragen_runtime.agents import build_agents
from tragen_runtime.monitoring import catalog
from tragen_runtime.safety import diversification
from tragen_runtime.safety.config import DEFAULT_ACTIONS

from .problem import Problem, json_path

Path = tuple[object, ...]
Rule = Callable[[Mapping[str, Any]], Iterator[Problem]]

# KPIs where a smaller figure is better (latency, error rates, drawdown, VaR, correlation,
# costs); every other KPI of the guide is better when higher.
LOWER_IS_BETTER = frozenset(
    {
        "trade_execution_ms",
        "analysis_completion_ms",
        "api_response_ms",
        "error_rate_percentage",
        "max_drawdown_percentage",
        "var_percentage",
        "correlation_factor",
        "cost_per_trade",
    }
)

# Keys each database type takes besides ``type``.
DATABASE_KEYS: Mapping[str, tuple[str, ...]] = {
    "sqlite": ("path", "max_connections", "connection_pool"),
    "postgresql": ("host", "database", "max_connections", "connection_pool"),
    "postgresql_cluster": (
        "primary",
        "replicas",
        "database",
        "read_write_split",
        "max_connections",
        "connection_pool",
        "failover",
    ),
}

# What agents.additional_safety_checks requires: the breakers the runtime builds (the names
# circuit_breakers.schema.json allows) and every aggregate limit and emergency procedure of
# portfolio_risk.schema.json. tests/config/test_rules.py holds them to the schemas.
SAFETY_KEYS: tuple[tuple[str, str, str], ...] = (
    ("circuit_breakers", "portfolio_breakers", "total_loss"),
    ("circuit_breakers", "portfolio_breakers", "correlation_spike"),
    ("circuit_breakers", "system_breakers", "api_failure_rate"),
    ("circuit_breakers", "system_breakers", "memory_usage"),
    ("portfolio_risk", "aggregate_limits", "total_portfolio_risk"),
    ("portfolio_risk", "aggregate_limits", "daily_loss_limit"),
    ("portfolio_risk", "aggregate_limits", "monthly_loss_limit"),
    ("portfolio_risk", "emergency_procedures", "auto_halt_threshold"),
    ("portfolio_risk", "emergency_procedures", "position_reduction_threshold"),
    ("portfolio_risk", "emergency_procedures", "agent_shutdown_threshold"),
)


def rule_problems(document: object) -> list[Problem]:
    """Every rule's problems for a document (a non-mapping document has none)."""
    if not isinstance(document, Mapping):
        return []
    return [problem for rule in RULES for problem in rule(document)]


def number(value: object) -> float | None:
    """The value as a number, or None for anything else (booleans included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _mapping(document: Mapping[str, Any], *keys: object) -> Mapping[str, Any]:
    node: object = document
    for key in keys:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else {}


def _mappings(node: object, path: Path = ()) -> Iterator[tuple[Path, Mapping[str, Any]]]:
    """Every mapping in the document with its path, the document itself first."""
    if isinstance(node, Mapping):
        yield path, node
        for key, value in node.items():
            yield from _mappings(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _mappings(value, (*path, index))


def _fmt(value: float) -> str:
    return f"{value:g}"


def _ordered(
    node: Mapping[str, Any], path: Path, low: str, high: str, strict: bool
) -> Iterator[Problem]:
    """Problem at ``high`` unless node[low] < node[high] (or <= when not strict)."""
    low_value, high_value = number(node.get(low)), number(node.get(high))
    if low_value is None or high_value is None:
        return
    if high_value > low_value or (not strict and high_value == low_value):
        return
    relation = "greater than" if strict else "at least"
    yield Problem(
        json_path((*path, high)),
        f"expected a value {relation} {low} ({_fmt(low_value)}), found {_fmt(high_value)}",
    )


def min_at_most_max(document: Mapping[str, Any]) -> Iterator[Problem]:
    """Every min_X is at most its max_X, at any depth."""
    for path, node in _mappings(document):
        for key in node:
            if isinstance(key, str) and key.startswith("min_") and f"max_{key[4:]}" in node:
                yield from _ordered(node, path, key, f"max_{key[4:]}", strict=False)


def pool_within_max_connections(document: Mapping[str, Any]) -> Iterator[Problem]:
    """A numeric database connection_pool is at most max_connections."""
    yield from _ordered(
        _mapping(document, "database"),
        ("database",),
        "connection_pool",
        "max_connections",
        strict=False,
    )


def scale_thresholds_ordered(document: Mapping[str, Any]) -> Iterator[Problem]:
    """scale_up_threshold > scale_down_threshold (and the profit-factor pair), at any depth."""
    pairs = (
        ("scale_down_threshold", "scale_up_threshold"),
        ("scale_down_loss_threshold", "scale_up_profit_threshold"),
    )
    for path, node in _mappings(document):
        for low, high in pairs:
            yield from _ordered(node, path, low, high, strict=True)


def emergency_thresholds_ordered(document: Mapping[str, Any]) -> Iterator[Problem]:
    """agent_shutdown < position_reduction < auto_halt; daily loss <= monthly loss."""
    path: Path = ("portfolio_risk", "emergency_procedures")
    procedures = _mapping(document, *path)
    yield from _ordered(
        procedures, path, "agent_shutdown_threshold", "position_reduction_threshold", strict=True
    )
    yield from _ordered(
        procedures, path, "position_reduction_threshold", "auto_halt_threshold", strict=True
    )
    limits_path: Path = ("portfolio_risk", "aggregate_limits")
    yield from _ordered(
        _mapping(document, *limits_path),
        limits_path,
        "daily_loss_limit",
        "monthly_loss_limit",
        strict=False,
    )


def budgets_ordered(document: Mapping[str, Any]) -> Iterator[Problem]:
    """daily_budget <= monthly_budget; alert thresholds rise."""
    path: Path = ("cost_monitoring", "cost_alerts")
    alerts = _mapping(document, *path)
    yield from _ordered(alerts, path, "daily_budget", "monthly_budget", strict=False)
    thresholds = alerts.get("alert_thresholds")
    if not isinstance(thresholds, list):
        return
    for index in range(1, len(thresholds)):
        before, current = number(thresholds[index - 1]), number(thresholds[index])
        if before is not None and current is not None and current <= before:
            yield Problem(
                json_path((*path, "alert_thresholds", index)),
                f"expected thresholds in rising order, above {_fmt(before)}, found {_fmt(current)}",
            )


def percentage(value: object) -> float | None:
    """Turn a string such as "40%" into 40.0; None for anything else."""
    if not isinstance(value, str) or not value.endswith("%"):
        return None
    try:
        return float(value[:-1])
    except ValueError:
        return None


def allocations_within_whole(document: Mapping[str, Any]) -> Iterator[Problem]:
    """The allocations of performance pools add up to at most 100%."""
    pools = _mapping(document, "agent_pools", "performance_pools")
    shares = {
        str(name): share
        for name, pool in pools.items()
        if isinstance(pool, Mapping) and (share := percentage(pool.get("allocation"))) is not None
    }
    total = sum(shares.values())
    if total > 100:
        parts = " + ".join(f"{name} {_fmt(share)}%" for name, share in shares.items())
        yield Problem(
            json_path(("agent_pools", "performance_pools")),
            f"expected allocations adding up to at most 100%, found {_fmt(total)}% ({parts})",
        )


def kpi_targets_on_good_side(document: Mapping[str, Any]) -> Iterator[Problem]:
    """A KPI's target lies on the good side of its critical value."""
    for section in ("system_kpis", "business_kpis"):
        for group, kpis in _mapping(document, section).items():
            if not isinstance(kpis, Mapping):
                continue
            for name, kpi in kpis.items():
                if isinstance(kpi, Mapping):
                    yield from _kpi(kpi, (section, group, name), str(name))


def _kpi(kpi: Mapping[str, Any], path: Path, name: str) -> Iterator[Problem]:
    target, critical = number(kpi.get("target")), number(kpi.get("critical"))
    if target is None or critical is None:
        return
    lower = name in LOWER_IS_BETTER
    if (target > critical) if lower else (target < critical):
        side, better = ("at most", "lower") if lower else ("at least", "higher")
        yield Problem(
            json_path((*path, "target")),
            f"expected a target {side} the critical value {_fmt(critical)} "
            f"({better} is better for {name}), found {_fmt(target)}",
        )


def database_keys_fit_type(document: Mapping[str, Any]) -> Iterator[Problem]:
    """Each database type takes only its own keys (a sqlite database has no replicas)."""
    database = _mapping(document, "database")
    kind = database.get("type")
    if not isinstance(kind, str) or kind not in DATABASE_KEYS:
        return
    allowed = DATABASE_KEYS[kind]
    for key in database:
        if key != "type" and key not in allowed and _known_database_key(key):
            yield Problem(
                json_path(("database", key)),
                f"expected only keys of a {kind} database ({', '.join(allowed)}), found {key!r}",
            )


def _known_database_key(key: object) -> bool:
    # Keys no type knows are the schema's "unknown key" problem, reported once there.
    return any(key in keys for keys in DATABASE_KEYS.values())


def lease_renewed_in_time(document: Mapping[str, Any]) -> Iterator[Problem]:
    """A lease is renewed before it expires: renew_interval_seconds < ttl_seconds."""
    path: Path = ("runtime", "leases")
    leases = _mapping(document, *path)
    renew, ttl = number(leases.get("renew_interval_seconds")), number(leases.get("ttl_seconds"))
    if renew is not None and ttl is not None and renew >= ttl:
        yield Problem(
            json_path((*path, "renew_interval_seconds")),
            f"expected a value less than ttl_seconds ({_fmt(ttl)}), found {_fmt(renew)}",
        )


def diversification_within_limits(document: Mapping[str, Any]) -> Iterator[Problem]:
    """No strategy (template) and no timeframe holds more than its share of the agents.

    The agents counted are those the runtime builds from agent_pools (agents.build_agents:
    every pool at its maximum, capped by production.max_agents and agents.max_count), so the
    gate and the runtime agree. Without agent_pools nothing is judged: the runtime then takes
    the templates in turn, as even as they allow. A configuration build_agents refuses (an
    unknown pool or style, values of the wrong type) is left to the schema and the runtime.
    """
    path: Path = ("portfolio_risk", "diversification")
    limits = _mapping(document, *path)
    strategy_limit = number(limits.get(diversification.STRATEGY_KEY))
    timeframe_limit = number(limits.get(diversification.TIMEFRAME_KEY))
    if (strategy_limit is None and timeframe_limit is None) or not _has_agent_groups(document):
        return
    try:
        specs = build_agents(document, ("gate",))
        by_timeframe = diversification.counts_by_timeframe(specs)
    except (ValueError, TypeError, AttributeError, KeyError):
        return
    judged = (
        (
            diversification.STRATEGY_KEY,
            strategy_limit,
            diversification.counts_by_strategy(specs),
            diversification.pools_by_strategy(specs),
        ),
        (
            diversification.TIMEFRAME_KEY,
            timeframe_limit,
            by_timeframe,
            diversification.pools_by_timeframe(specs),
        ),
    )
    for key, limit, counts, pools in judged:
        for message in diversification.share_problems(counts, limit, key, pools):
            yield Problem(json_path((*path, key)), message)


def _has_agent_groups(document: Mapping[str, Any]) -> bool:
    """agent_pools names at least one group of agents (performance pools are not)."""
    pools = _mapping(document, "agent_pools")
    return any(
        name == "strategy_pools"
        and isinstance(value, Mapping)
        and value
        or name != "performance_pools"
        and number(value) is not None
        for name, value in pools.items()
    )


def safety_checks_configured(document: Mapping[str, Any]) -> Iterator[Problem]:
    """With agents.additional_safety_checks true, every breaker the runtime builds and every
    aggregate limit and emergency procedure is configured; each missing one is named."""
    if _mapping(document, "agents").get("additional_safety_checks") is not True:
        return
    for section, group, name in SAFETY_KEYS:
        path: Path = (section, group, name)
        if _mapping(document, section, group).get(name) is None:
            yield Problem(
                json_path(path),
                "expected it configured while agents.additional_safety_checks is true, found none",
            )


def reduction_factor_reduces(document: Mapping[str, Any]) -> Iterator[Problem]:
    """A breaker whose action halts new trades has nothing to reduce: a reduction_factor
    there would be a key nothing acts on, so the gate refuses it."""
    breakers = _mapping(document, "circuit_breakers")
    for group in ("portfolio_breakers", "system_breakers"):
        for name, breaker in _mapping(breakers, group).items():
            if not isinstance(breaker, Mapping) or "reduction_factor" not in breaker:
                continue
            action = breaker.get("action", DEFAULT_ACTIONS.get(str(name)))
            if action == "halt_new_trades":
                yield Problem(
                    json_path(("circuit_breakers", group, name, "reduction_factor")),
                    "expected no reduction_factor while action is halt_new_trades (it reduces "
                    "nothing): remove it, or set action to reduce_positions or "
                    "scale_down_agents")


def listed_metrics_exported(document: Mapping[str, Any]) -> Iterator[Problem]:
    """Every metric `metrics_collection` lists is a series something exports: Prometheus
    would record nothing for any other name, and the operator would not know."""
    collection = _mapping(document, "monitoring", "metrics_collection")
    for key, kind in (("agent_metrics", "agent"), ("system_metrics", "system")):
        names = collection.get(key)
        if not isinstance(names, list):
            continue
        known = catalog.AGENT_METRICS if kind == "agent" else catalog.SYSTEM_METRICS
        what = "an agent" if kind == "agent" else "a system"
        for index, name in enumerate(names):
            if isinstance(name, str) and name not in known:
                yield Problem(
                    json_path(("monitoring", "metrics_collection", key, index)),
                    f"expected {what} metric that the runtime or an exporter provides "
                    f"({', '.join(sorted(known))}), found {name!r}",
                )


RULES: Sequence[Rule] = (
    min_at_most_max,
    pool_within_max_connections,
    scale_thresholds_ordered,
    emergency_thresholds_ordered,
    budgets_ordered,
    allocations_within_whole,
    kpi_targets_on_good_side,
    database_keys_fit_type,
    lease_renewed_in_time,
    diversification_within_limits,
    safety_checks_configured,
    reduction_factor_reduces,
    listed_metrics_exported,
)
