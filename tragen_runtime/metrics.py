"""Prometheus metrics, correct under several gunicorn workers (multiprocess mode).

Process-local figures go through prometheus_client's multiprocess files (the directory in
PROMETHEUS_MULTIPROC_DIR, wiped by the gunicorn master at start). Per-agent figures
(trade_count, win_rate, profit_factor, memory_usage, cpu_usage) are read from the database at
scrape time for the agents leased by this server's workers, so an agent that moved to
another worker or server is never reported twice. Import this module only in workers.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

HTTP_REQUESTS = Counter("tragen_http_requests_total", "HTTP requests answered",
                        ["method", "route", "status"])
HTTP_LATENCY = Histogram("tragen_api_latency_seconds", "HTTP API latency (api_latency)",
                         ["route"], buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1,
                                             2.5))
IN_FLIGHT = Gauge("tragen_http_in_flight_requests", "Requests being served",
                  multiprocess_mode="livesum")
DRAINING = Gauge("tragen_draining", "1 while a worker drains after SIGTERM",
                 multiprocess_mode="livemax")
ANALYSES = Counter("tragen_analyses_total", "Agent analyses run", ["style"])
TRADES = Counter("tragen_trades_total", "Trades committed", ["style", "side"])
TRADE_COMMIT = Histogram("tragen_trade_execution_seconds",
                         "Paper fill plus its database transaction",
                         buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1))
TRADES_FENCED = Counter("tragen_trades_fenced_total",
                        "Trades refused because the worker lost the agent's lease")
AGENTS_OWNED = Gauge("tragen_agents_running", "Agents leased by live workers",
                     multiprocess_mode="livesum")
LEASE_CHANGES = Counter("tragen_lease_changes_total", "Leases gained, lost or released",
                        ["change"])
TICK_SECONDS = Histogram("tragen_tick_seconds", "Duration of one engine tick",
                         buckets=(.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5))
CACHE_REQUESTS = Counter("tragen_cache_requests_total", "Cache lookups", ["level"])
PROCESS_RSS = Gauge("tragen_process_resident_bytes", "Worker resident memory",
                    multiprocess_mode="livesum")
PROCESS_CPU = Gauge("tragen_process_cpu_percent", "Worker CPU use",
                    multiprocess_mode="livesum")
HOST_MEMORY = Gauge("tragen_host_memory_used_ratio", "total_memory: used fraction of host RAM",
                    multiprocess_mode="livemostrecent")
HOST_CPU = Gauge("tragen_host_cpu_used_ratio", "total_cpu: host CPU use",
                 multiprocess_mode="livemostrecent")
HOST_DISK = Gauge("tragen_host_disk_used_ratio", "disk_usage of the data directory",
                  multiprocess_mode="livemostrecent")
HOST_NET = Gauge("tragen_host_network_bytes", "network_io since boot", ["direction"],
                 multiprocess_mode="livemostrecent")
DB_CONNECTIONS = Gauge("tragen_database_connections", "database_connections of the pools",
                       multiprocess_mode="livesum")
ORDERS_REFUSED = Counter("tragen_orders_refused_total", "Orders refused by a pre-trade check",
                         ["check"])
SAFETY_EVENTS = Counter("tragen_safety_events_total",
                        "Breaker trips, resets and actions decided by this worker",
                        ["breaker", "kind"])


_CACHE_CHILDREN = {level: CACHE_REQUESTS.labels(level) for level in ("l1", "l2", "miss")}


def count_cache_lookup(level: str) -> None:
    """A cache lookup answered by `level` (l1, l2) or by the database (miss)."""
    _CACHE_CHILDREN[level].inc()


def sample_system(data_dir: str, db_connections: int) -> tuple[int, float]:
    """Update process and host figures from psutil; returns (rss bytes, cpu percent)."""
    import psutil

    proc = psutil.Process()
    rss = int(proc.memory_info().rss)
    cpu = float(proc.cpu_percent(interval=None))
    PROCESS_RSS.set(rss)
    PROCESS_CPU.set(cpu)
    HOST_MEMORY.set(psutil.virtual_memory().percent / 100)
    HOST_CPU.set(psutil.cpu_percent(interval=None) / 100)
    with contextlib.suppress(OSError):
        HOST_DISK.set(psutil.disk_usage(data_dir).percent / 100)
    net = psutil.net_io_counters()
    if net is not None:
        HOST_NET.labels("sent").set(net.bytes_sent)
        HOST_NET.labels("received").set(net.bytes_recv)
    DB_CONNECTIONS.set(db_connections)
    return rss, cpu


class AgentCollector(Collector):
    """Per-agent gauges from the database (see module doc); rows come from `fetch`."""

    def __init__(self, fetch: Callable[[], Iterable[tuple[Any, ...]]],
                 worker_figures: Callable[[], dict[str, tuple[int, float, int]]]) -> None:
        self._fetch = fetch
        self._workers = worker_figures

    def collect(self) -> Iterator[Metric]:
        labels = ["agent_id", "style"]
        families = {
            name: GaugeMetricFamily(f"tragen_agent_{name}", doc, labels=labels)
            for name, doc in (
                ("trade_count", "Trades of the agent"),
                ("win_rate", "Winning closed trades / closed trades"),
                ("profit_factor", "Gross profit / gross loss"),
                ("memory_usage_bytes", "memory_usage: worker RSS / agents in the worker"),
                ("cpu_usage_percent", "cpu_usage: worker CPU / agents in the worker"))}
        try:
            rows = list(self._fetch())
            workers = self._workers()
        except Exception:  # a scrape must not fail because the database is away
            rows, workers = [], {}
        for agent_id, style, trades, wins, losses, gp, gl, owner in rows:
            key = [str(agent_id), str(style)]
            closed = int(wins) + int(losses)
            families["trade_count"].add_metric(key, float(trades))
            families["win_rate"].add_metric(key, int(wins) / closed if closed else 0.0)
            families["profit_factor"].add_metric(key, float(gp) / float(gl) if gl else 0.0)
            rss, cpu, count = workers.get(str(owner), (0, 0.0, 1))
            families["memory_usage_bytes"].add_metric(key, rss / max(1, count))
            families["cpu_usage_percent"].add_metric(key, cpu / max(1, count))
        yield from families.values()


def observe_safety(events: Iterable[Any]) -> None:
    """Count the safety events this worker decided (each is decided by exactly one)."""
    for event in events:
        SAFETY_EVENTS.labels(event.breaker, event.kind).inc()


class SafetyCollector(Collector):
    """The fleet's safety state, read from the database at scrape time: every app server
    exports the same fleet-wide series (alert on their max), never a worker's own copy."""

    def __init__(self, describe: Callable[[], dict[str, Any]]) -> None:
        self._describe = describe

    def collect(self) -> Iterator[Metric]:
        try:
            state = self._describe()
        except Exception:  # a scrape must not fail because the database is away
            return
        per_breaker = {
            name: GaugeMetricFamily(f"tragen_breaker_{name}", doc, labels=["breaker"])
            for name, doc in (("tripped", "1 while the circuit breaker is tripped"),
                              ("value", "The breaker's figure at the last evaluation"),
                              ("threshold", "The breaker's threshold"),
                              ("awaiting_operator",
                               "1 when only an operator's reset clears the breaker"))}
        for b in state["breakers"]:
            per_breaker["tripped"].add_metric([b["name"]], float(b["tripped"]))
            per_breaker["value"].add_metric([b["name"]], float(b["value"]))
            per_breaker["threshold"].add_metric([b["name"]], float(b["threshold"]))
            per_breaker["awaiting_operator"].add_metric([b["name"]],
                                                        float(b["awaiting_operator"]))
        yield from per_breaker.values()
        for name, doc, value in (
                ("tragen_fleet_halted", "1 while all trading is halted", float(state["halted"])),
                ("tragen_portfolio_equity", "Fleet equity at the last evaluation",
                 float(state["equity"])),
                ("tragen_portfolio_open_risk_ratio", "Open risk / equity",
                 float(state["open_risk_fraction"])),
                ("tragen_portfolio_correlation", "Mean pairwise correlation of agent returns",
                 float(state["correlation"] or 0.0))):
            family = GaugeMetricFamily(name, doc)
            family.add_metric([], value)
            yield family


def render(extra: Iterable[Collector] = ()) -> tuple[bytes, str]:
    """The exposition text of all workers plus `extra` collectors."""
    own = CollectorRegistry()
    for collector in extra:
        own.register(collector)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shared = CollectorRegistry()
        MultiProcessCollector(shared)  # type: ignore[no-untyped-call]
    else:
        shared = REGISTRY
    return generate_latest(shared) + generate_latest(own), CONTENT_TYPE_LATEST
