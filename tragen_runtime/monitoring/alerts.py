"""Alert rules derived from the configuration, as Prometheus rule groups (plain data).

- every KPI with a measure (`catalog.KPI_MEASURES`): `target` missed -> warning, `critical`
  reached -> critical, in the KPI's direction (`config.rules.LOWER_IS_BETTER`); both alerts of
  a KPI share their name, so Alertmanager's inhibition keeps the critical one alone;
- every circuit breaker, loss limit and emergency procedure the safety package builds from
  the configuration (`safety.config.SafetyConfig`) -> emergency;
- the cost budgets of `cost_monitoring.cost_alerts`, per alert threshold;
- the infrastructure an operator expects to hear about, whatever the configuration says.

Severity is the `severity` label; Alertmanager routes on it (`monitoring.routes`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from ..config.rules import LOWER_IS_BETTER
from ..safety.config import SafetyConfig
from .catalog import COST_PER_DAY, DISKS, KPI_MEASURES, Measure
from .schedule import Schedule

Rule = dict[str, Any]
# An alert's value in its text, as `%.4g` prints it (no SI prefixes: 0.3 stays 0.3).
VALUE = '{{ printf "%.4g" $value }}'
Group = dict[str, Any]

KPI_SECTIONS = ("system_kpis", "business_kpis")

# What a breaker and a KPI both watch: an emergency inhibits the critical and warning alerts
# of its concern (one page for one condition), and nothing else.
CONCERNS = {"total_loss": "loss", "daily_loss": "loss", "monthly_loss": "loss",
            "max_drawdown_percentage": "loss", "var_percentage": "loss",
            "correlation": "correlation", "correlation_factor": "correlation",
            "api_failure_rate": "api_errors", "error_rate_percentage": "api_errors",
            "memory_usage": "memory"}


def alert_groups(config: Mapping[str, Any]) -> list[Group]:
    """Every alert group of the configuration; an empty group is left out."""
    schedule = Schedule.from_config(config)
    groups = [
        ("tragen_kpi_alerts", list(kpi_alerts(config, schedule))),
        ("tragen_safety_alerts", list(safety_alerts(config))),
        ("tragen_cost_alerts", list(cost_alerts(config, schedule))),
        ("tragen_infrastructure_alerts", list(infrastructure_alerts(schedule))),
    ]
    return [{"name": name, "interval": f"{schedule.scrape_seconds}s", "rules": rules}
            for name, rules in groups if rules]


def kpis(config: Mapping[str, Any]) -> Iterator[tuple[str, str, str, Mapping[str, Any]]]:
    """(section, group, name, {target, critical}) of every KPI written in the configuration."""
    for section in KPI_SECTIONS:
        for group, members in (config.get(section) or {}).items():
            for name, kpi in (members or {}).items():
                yield section, str(group), str(name), kpi


def has_costs(config: Mapping[str, Any]) -> bool:
    """Prices are configured (`cost_monitoring.resource_costs`): the cost can be measured."""
    return bool((config.get("cost_monitoring") or {}).get("resource_costs"))


def measured_kpis(config: Mapping[str, Any]
                  ) -> Iterator[tuple[str, str, str, Mapping[str, Any], Measure]]:
    """The configured KPIs that a query measures, with it: those of `catalog.KPI_MEASURES`,
    the cost's only where prices are configured."""
    for section, group, name, kpi in kpis(config):
        measure = KPI_MEASURES.get(name)
        if measure is not None and (COST_PER_DAY not in measure.expr or has_costs(config)):
            yield section, group, name, kpi, measure


def kpi_alerts(config: Mapping[str, Any], schedule: Schedule) -> Iterator[Rule]:
    for section, group, name, kpi, measure in measured_kpis(config):
        lower = name in LOWER_IS_BETTER
        missed, reached = (">", ">=") if lower else ("<", "<=")
        for severity, key, op in (("warning", "target", missed), ("critical", "critical", reached)):
            if kpi.get(key) is None:
                continue
            limit = float(kpi[key])
            yield {
                "alert": "Kpi" + _camel(name),
                "expr": f"{measure.record} {op} {_num(limit)}",
                "for": schedule.window,
                "labels": _with_concern({"severity": severity, "kpi": name}, name),
                "annotations": {
                    "summary": f"{name} is {VALUE}: "
                               + (f"it missed its target {_num(limit)}" if key == "target"
                                  else f"it reached its critical value {_num(limit)}"),
                    "description": f"$.{section}.{group}.{name}.{key}: {_num(limit)} "
                                   f"({'lower' if lower else 'higher'} is better)",
                },
            }


def safety_alerts(config: Mapping[str, Any]) -> Iterator[Rule]:
    safety = SafetyConfig.from_config(config)
    for rule in safety.rules:
        yield {
            "alert": "BreakerTripped",
            "expr": f'max by (breaker) (tragen_breaker_tripped{{breaker="{rule.name}"}}) == 1',
            "labels": _with_concern({"severity": "emergency", "breaker": rule.name},
                                    rule.figure),
            "annotations": {
                "summary": f"circuit breaker {rule.name} tripped: {rule.action}",
                "description": f"{rule.source or rule.name}: threshold {_num(rule.threshold)} "
                               f"({rule.figure}); "
                               + ("only an operator's reset clears it" if not rule.auto_reset
                                  else "it clears itself when the figure is back"),
            },
        }
    yield {
        "alert": "FleetHalted",
        "expr": "max(tragen_fleet_halted) == 1",
        "labels": {"severity": "emergency"},
        "annotations": {"summary": "all trading is halted until an operator resumes it",
                        "description": "auto_halt_threshold tripped or an operator halted "
                                       "the fleet (POST /api/v1/admin/resume-all ends it)"},
    }
    yield {
        "alert": "AgentShutDown",
        "expr": 'sum(increase(tragen_safety_events_total{breaker="agent_shutdown",'
                'kind="action"}[10m])) > 0',
        "labels": {"severity": "emergency"},
        "annotations": {
            "summary": f"{VALUE} agent(s) shut down in the last 10 minutes",
            "description": "$.portfolio_risk.emergency_procedures.agent_shutdown_threshold: "
                           f"{_num(safety.agent_shutdown_threshold)} of an agent's capital lost",
        },
    }


def cost_alerts(config: Mapping[str, Any], schedule: Schedule) -> Iterator[Rule]:
    if not has_costs(config):
        return
    alerts = (config.get("cost_monitoring") or {}).get("cost_alerts") or {}
    thresholds = sorted(float(t) for t in alerts.get("alert_thresholds") or [1.0])
    for key, name, factor in (("daily_budget", "CostDailyBudget", ""),
                              ("monthly_budget", "CostMonthlyBudget", "30 * ")):
        if alerts.get(key) is None:
            continue
        budget = float(alerts[key])
        for fraction in thresholds:
            yield {
                "alert": name,
                "expr": f"{factor}{COST_PER_DAY} >= {_num(fraction * budget)}",
                "for": schedule.window,
                "labels": {"severity": "warning" if fraction < 1 else "critical",
                           "threshold": f"{fraction:.0%}"},
                "annotations": {
                    "summary": f"the estimated {'daily' if not factor else '30-day'} cost "
                               f"reached {fraction:.0%} of the budget",
                    "description": f"$.cost_monitoring.cost_alerts.{key}: {_num(budget)}",
                },
            }
    if alerts.get("agent_cost_limit") is not None:
        limit = float(alerts["agent_cost_limit"])
        yield {
            "alert": "CostPerAgent",
            "expr": f"{COST_PER_DAY} / sum(tragen_agents_running) > {_num(limit)}",
            "for": schedule.window,
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": f"the estimated cost per agent and day is {VALUE}",
                "description": f"$.cost_monitoring.cost_alerts.agent_cost_limit: {_num(limit)}",
            },
        }


def infrastructure_alerts(schedule: Schedule) -> Iterator[Rule]:
    confirm = schedule.confirm
    for alert, expr, severity, hold, summary in (
        # two minutes: an app server that a rolling update restarts misses scrapes for up to
        # a minute on the sandbox (seen 2026-12-02); the deploy does not silence alerts yet
        ("InstanceDown", "up == 0", "critical", "2m",
         "{{ $labels.job }} on {{ $labels.host }} does not answer its scrape"),
        ("PostgresPrimaryDown", 'pg_up{group="db_primary"} == 0', "critical", confirm,
         "PostgreSQL's primary on {{ $labels.host }} is unreachable"),
        ("PostgresReplicationLag", 'pg_replication_lag{group="db_replicas"} > 30', "warning",
         confirm, "the replica {{ $labels.host }} is {{ $value | humanizeDuration }} behind"),
        ("RedisDown", "redis_up == 0", "critical", confirm,
         "Redis on {{ $labels.host }} is unreachable"),
        ("RedisMasterChanged",
         'redis_instance_info{role="master"} unless on (instance) '
         '(redis_instance_info{role="master"} offset 5m) '
         "and on (instance) (redis_instance_info offset 5m)", "warning", "0s",
         "Redis on {{ $labels.host }} became the master"),
        ("NginxDown", "nginx_up == 0", "critical", confirm,
         "nginx on {{ $labels.host }} does not answer its status page"),
        # from the balancer's log (mtail, tragen_exporters): a try that failed was retried
        # on another server when the request allowed it, so clients may not have seen it
        ("NginxUpstreamFailures",
         "sum by (host, instance) (rate(tragen_nginx_upstream_failures_total[1m]))"
         " / sum by (host, instance) (rate(tragen_nginx_responses_total[1m])) > 0.01",
         "warning", "2m",
         "{{ $value | humanizePercentage }} of the requests through {{ $labels.host }} had an "
         "upstream try fail (an error, a timeout or a 502/503/504)"),
        ("AppServerNotReady", 'tragen_draining{job="tragen_app"} > 0', "warning", "2m",
         "{{ $labels.host }} has been draining for 2 minutes: nginx sends it nothing"),
        ("DiskFilling",
         f"predict_linear(node_filesystem_avail_bytes{{{DISKS}}}[1h], 4 * 3600) < 0",
         "warning", "15m",
         "{{ $labels.mountpoint }} on {{ $labels.host }} fills up within 4 hours"),
        ("DiskAlmostFull",
         f"node_filesystem_avail_bytes{{{DISKS}}} / node_filesystem_size_bytes{{{DISKS}}}"
         " < 0.05", "critical", "5m",
         "{{ $labels.mountpoint }} on {{ $labels.host }} has less than 5% free"),
        ("TlsCertificateExpiring",
         "tragen_tls_certificate_not_after_seconds - time() < 14 * 86400", "warning", "0s",
         "the certificate {{ $labels.path }} on {{ $labels.host }} expires within 14 days"),
        ("TlsCertificateExpiring",
         "tragen_tls_certificate_not_after_seconds - time() < 2 * 86400", "critical", "0s",
         "the certificate {{ $labels.path }} on {{ $labels.host }} expires within 2 days"),
    ):
        rule: Rule = {"alert": alert, "expr": expr, "labels": {"severity": severity},
                      "annotations": {"summary": summary}}
        if hold != "0s":
            rule["for"] = hold
        yield rule


def _with_concern(labels: dict[str, str], figure: str) -> dict[str, str]:
    concern = CONCERNS.get(figure)
    return {**labels, "concern": concern} if concern else labels


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[_\W]+", name) if part)


def _num(value: float) -> str:
    """A threshold as PromQL writes it: 0.05, 100, 2500."""
    return f"{value:g}" if abs(value) < 1e15 else repr(value)
