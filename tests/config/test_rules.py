"""Every rule of config-sections.md: a configuration that breaks it is refused, and the
problem names the offending value's JSON path."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tragen_runtime.config import Problem, validate_document

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "guide"


def section(fixture: str) -> Any:
    return yaml.safe_load((FIXTURES / fixture).read_text(encoding="utf-8"))


# The guide's pools put 50 of 80 agents in scalping, against its own 30 % per strategy (see
# test_the_guide_pools_break_the_guide_limits); this document spreads its 100 agents over five
# strategies instead: 20 each, 40 intraday, 40 over days, 20 over weeks.
DIVERSE_TEMPLATES = {
    "momentum_template.yaml": {
        "personality": {"risk_tolerance": 6, "analysis_style": "scalper", "max_trades_per_day": 30}
    },
    "trend_template.yaml": {
        "personality": {
            "risk_tolerance": 3,
            "analysis_style": "swing_trader",
            "max_trades_per_day": 3,
        }
    },
}


def diverse_pools() -> dict[str, Any]:
    pools = section("agent_pools_1.yaml")
    pools["strategy_pools"]["scalping"]["max_agents"] = 20
    pools["strategy_pools"]["swing_trading"]["max_agents"] = 20
    return {"conservative": 20, "momentum": 20, "trend": 20, **pools}


def guide_document() -> dict[str, Any]:
    """A valid document with every section of the guide (its pools spread over five
    strategies, so that they meet its diversification limits)."""
    enterprise = section("enterprise.yaml")
    return {
        "production": {**section("medium_deployment.yaml")["production"], "distributed": True},
        "monitoring": {
            **section("single_agent.yaml")["monitoring"],
            **section("monitoring_config_1.yaml"),
        },
        "agent_pools": diverse_pools(),
        "database": section("database_config_3.yaml"),
        "load_balancing": enterprise["load_balancing"],
        "servers": enterprise["servers"],
        "agents": section("environments.yaml")["production.yaml"]["agents"],
        "agent_templates": {**section("agent_templates.yaml"), **DIVERSE_TEMPLATES},
        "memory": section("memory_config_3.yaml"),
        "cpu_scaling": section("cpu_scaling_1.yaml"),
        "caching": section("caching_config_1.yaml"),
        "api": section("api_config_1.yaml"),
        "portfolio_risk": section("portfolio_risk_1.yaml"),
        "circuit_breakers": section("circuit_breaker_scaling_1.yaml"),
        "auto_scaling": section("auto_scaling_1.yaml"),
        "cost_monitoring": section("cost_monitoring_1.yaml"),
        "system_kpis": section("system_kpis_1.yaml"),
        "business_kpis": section("business_kpis_1.yaml"),
        "runtime": {
            "release_id": "20261127-0400",
            "environment": "staging",
            "market": {"source": "simulator", "seed": 7, "symbols": ["AAPL"], "tick_interval": 1},
            "broker": {"fee_rate": 0.001, "slippage_bps": 2, "live_adapter": None},
            "redis": {
                "host": "cache1.internal",
                "port": 6379,
                "user": "tragen",
                "db": 0,
                "sentinel": {"master_name": "tragen", "hosts": ["127.0.3.1:26379"]},
            },
            "database": {"port": 5432, "user": "tragen", "replica_max_lag_seconds": 5},
            "leases": {"ttl_seconds": 30, "renew_interval_seconds": 10},
            "http": {"bind": "127.0.1.1:8000"},
        },
    }


def broken(path: str, value: Any) -> dict[str, Any]:
    """The guide document with the value at ``a.b.c`` replaced (or a key added)."""
    document = copy.deepcopy(guide_document())
    *parents, last = path.split(".")
    node: Any = document
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return document


def locations(problems: list[Problem]) -> list[str]:
    return [problem.location for problem in problems]


def test_the_guide_document_is_valid() -> None:
    assert validate_document(guide_document()) == []


# (path to change, new value, expected problem location, words the message must hold)
CASES: list[tuple[str, Any, str, str]] = [
    # fractions of capital, usage, correlation lie in [0, 1]
    (
        "portfolio_risk.aggregate_limits.total_portfolio_risk",
        2,
        "$.portfolio_risk.aggregate_limits.total_portfolio_risk",
        "fraction between 0 and 1",
    ),
    (
        "portfolio_risk.diversification.correlation_limits",
        -0.1,
        "$.portfolio_risk.diversification.correlation_limits",
        "found number -0.1",
    ),
    (
        "circuit_breakers.system_breakers.memory_usage.threshold",
        1.5,
        "$.circuit_breakers.system_breakers.memory_usage.threshold",
        "fraction",
    ),
    (
        "auto_scaling.cpu_scaling.scale_up_threshold",
        80,
        "$.auto_scaling.cpu_scaling.scale_up_threshold",
        "found integer 80",
    ),
    (
        "portfolio_risk.emergency_procedures.auto_halt_threshold",
        "10%",
        "$.portfolio_risk.emergency_procedures.auto_halt_threshold",
        "found string '10%'",
    ),
    # percentages written as strings lie in 0-100%
    (
        "agent_pools.performance_pools.testing.allocation",
        "120%",
        "$.agent_pools.performance_pools.testing.allocation",
        '"0%" and "100%"',
    ),
    (
        "agent_pools.performance_pools.testing.allocation",
        0.2,
        "$.agent_pools.performance_pools.testing.allocation",
        "found number 0.2",
    ),
    # sizes are strings such as "4GB"
    ("production.memory_limit", "64 gigabytes", "$.production.memory_limit", 'such as "4GB"'),
    ("memory.shared_cache", 8, "$.memory.shared_cache", "found integer 8"),
    ("caching.l1_cache.size", "0GB", "$.caching.l1_cache.size", "positive size"),
    ("memory.agent_memory_limit", "25PB", "$.memory.agent_memory_limit", "B, KB, MB, GB, TB"),
    # durations, counts, sizes and connection numbers are positive
    (
        "circuit_breakers.portfolio_breakers.total_loss.cooldown",
        0,
        "$.circuit_breakers.portfolio_breakers.total_loss.cooldown",
        "greater than 0",
    ),
    ("monitoring.check_interval", -30, "$.monitoring.check_interval", "found integer -30"),
    ("production.max_agents", 0, "$.production.max_agents", "greater than 0"),
    (
        "api.connection_pools.database.max_connections",
        -1,
        "$.api.connection_pools.database.max_connections",
        "connections greater than 0",
    ),
    ("database.connection_pool", 0, "$.database.connection_pool", "greater than 0"),
    ("database.connection_pool", "50", "$.database.connection_pool", "or a boolean"),
    ("agent_pools.conservative", -3, "$.agent_pools.conservative", "count of agents"),
    (
        "agent_pools.strategy_pool",
        {},
        "$.agent_pools.strategy_pool",
        "mappings go under strategy_pools or performance_pools",
    ),
    # every min is at most its max
    (
        "agent_pools.strategy_pools.scalping.min_agents",
        60,
        "$.agent_pools.strategy_pools.scalping.max_agents",
        "at least min_agents (60)",
    ),
    (
        "auto_scaling.cpu_scaling.min_instances",
        12,
        "$.auto_scaling.cpu_scaling.max_instances",
        "at least min_instances (12)",
    ),
    (
        "api.connection_pools.external_apis.min_connections",
        51,
        "$.api.connection_pools.external_apis.max_connections",
        "min_connections (51)",
    ),
    ("database.connection_pool", 500, "$.database.max_connections", "connection_pool (500)"),
    # scaling thresholds are ordered
    (
        "auto_scaling.cpu_scaling.scale_down_threshold",
        0.9,
        "$.auto_scaling.cpu_scaling.scale_up_threshold",
        "greater than scale_down_threshold",
    ),
    (
        "auto_scaling.memory_scaling.scale_up_threshold",
        0.4,
        "$.auto_scaling.memory_scaling.scale_up_threshold",
        "found 0.4",
    ),
    (
        "auto_scaling.agent_scaling.scale_down_loss_threshold",
        1.3,
        "$.auto_scaling.agent_scaling.scale_up_profit_threshold",
        "scale_down_loss_threshold",
    ),
    # emergency thresholds are ordered; daily <= monthly
    (
        "portfolio_risk.emergency_procedures.auto_halt_threshold",
        0.04,
        "$.portfolio_risk.emergency_procedures.auto_halt_threshold",
        "greater than position_reduction_threshold (0.05)",
    ),
    (
        "portfolio_risk.emergency_procedures.agent_shutdown_threshold",
        0.06,
        "$.portfolio_risk.emergency_procedures.position_reduction_threshold",
        "agent_shutdown_threshold (0.06)",
    ),
    (
        "portfolio_risk.aggregate_limits.daily_loss_limit",
        0.2,
        "$.portfolio_risk.aggregate_limits.monthly_loss_limit",
        "daily_loss_limit (0.2)",
    ),
    (
        "cost_monitoring.cost_alerts.daily_budget",
        3000,
        "$.cost_monitoring.cost_alerts.monthly_budget",
        "daily_budget (3000)",
    ),
    (
        "cost_monitoring.cost_alerts.alert_thresholds",
        [0.9, 0.7, 1.0],
        "$.cost_monitoring.cost_alerts.alert_thresholds[1]",
        "rising order",
    ),
    # performance pool allocations add up to at most 100%
    (
        "agent_pools.performance_pools.testing.allocation",
        "70%",
        "$.agent_pools.performance_pools",
        "found 110%",
    ),
    # KPI targets lie on the good side of the critical value
    (
        "system_kpis.throughput.trades_per_second",
        {"target": 40, "critical": 50},
        "$.system_kpis.throughput.trades_per_second.target",
        "at least the critical value 50",
    ),
    (
        "system_kpis.latency.api_response_ms",
        {"target": 300, "critical": 200},
        "$.system_kpis.latency.api_response_ms.target",
        "at most the critical value 200",
    ),
    (
        "system_kpis.reliability.uptime_percentage",
        {"target": 98, "critical": 99},
        "$.system_kpis.reliability.uptime_percentage.target",
        "higher is better",
    ),
    (
        "system_kpis.reliability.error_rate_percentage",
        {"target": 2, "critical": 1},
        "$.system_kpis.reliability.error_rate_percentage.target",
        "lower is better",
    ),
    (
        "business_kpis.profitability.sharpe_ratio",
        {"target": 0.5, "critical": 0.8},
        "$.business_kpis.profitability.sharpe_ratio.target",
        "higher is better",
    ),
    (
        "business_kpis.risk_management.max_drawdown_percentage",
        {"target": 20, "critical": 15},
        "$.business_kpis.risk_management.max_drawdown_percentage.target",
        "lower is better",
    ),
    (
        "business_kpis.risk_management.var_percentage",
        {"target": 6, "critical": 5},
        "$.business_kpis.risk_management.var_percentage.target",
        "lower",
    ),
    (
        "business_kpis.risk_management.correlation_factor",
        {"target": 0.9, "critical": 0.8},
        "$.business_kpis.risk_management.correlation_factor.target",
        "lower",
    ),
    (
        "business_kpis.efficiency.cost_per_trade",
        {"target": 12, "critical": 10},
        "$.business_kpis.efficiency.cost_per_trade.target",
        "lower",
    ),
    (
        "business_kpis.efficiency.resource_utilization",
        {"target": 40, "critical": 50},
        "$.business_kpis.efficiency.resource_utilization.target",
        "higher",
    ),
    # closed sets
    (
        "circuit_breakers.portfolio_breakers.correlation_spike.action",
        "liquidate_all",
        "$.circuit_breakers.portfolio_breakers.correlation_spike.action",
        "'halt_new_trades'",
    ),
    (
        "monitoring.alerting.escalation_levels.1.notify",
        ["email", "pager"],
        "$.monitoring.alerting.escalation_levels[1].notify[1]",
        "found string 'pager'",
    ),
    (
        "cpu_scaling.multi_process.load_balancing",
        "random",
        "$.cpu_scaling.multi_process.load_balancing",
        "'least_conn'",
    ),
    (
        "load_balancing.strategy",
        "round-robin",
        "$.load_balancing.strategy",
        "did you mean 'round_robin'?",
    ),
    ("database.type", "mysql", "$.database.type", "'postgresql_cluster'"),
    ("caching.l2_cache.type", "memcached", "$.caching.l2_cache.type", "'redis'"),
    ("load_balancing.type", "haproxy", "$.load_balancing.type", "'nginx_plus'"),
    # runtime section
    (
        "runtime.leases.renew_interval_seconds",
        30,
        "$.runtime.leases.renew_interval_seconds",
        "less than ttl_seconds (30)",
    ),
    (
        "runtime.market.source",
        "csv",
        "$.runtime.market",
        "expected a key 'csv_dir' (a csv market source needs csv_dir), found none",
    ),
    ("runtime.broker.fee_rate", 1.5, "$.runtime.broker.fee_rate", "fraction"),
    ("runtime.redis.sentinel.hosts", ["cache1"], "$.runtime.redis.sentinel.hosts[0]", "host:port"),
    ("runtime.redis.port", 70000, "$.runtime.redis.port", "65535"),
    ("runtime.http.bind", "8000", "$.runtime.http.bind", "bind address"),
    # formats are checked (host names)
    ("database.primary", "db primary!", "$.database.primary", "host name"),
]


@pytest.mark.parametrize(("path", "value", "location", "words"), CASES)
def test_rule_is_enforced(path: str, value: Any, location: str, words: str) -> None:
    problems = validate_document(broken(path, value))
    assert location in locations(problems), problems
    message = next(p.message for p in problems if p.location == location)
    assert words in message, message


@pytest.mark.parametrize(
    ("style", "risk", "location"),
    [
        ("daytrader", 5, "$.agent_templates['scalping_template.yaml'].personality.analysis_style"),
        ("scalper", 11, "$.agent_templates['scalping_template.yaml'].personality.risk_tolerance"),
        ("scalper", 0, "$.agent_templates['scalping_template.yaml'].personality.risk_tolerance"),
    ],
)
def test_template_personality_is_checked(style: str, risk: int, location: str) -> None:
    document = guide_document()
    document["agent_templates"]["scalping_template.yaml"]["personality"].update(
        analysis_style=style, risk_tolerance=risk
    )
    assert location in locations(validate_document(document))


def test_nginx_plus_is_accepted() -> None:
    assert validate_document({"load_balancing": {"type": "nginx_plus"}}) == []


def test_connection_pool_is_a_number_or_a_boolean() -> None:
    for pool in (50, True, False):
        document = {
            "database": {"type": "postgresql", "host": "db.internal", "connection_pool": pool}
        }
        assert validate_document(document) == []


@pytest.mark.parametrize(
    ("path", "key", "location", "suggestion"),
    [
        ("production", "max_agent", "$.production.max_agent", "did you mean 'max_agents'?"),
        (
            "portfolio_risk.emergency_procedures",
            "auto_halt_treshold",
            "$.portfolio_risk.emergency_procedures.auto_halt_treshold",
            "did you mean 'auto_halt_threshold'?",
        ),
        (
            "monitoring.alerting.escalation_levels.0",
            "notfy",
            "$.monitoring.alerting.escalation_levels[0].notfy",
            "did you mean 'notify'?",
        ),
        (
            "runtime.redis.sentinel",
            "master",
            "$.runtime.redis.sentinel.master",
            "did you mean 'master_name'?",
        ),
        ("caching", "l1_cahce", "$.caching.l1_cahce", "expected cache levels l1_cache, l2_cache"),
        (
            "system_kpis.latency",
            "api_respons_ms",
            "$.system_kpis.latency.api_respons_ms",
            "did you mean 'api_response_ms'?",
        ),
    ],
)
def test_unknown_keys_are_refused_at_any_depth(
    path: str, key: str, location: str, suggestion: str
) -> None:
    problems = validate_document(broken(f"{path}.{key}", 1))
    assert location in locations(problems), problems
    assert suggestion in next(p.message for p in problems if p.location == location)


def test_unknown_section_gets_a_suggestion() -> None:
    problems = validate_document({"monitorin": {"check_interval": 30}})
    assert problems == [
        Problem("$.monitorin", "unknown key 'monitorin'; did you mean 'monitoring'?")
    ]


def test_database_keys_must_fit_the_type() -> None:
    document = {"database": {"type": "sqlite", "path": "tragen.db", "replicas": ["db2.internal"]}}
    assert locations(validate_document(document)) == ["$.database.replicas"]


def test_database_type_needs_its_keys() -> None:
    problems = validate_document({"database": {"type": "postgresql_cluster", "primary": "db1"}})
    assert problems == [
        Problem(
            "$.database",
            "expected a key 'replicas' (a postgresql_cluster needs its primary and replicas), "
            "found none",
        )
    ]


def test_every_problem_is_reported_in_one_run() -> None:
    document = broken("production.max_agent", 5)
    document["production"]["memory_limit"] = "lots"
    document["portfolio_risk"]["emergency_procedures"]["auto_halt_threshold"] = 0.01
    document["system_kpis"]["latency"]["api_response_ms"] = {"target": 900, "critical": 200}
    document["agent_pools"]["performance_pools"]["testing"]["allocation"] = "90%"
    document["circuit_breakers"]["system_breakers"]["memory_usage"]["action"] = "panic"
    assert set(locations(validate_document(document))) == {
        "$.production.max_agent",
        "$.production.memory_limit",
        "$.portfolio_risk.emergency_procedures.auto_halt_threshold",
        "$.system_kpis.latency.api_response_ms.target",
        "$.agent_pools.performance_pools",
        "$.circuit_breakers.system_breakers.memory_usage.action",
    }


# -- diversification and agents.additional_safety_checks ------------------------------------

STRATEGY = "$.portfolio_risk.diversification.max_agents_per_strategy"
TIMEFRAME = "$.portfolio_risk.diversification.max_agents_per_timeframe"


def inventory_config(stage: str) -> Any:
    path = REPO / "inventories" / stage / "group_vars" / "all" / "tragen.yml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))["tragen_config"]


REPO = Path(__file__).resolve().parents[2]


def test_pools_above_the_shares_are_refused_with_the_figures() -> None:
    document = guide_document()  # the medium stage's pools before they were rebalanced
    document["agent_pools"] = {"scalping": 50, "swing_trading": 30, "conservative": 20}
    problems = [p for p in validate_document(document) if p.location in (STRATEGY, TIMEFRAME)]
    assert problems == [
        Problem(
            STRATEGY,
            "expected at most 30 of 100 agents per strategy (max_agents_per_strategy 30 %), "
            "found scalping_template with 50 (50 %, pool scalping)",
        ),
        Problem(
            TIMEFRAME,
            "expected at most 40 of 100 agents per timeframe (max_agents_per_timeframe 40 %), "
            "found intraday with 50 (50 %, pool scalping)",
        ),
    ]


def test_a_share_at_the_limit_passes_and_one_agent_more_does_not() -> None:
    document = guide_document()
    document["agent_pools"] = {"scalping": 30, "swing_trading": 30, "conservative": 30,
                               "momentum": 10}  # fmt: skip
    assert validate_document(document) == []  # 30 % per strategy, 40 % intraday: at the limits
    # one conservative agent more; production.max_agents (100) leaves the last pool 9
    document["agent_pools"]["conservative"] = 31
    assert validate_document(document) == [
        Problem(
            STRATEGY,
            "expected at most 30 of 100 agents per strategy (max_agents_per_strategy 30 %), "
            "found conservative_template with 31 (31 %, pool conservative)",
        )
    ]


def test_pools_of_one_template_are_one_strategy_and_timeframes_span_templates() -> None:
    document = guide_document()
    # aggressive and scalping both take the first scalper template: one strategy of 40
    document["agent_pools"] = {"scalping": 20, "aggressive": 20, "momentum": 20, "trend": 20,
                               "conservative": 20}  # fmt: skip
    problems = [p for p in validate_document(document) if p.location in (STRATEGY, TIMEFRAME)]
    assert problems == [
        Problem(
            STRATEGY,
            "expected at most 30 of 100 agents per strategy (max_agents_per_strategy 30 %), "
            "found scalping_template with 40 (40 %, pools scalping, aggressive)",
        ),
        Problem(
            TIMEFRAME,
            "expected at most 40 of 100 agents per timeframe (max_agents_per_timeframe 40 %), "
            "found intraday with 60 (60 %, pools scalping, aggressive, momentum)",
        ),
    ]


def test_the_counts_are_the_agents_the_runtime_builds() -> None:
    document = guide_document()
    # standby agents beyond production.max_agents are not built, so they do not count: the
    # cap leaves 10 of the 30 standby agents, shared in proportion (3 scalping, 7 swing)
    document["production"]["max_agents"] = 85
    document["agents"]["max_count"] = 85
    assert [p for p in validate_document(document) if p.location in (STRATEGY, TIMEFRAME)] == []
    document["agent_pools"]["strategy_pools"]["scalping"]["auto_scale"] = False
    document["agent_pools"]["momentum"] = 45  # 45 of 85 is over; 10 base scalpers
    assert STRATEGY in locations(validate_document(document))


def test_the_guide_pools_break_the_guide_limits() -> None:
    """The guide's own pool blocks and its own diversification limits disagree."""
    document = guide_document()
    document["agent_pools"] = {"conservative": 10, **section("agent_pools_1.yaml")}
    document["agent_templates"] = section("agent_templates.yaml")
    problems = [p for p in validate_document(document) if p.location in (STRATEGY, TIMEFRAME)]
    assert [p.location for p in problems] == [STRATEGY, TIMEFRAME]
    assert "found scalping_template with 50 (62.5 %, pool scalping)" in problems[0].message


def test_without_pools_or_limits_nothing_is_judged() -> None:
    document = guide_document()
    del document["agent_pools"]
    assert validate_document(document) == []
    only_limits = {"portfolio_risk": section("portfolio_risk_1.yaml")}
    assert validate_document(only_limits) == []
    no_limits = {"agent_pools": {"scalping": 50, "conservative": 1}}
    assert validate_document(no_limits) == []


@pytest.mark.parametrize("stage", ["medium", "enterprise"])
def test_the_rebalanced_stages_pass(stage: str) -> None:
    assert validate_document(inventory_config(stage)) == []


def test_safety_checks_need_every_breaker_and_limit() -> None:
    document = guide_document()
    assert document["agents"]["additional_safety_checks"] is True
    del document["circuit_breakers"]["system_breakers"]["memory_usage"]
    del document["circuit_breakers"]["portfolio_breakers"]
    del document["portfolio_risk"]["aggregate_limits"]["total_portfolio_risk"]
    del document["portfolio_risk"]["emergency_procedures"]
    message = "expected it configured while agents.additional_safety_checks is true, found none"
    assert validate_document(document) == [
        Problem(f"$.circuit_breakers.{path}", message)
        for path in (
            "portfolio_breakers.total_loss",
            "portfolio_breakers.correlation_spike",
            "system_breakers.memory_usage",
        )
    ] + [
        Problem(f"$.portfolio_risk.{path}", message)
        for path in (
            "aggregate_limits.total_portfolio_risk",
            "emergency_procedures.auto_halt_threshold",
            "emergency_procedures.position_reduction_threshold",
            "emergency_procedures.agent_shutdown_threshold",
        )
    ]


@pytest.mark.parametrize("checks", [False, None])
def test_without_safety_checks_breakers_are_optional(checks: bool | None) -> None:
    document = guide_document()
    del document["circuit_breakers"]
    if checks is None:
        del document["agents"]["additional_safety_checks"]
    else:
        document["agents"]["additional_safety_checks"] = checks
    assert validate_document(document) == []


def test_safety_checks_alone_name_every_missing_key() -> None:
    problems = validate_document({"agents": {"additional_safety_checks": True}})
    assert [p.location for p in problems] == [
        "$.circuit_breakers.portfolio_breakers.total_loss",
        "$.circuit_breakers.portfolio_breakers.correlation_spike",
        "$.circuit_breakers.system_breakers.api_failure_rate",
        "$.circuit_breakers.system_breakers.memory_usage",
        "$.portfolio_risk.aggregate_limits.total_portfolio_risk",
        "$.portfolio_risk.aggregate_limits.daily_loss_limit",
        "$.portfolio_risk.aggregate_limits.monthly_loss_limit",
        "$.portfolio_risk.emergency_procedures.auto_halt_threshold",
        "$.portfolio_risk.emergency_procedures.position_reduction_threshold",
        "$.portfolio_risk.emergency_procedures.agent_shutdown_threshold",
    ]


def test_the_safety_keys_are_the_schemas_names() -> None:
    from tragen_runtime.config.rules import SAFETY_KEYS
    from tragen_runtime.config.schemas import load_schemas

    named = [
        (section, group, name)
        for section, groups in (
            ("circuit_breakers", ("portfolio_breakers", "system_breakers")),
            ("portfolio_risk", ("aggregate_limits", "emergency_procedures")),
        )
        for group in groups
        for name in load_schemas()[f"{section}.schema.json"]["properties"][group]["properties"]
    ]
    assert list(SAFETY_KEYS) == named
