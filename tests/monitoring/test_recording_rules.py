"""The recording rules compute what their names say, from the series the runtime and the
exporters export (evaluated by promtool on synthetic series)."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from tests.monitoring import promtool
from tragen_runtime.config import validate_document
from tragen_runtime.monitoring import catalog, recording

MEDIUM = yaml.safe_load(
    (Path(__file__).parents[2] / "inventories/medium/group_vars/all/tragen.yml").read_text()
)["tragen_config"]


def _records(config: dict[str, object]) -> dict[str, str]:
    return {r["record"]: r["expr"] for g in recording.recording_groups(config) for r in g["rules"]}


def test_every_listed_metric_is_recorded_over_the_aggregation_window() -> None:
    records = _records(MEDIUM)
    collection = MEDIUM["monitoring"]["metrics_collection"]
    for name in collection["agent_metrics"]:
        assert catalog.AGENT_METRICS[name].record in records
    for name in collection["system_metrics"]:
        assert catalog.SYSTEM_METRICS[name].record in records
    assert "[60s]" in records[catalog.AGENT_METRICS["api_latency"].record]
    assert "[2592000s]" in records[catalog.KPI_MEASURES["max_drawdown_percentage"].record]


def test_a_metric_left_out_of_the_list_is_not_recorded() -> None:
    config = copy.deepcopy(MEDIUM)
    config["monitoring"]["metrics_collection"]["system_metrics"] = ["total_cpu"]
    config["monitoring"]["metrics_collection"]["aggregation_window"] = 120
    records = _records(config)
    assert catalog.SYSTEM_METRICS["total_cpu"].record in records
    assert catalog.SYSTEM_METRICS["disk_usage"].record not in records
    assert "[120s]" in records[catalog.SYSTEM_METRICS["total_cpu"].record]


def test_the_gate_refuses_a_metric_nothing_exports() -> None:
    config = copy.deepcopy(MEDIUM)
    config["monitoring"]["metrics_collection"]["system_metrics"].append("gpu_temperature")
    problems = validate_document(config)
    assert [p.location for p in problems] == ["$.monitoring.metrics_collection.system_metrics[6]"]
    assert "found 'gpu_temperature'" in problems[0].message
    assert "cache_hit_rate" in problems[0].message


def test_recorded_figures_from_raw_series(tmp_path: Path) -> None:
    app = 'instance="127.0.3.11:8000",host="app1",group="app_servers",job="tragen_app"'
    node = 'instance="app1",host="app1",group="app_servers"'
    api = f'{app},method="GET",route="/api/v1/agents"'
    series = [
        # 5 trades and 120 analyses a second; 10 API requests a second, 1 of them a 5xx
        {"series": f'tragen_trades_total{{{app},style="scalper",side="buy"}}',
         "values": "0+25x40"},
        {"series": f'tragen_analyses_total{{{app},style="scalper"}}', "values": "0+600x40"},
        {"series": f'tragen_http_requests_total{{{api},status="200"}}', "values": "0+45x40"},
        {"series": f'tragen_http_requests_total{{{api},status="503"}}', "values": "0+5x40"},
        # scrapes are not traffic
        {"series": f'tragen_http_requests_total{{{app},method="GET",route="/metrics",'
                   'status="200"}', "values": "0+500x40"},
        # 3 of 4 lookups are answered by a cache
        {"series": f'tragen_cache_requests_total{{{app},level="l1"}}', "values": "0+10x40"},
        {"series": f'tragen_cache_requests_total{{{app},level="l2"}}', "values": "0+5x40"},
        {"series": f'tragen_cache_requests_total{{{app},level="miss"}}', "values": "0+5x40"},
        # equity 100000 at its peak, 97000 now: 3 % drawdown
        {"series": f"tragen_portfolio_equity{{{app}}}", "values": "100000x20 97000x20"},
        # one host with 2 idle CPUs at 25 % use, 4 GiB of memory, 1 GiB available
        {"series": f'node_cpu_seconds_total{{{node},cpu="0",mode="idle"}}',
         "values": "0+3.75x40"},
        {"series": f'node_cpu_seconds_total{{{node},cpu="1",mode="idle"}}',
         "values": "0+3.75x40"},
        {"series": f"node_memory_MemTotal_bytes{{{node}}}",
         "values": f"{4 * 1024**3}x40"},
        {"series": f"node_memory_MemAvailable_bytes{{{node}}}",
         "values": f"{1024**3}x40"},
    ]
    cost = MEDIUM["cost_monitoring"]["resource_costs"]
    # 2 CPUs and 4 GiB all day, the root filesystem is not in the series, 5 API calls a second
    per_day = (24 * cost["cpu_hour"] * 2 + 24 * cost["memory_gb_hour"] * 4
               + 86400 * cost["api_call"] * 10)
    expect = {
        "fleet:tragen_trades:per_second": 5, "fleet:tragen_analyses:per_minute": 7200,
        "fleet:tragen_api_requests:per_second": 10, "fleet:tragen_api_errors:percent": 10,
        "fleet:tragen_cache_hits:ratio": 0.75,         "fleet:app_cpu_used:percent": 25,
        f"instance:node_memory_used:ratio{{{node}}}": 0.75,
        f"instance:node_cpu_used:ratio{{{node}}}": 0.25,
    }
    tests = [{"interval": "5s", "input_series": series, "promql_expr_test": [
        {"expr": record, "eval_time": "3m",
         "exp_samples": [{"labels": record, "value": value}]}
        for record, value in expect.items()] + [
        {"expr": "round(fleet:tragen_drawdown:percent, 0.001)", "eval_time": "3m",
         "exp_samples": [{"labels": "{}", "value": 3}]},
        {"expr": f"round({catalog.COST_PER_DAY}, 0.001)", "eval_time": "3m",
         "exp_samples": [{"labels": "{}", "value": round(per_day, 3)}]}]}]
    promtool.test_rules(tmp_path, recording.recording_groups(MEDIUM), tests)
