"""Recording rules: the agent and system metrics the configuration lists, the KPIs that have a
measure, and the estimated cost per day, each over `aggregation_window`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from .alerts import Group, Rule, has_costs, measured_kpis
from .catalog import COST_PER_DAY, Measure, listed_metric
from .schedule import Schedule

GIB = 1024**3


def recording_groups(config: Mapping[str, Any]) -> list[Group]:
    schedule = Schedule.from_config(config)
    collection = (config.get("monitoring") or {}).get("metrics_collection") or {}
    listed = [
        ("tragen_agent_metrics", "agent", collection.get("agent_metrics") or []),
        ("tragen_system_metrics", "system", collection.get("system_metrics") or []),
    ]
    groups: list[tuple[str, list[Rule]]] = [
        (group, [_record(m, schedule) for name in names
                 if (m := listed_metric(kind, str(name))) is not None])
        for group, kind, names in listed]
    groups.append(("tragen_cost", list(cost_records(config, schedule))))
    groups.append(("tragen_kpi_page", list(kpi_page_records(config))))
    measures = {name: measure for _, _, name, _, measure in measured_kpis(config)}
    groups.append(("tragen_kpis", [_record(m, schedule) for m in measures.values()]))
    return [{"name": name, "interval": f"{schedule.scrape_seconds}s", "rules": rules}
            for name, rules in groups if rules]


def kpi_page_records(config: Mapping[str, Any]) -> Iterator[Rule]:
    """What the fleet page shows beside each measured KPI and the cost: its target and
    critical value as constant series, and its value under one name with a `kpi` label."""
    for _, _, name, kpi, measure in measured_kpis(config):
        for key in ("target", "critical"):
            if kpi.get(key) is not None:
                yield {"record": f"tragen:kpi_{key}", "expr": f"vector({float(kpi[key]):g})",
                       "labels": {"kpi": name}}
        yield {"record": "tragen:kpi_value", "expr": measure.record, "labels": {"kpi": name}}
    alerts = (config.get("cost_monitoring") or {}).get("cost_alerts") or {}
    for key, period in (("daily_budget", "day"), ("monthly_budget", "month")):
        if alerts.get(key) is not None:
            yield {"record": "tragen:cost_budget", "expr": f"vector({float(alerts[key]):g})",
                   "labels": {"period": period}}


def _record(measure: Measure, schedule: Schedule) -> Rule:
    return {"record": measure.record,
            "expr": measure.expr.replace("{w}", schedule.window)
                                .replace("{retention}", schedule.retention)}


def cost_records(config: Mapping[str, Any], schedule: Schedule) -> Iterator[Rule]:
    """The fleet's cost per day at `resource_costs`' prices, from what the hosts have (CPUs,
    memory, root filesystem, by the node exporter) and the API calls served."""
    if not has_costs(config):
        return
    costs = config["cost_monitoring"]["resource_costs"]
    terms = []
    for key, query in (
        ("cpu_hour", '24 * count(node_cpu_seconds_total{mode="idle"})'),
        ("memory_gb_hour", f"24 * sum(node_memory_MemTotal_bytes) / {GIB}"),
        ("storage_gb_month", f'sum(node_filesystem_size_bytes{{mountpoint="/"}}) / {GIB} / 30'),
        ("api_call", "86400 * sum(rate(tragen_http_requests_total"
                     f'{{route=~"/api/.*"}}[{schedule.window}]))'),
    ):
        if costs.get(key):
            # a part with no series yet counts 0 instead of leaving the whole sum empty
            terms.append(f"{float(costs[key]):g} * ({query} or vector(0))")
    if terms:
        yield {"record": COST_PER_DAY, "expr": " + ".join(terms)}
