"""The generated alert rules, evaluated by promtool: each fires at its threshold and not on
the good side of it, in the KPI's direction; breakers page as emergencies; costs at each
alert threshold; the infrastructure rules on the exporters' own series."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.monitoring import promtool
from tragen_runtime.config.rules import LOWER_IS_BETTER
from tragen_runtime.monitoring import alerts, catalog
from tragen_runtime.monitoring.schedule import Schedule

MEDIUM = yaml.safe_load(
    (Path(__file__).parents[2] / "inventories/medium/group_vars/all/tragen.yml").read_text()
)["tragen_config"]
SCHEDULE = Schedule.from_config(MEDIUM)


def _value(value: float) -> str:
    return f"{value:.4g}"


def _kpi_alert(name: str, severity: str, value: float) -> dict[str, Any]:
    """The alert promtool must find for KPI `name` at `value`, labels and text."""
    section, group, kpi = next((s, g, k) for s, g, n, k in alerts.kpis(MEDIUM) if n == name)
    key = "target" if severity == "warning" else "critical"
    limit = float(kpi[key])
    lower = name in LOWER_IS_BETTER
    labels = {"severity": severity, "kpi": name}
    if name in alerts.CONCERNS:
        labels["concern"] = alerts.CONCERNS[name]
    return {"exp_labels": labels, "exp_annotations": {
        "summary": f"{name} is {_value(value)}: "
                   + (f"it missed its target {limit:g}" if key == "target"
                      else f"it reached its critical value {limit:g}"),
        "description": f"$.{section}.{group}.{name}.{key}: {limit:g} "
                       f"({'lower' if lower else 'higher'} is better)"}}


MEASURED_KPIS = [name for _, _, name, _ in alerts.kpis(MEDIUM) if name in catalog.KPI_MEASURES]


def test_every_measured_kpi_of_the_guide_has_rules() -> None:
    names = {r["labels"]["kpi"] for r in alerts.kpi_alerts(MEDIUM, SCHEDULE)}
    assert names == set(MEASURED_KPIS)
    assert {"trades_per_second", "api_response_ms", "correlation_factor"} <= names


@pytest.mark.parametrize("name", MEASURED_KPIS)
def test_kpi_alerts_fire_at_their_thresholds_in_the_kpis_direction(tmp_path: Path,
                                                                   name: str) -> None:
    kpi = next(k for _, _, n, k in alerts.kpis(MEDIUM) if n == name)
    target, critical = float(kpi["target"]), float(kpi["critical"])
    step = abs(target - critical)
    better = target + step if name not in LOWER_IS_BETTER else max(0.0, target - step)
    between = (target + critical) / 2
    record = catalog.KPI_MEASURES[name].record
    hold = SCHEDULE.window_seconds + 30  # past the rule's `for`
    cases = [(critical, ["critical", "warning"]), (between, ["warning"]), (target, []),
             (better, [])]
    tests = [{
        "interval": "5s",
        "input_series": [{"series": record, "values": f"{value}x{hold // 5 + 2}"}],
        "alert_rule_test": [{"eval_time": f"{hold}s", "alertname": "Kpi" + alerts._camel(name),
                             "exp_alerts": [_kpi_alert(name, s, value) for s in fired]}],
    } for value, fired in cases]
    groups = [{"name": "kpis", "rules": [r for r in alerts.kpi_alerts(MEDIUM, SCHEDULE)
                                         if r["labels"]["kpi"] == name]}]
    promtool.test_rules(tmp_path, groups, tests)


def test_kpi_alerts_wait_for_the_aggregation_window(tmp_path: Path) -> None:
    """A KPI that misses its target for less than the window does not alert yet."""
    short = SCHEDULE.window_seconds - 10
    tests = [{"interval": "5s",
              "input_series": [{"series": "fleet:tragen_trades:per_second", "values": "10x40"}],
              "alert_rule_test": [{"eval_time": f"{short}s", "alertname": "KpiTradesPerSecond",
                                   "exp_alerts": []}]}]
    groups = [{"name": "kpis", "rules": list(alerts.kpi_alerts(MEDIUM, SCHEDULE))}]
    promtool.test_rules(tmp_path, groups, tests)


def test_every_breaker_and_procedure_pages_as_an_emergency(tmp_path: Path) -> None:
    rules = list(alerts.safety_alerts(MEDIUM))
    breakers = [r["labels"]["breaker"] for r in rules if r["alert"] == "BreakerTripped"]
    assert breakers == ["total_loss", "correlation_spike", "api_failure_rate", "memory_usage",
                        "auto_halt", "position_reduction", "daily_loss", "monthly_loss"]
    assert {r["labels"]["severity"] for r in rules} == {"emergency"}
    series = [{"series": f'tragen_breaker_tripped{{breaker="{b}",instance="app{i}"}}',
               "values": "1x10" if b == "total_loss" else "0x10"}
              for b in breakers for i in (1, 2)]
    series += [{"series": 'tragen_fleet_halted{instance="app1"}', "values": "0 0 1 1 1 1"},
               {"series": 'tragen_safety_events_total{breaker="agent_shutdown",kind="action"}',
                "values": "0 0 0 1 1 1"}]
    total_loss = next(r for r in rules if r["labels"].get("breaker") == "total_loss")
    tests = [{"interval": "1m", "input_series": series, "alert_rule_test": [
        {"eval_time": "1m", "alertname": "BreakerTripped", "exp_alerts": [
            {"exp_labels": {"severity": "emergency", "breaker": "total_loss", "concern": "loss"},
             "exp_annotations": total_loss["annotations"]}]},
        {"eval_time": "1m", "alertname": "FleetHalted", "exp_alerts": []},
        {"eval_time": "3m", "alertname": "FleetHalted", "exp_alerts": [
            {"exp_labels": {"severity": "emergency"},
             "exp_annotations": rules[-2]["annotations"]}]},
        {"eval_time": "2m", "alertname": "AgentShutDown", "exp_alerts": []},
    ]}]
    promtool.test_rules(tmp_path, [{"name": "safety", "rules": rules}], tests, interval="1m")
    assert "only an operator's reset clears it" in total_loss["annotations"]["description"]


def test_cost_alerts_fire_at_each_threshold_of_the_budgets(tmp_path: Path) -> None:
    rules = list(alerts.cost_alerts(MEDIUM, SCHEDULE))
    daily = float(MEDIUM["cost_monitoring"]["cost_alerts"]["daily_budget"])  # 60
    tests = []
    for per_day, fired in ((0.69 * daily, []), (0.7 * daily, ["70%"]),
                           (0.95 * daily, ["70%", "90%"]), (daily, ["70%", "90%", "100%"])):
        tests.append({"interval": "5s", "input_series": [
            {"series": catalog.COST_PER_DAY, "values": f"{per_day}x40"}],
            "alert_rule_test": [{"eval_time": "2m", "alertname": "CostDailyBudget",
                                 "exp_alerts": [_cost_alert(rules, t) for t in fired]}]})
    promtool.test_rules(tmp_path, [{"name": "cost", "rules": rules}], tests)


def _cost_alert(rules: list[dict[str, Any]], threshold: str) -> dict[str, Any]:
    rule = next(r for r in rules if r["alert"] == "CostDailyBudget"
                and r["labels"]["threshold"] == threshold)
    return {"exp_labels": rule["labels"], "exp_annotations": rule["annotations"]}


def test_postgres_primary_down_pages_after_two_scrapes(tmp_path: Path) -> None:
    rules = list(alerts.infrastructure_alerts(SCHEDULE))
    down = next(r for r in rules if r["alert"] == "PostgresPrimaryDown")
    assert down["for"] == "10s"
    labels = 'group="db_primary",host="db1",instance="127.0.3.15:9187",job="postgres"'
    tests = [{"interval": "5s",
              "input_series": [{"series": f"pg_up{{{labels}}}", "values": "1 1 0 0 0 0 0"}],
              "alert_rule_test": [
                  {"eval_time": "10s", "alertname": "PostgresPrimaryDown", "exp_alerts": []},
                  {"eval_time": "20s", "alertname": "PostgresPrimaryDown", "exp_alerts": [
                      {"exp_labels": {"severity": "critical", "group": "db_primary",
                                      "host": "db1", "instance": "127.0.3.15:9187",
                                      "job": "postgres"},
                       "exp_annotations": {
                           "summary": "PostgreSQL's primary on db1 is unreachable"}}]}]}]
    promtool.test_rules(tmp_path, [{"name": "infra", "rules": rules}], tests)


def test_nginx_upstream_failures_fire_above_one_percent_of_requests(tmp_path: Path) -> None:
    rules = [r for r in alerts.infrastructure_alerts(SCHEDULE)
             if r["alert"] == "NginxUpstreamFailures"]
    labels = 'host="lb1",instance="127.0.3.13:3903",job="nginx_log"'
    # 100 requests a minute; 1 failed try a minute (1 %) for ten minutes, then 3 a minute
    tests = [{"interval": "1m", "input_series": [
        {"series": f"tragen_nginx_responses_total{{{labels},status=\"200\"}}",
         "values": "0+100x20"},
        {"series": f"tragen_nginx_upstream_failures_total{{{labels}}}",
         "values": "0+1x10 13+3x10"}],
        "alert_rule_test": [
            {"eval_time": "9m", "alertname": "NginxUpstreamFailures", "exp_alerts": []},
            {"eval_time": "11m", "alertname": "NginxUpstreamFailures", "exp_alerts": []},
            {"eval_time": "15m", "alertname": "NginxUpstreamFailures", "exp_alerts": [
                {"exp_labels": {"severity": "warning", "host": "lb1",
                                "instance": "127.0.3.13:3903"},
                 "exp_annotations": {"summary": "3% of the requests through lb1 had an upstream "
                                                "try fail (an error, a timeout or a "
                                                "502/503/504)"}}]}]}]
    promtool.test_rules(tmp_path, [{"name": "infra", "rules": rules}], tests, interval="1m")


def test_a_new_redis_master_is_reported_once_not_at_start(tmp_path: Path) -> None:
    rules = [r for r in alerts.infrastructure_alerts(SCHEDULE) if r["alert"] ==
             "RedisMasterChanged"]
    tests = [{"interval": "1m", "input_series": [
        {"series": 'redis_instance_info{instance="c1",host="cache1",role="master"}',
         "values": "1x20"},
        {"series": 'redis_instance_info{instance="c2",host="cache2",role="slave"}',
         "values": "1x9 _x11"},
        {"series": 'redis_instance_info{instance="c2",host="cache2",role="master"}',
         "values": "_x10 1x10"}],
        "alert_rule_test": [
            {"eval_time": "8m", "alertname": "RedisMasterChanged", "exp_alerts": []},
            {"eval_time": "11m", "alertname": "RedisMasterChanged", "exp_alerts": [
                {"exp_labels": {"severity": "warning", "instance": "c2", "host": "cache2",
                                "role": "master"},
                 "exp_annotations": {"summary": "Redis on cache2 became the master"}}]},
            {"eval_time": "17m", "alertname": "RedisMasterChanged", "exp_alerts": []}]}]
    promtool.test_rules(tmp_path, [{"name": "infra", "rules": rules}], tests, interval="1m")


def test_every_alert_has_a_routed_severity_and_a_summary() -> None:
    for group in alerts.alert_groups(MEDIUM):
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("warning", "critical", "emergency"), rule
            assert rule["annotations"]["summary"], rule
