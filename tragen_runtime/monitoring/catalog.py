"""What each name of the configuration measures, as PromQL over series that exist.

`monitoring.metrics_collection` lists agent and system metrics by name and the KPI sections
name their figures; a name only means something once it is a query over a series that the
runtime (`tragen_runtime.metrics`) or a Debian exporter exports. This table is that mapping.
A listed metric that is not here is a gate error (`unknown_metric_problems`); a KPI that is not
here is a note of the key registry: nothing exports a series for it yet.

`{w}` in a query is the range of `aggregation_window`; the recording rules fill it in.
"""

from __future__ import annotations

from dataclasses import dataclass

# Series of the runtime's API answers that are traffic (scrapes and probes are not).
_API = 'route!~"/metrics|/healthz|/readyz"'
# Filesystems that hold data (not memory or namespaces).
DISKS = 'fstype!~"tmpfs|ramfs|nsfs"'


@dataclass(frozen=True)
class Measure:
    """One named figure: the recorded series it becomes and the query that computes it."""

    record: str
    expr: str
    source: str  # who exports the series it reads, for documentation and messages


AGENT_METRICS: dict[str, Measure] = {
    "trade_count": Measure(
        "agent:tragen_agent_trade_count:max",
        "max by (agent_id, style) (max_over_time(tragen_agent_trade_count[{w}]))", "runtime"),
    "win_rate": Measure(
        "agent:tragen_agent_win_rate:avg",
        "avg by (agent_id, style) (avg_over_time(tragen_agent_win_rate[{w}]))", "runtime"),
    "profit_factor": Measure(
        "agent:tragen_agent_profit_factor:avg",
        "avg by (agent_id, style) (avg_over_time(tragen_agent_profit_factor[{w}]))", "runtime"),
    "memory_usage": Measure(
        "agent:tragen_agent_memory_usage_bytes:avg",
        "avg by (agent_id, style) (avg_over_time(tragen_agent_memory_usage_bytes[{w}]))",
        "runtime"),
    "cpu_usage": Measure(
        "agent:tragen_agent_cpu_usage_percent:avg",
        "avg by (agent_id, style) (avg_over_time(tragen_agent_cpu_usage_percent[{w}]))",
        "runtime"),
    "api_latency": Measure(
        "instance:tragen_api_latency_seconds:p95",
        "histogram_quantile(0.95, sum by (instance, le) "
        f"(rate(tragen_api_latency_seconds_bucket{{{_API}}}[{{w}}])))", "runtime"),
}

SYSTEM_METRICS: dict[str, Measure] = {
    "total_memory": Measure(
        "instance:node_memory_used:ratio",
        "1 - avg_over_time(node_memory_MemAvailable_bytes[{w}]) / node_memory_MemTotal_bytes",
        "node exporter"),
    "total_cpu": Measure(
        "instance:node_cpu_used:ratio",
        '1 - avg by (instance, host, group) (rate(node_cpu_seconds_total{mode="idle"}[{w}]))',
        "node exporter"),
    "disk_usage": Measure(
        "instance:node_filesystem_used:max_ratio",
        f"max by (instance, host, group) (1 - node_filesystem_avail_bytes{{{DISKS}}}"
        f" / node_filesystem_size_bytes{{{DISKS}}})", "node exporter"),
    "network_io": Measure(
        "instance:node_network_bytes:rate",
        'sum by (instance, host, group) (rate(node_network_receive_bytes_total{device!="lo"}[{w}])'
        ' + rate(node_network_transmit_bytes_total{device!="lo"}[{w}]))', "node exporter"),
    "database_connections": Measure(
        "instance:pg_backends:sum",
        "sum by (instance, host, group) (avg_over_time(pg_stat_database_numbackends[{w}]))",
        "postgres exporter"),
    "cache_hit_rate": Measure(
        "fleet:tragen_cache_hits:ratio",
        'sum(rate(tragen_cache_requests_total{level=~"l1|l2"}[{w}])) '
        "/ sum(rate(tragen_cache_requests_total[{w}]))", "runtime"),
}

COST_PER_DAY = "fleet:tragen_cost_dollars:per_day"

# The KPIs of system_kpis and business_kpis that a query measures; the rest have no series
# yet (`tragen_runtime.config.registry` says so per name).
KPI_MEASURES: dict[str, Measure] = {
    "trades_per_second": Measure(
        "fleet:tragen_trades:per_second", "sum(rate(tragen_trades_total[{w}]))", "runtime"),
    "analyses_per_minute": Measure(
        "fleet:tragen_analyses:per_minute", "60 * sum(rate(tragen_analyses_total[{w}]))",
        "runtime"),
    "api_requests_per_second": Measure(
        "fleet:tragen_api_requests:per_second",
        f"sum(rate(tragen_http_requests_total{{{_API}}}[{{w}}]))", "runtime"),
    "trade_execution_ms": Measure(
        "fleet:tragen_trade_execution_ms:p95",
        "1000 * histogram_quantile(0.95, sum by (le) "
        "(rate(tragen_trade_execution_seconds_bucket[{w}])))", "runtime"),
    "analysis_completion_ms": Measure(
        "fleet:tragen_tick_ms:p95",
        "1000 * histogram_quantile(0.95, sum by (le) (rate(tragen_tick_seconds_bucket[{w}])))",
        "runtime"),
    "api_response_ms": Measure(
        "fleet:tragen_api_response_ms:p95",
        "1000 * histogram_quantile(0.95, sum by (le) "
        f"(rate(tragen_api_latency_seconds_bucket{{{_API}}}[{{w}}])))", "runtime"),
    "uptime_percentage": Measure(
        "fleet:tragen_uptime:percent_1d",
        '100 * avg(avg_over_time(up{job="tragen_app"}[1d]))', "Prometheus (up)"),
    "error_rate_percentage": Measure(
        "fleet:tragen_api_errors:percent",
        f'100 * (sum(rate(tragen_http_requests_total{{{_API},status=~"5.."}}[{{w}}])) or vector(0))'
        f" / sum(rate(tragen_http_requests_total{{{_API}}}[{{w}}]))", "runtime"),
    "max_drawdown_percentage": Measure(
        "fleet:tragen_drawdown:percent",
        "100 * (1 - max(tragen_portfolio_equity) "
        "/ max(max_over_time(tragen_portfolio_equity[{retention}])))", "runtime"),
    "correlation_factor": Measure(
        "fleet:tragen_portfolio_correlation:max", "max(tragen_portfolio_correlation)",
        "runtime"),
    "cost_per_trade": Measure(
        "fleet:tragen_cost_per_trade:dollars",
        f"{COST_PER_DAY} / (86400 * sum(rate(tragen_trades_total[{{w}}])))", "runtime"),
    "resource_utilization": Measure(
        "fleet:app_cpu_used:percent",
        '100 * (1 - avg(rate(node_cpu_seconds_total{group="app_servers",mode="idle"}[{w}])))',
        "node exporter"),
}


def listed_metric(kind: str, name: str) -> Measure | None:
    """The measure of an agent_metrics (`kind` agent) or system_metrics (`system`) name."""
    return (AGENT_METRICS if kind == "agent" else SYSTEM_METRICS).get(name)
