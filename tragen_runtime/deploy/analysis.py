"""The metric gate of a rollout: the new release's servers (the canary) against the servers
still on the old one (the baseline), from the runtime's own `/metrics`.

An analysis takes `count` measurements, one every `interval` seconds. A measurement compares
the API answers of the canary and of the baseline over its interval (counter deltas, so a
restart in between only shortens the window):

- success rate: the canary's share of API answers that are not 5xx, at least
  `min_success_rate`;
- latency: the canary's `latency_quantile` of API latency at most `max_latency_ratio` times the
  baseline's, plus `latency_slack_seconds` (the histogram's buckets are coarse and an idle
  baseline is fast); skipped when there is no baseline;
- too few canary requests (`min_requests`) is no data: inconclusive, never a pass;
- chosen KPIs of the configuration's `system_kpis` (`Kpis`): the canary's own p95 API response
  time, API error rate and p95 trade execution time must stay short of the KPI's `critical`
  value (reaching it fails the measurement, as it pages in monitoring); a canary without trades
  in the window is not judged on trade execution.

The verdict follows Argo Rollouts' AnalysisRun: the analysis fails as soon as more than
`failure_limit` measurements failed (default 0: the first failed one), errs when more than
`consecutive_error_limit` measurements in a row could not be taken (default 4), and is
inconclusive when more than `inconclusive_limit` measurements had no data (default 0) unless the
operator allows inconclusive results. Only a successful (or allowed inconclusive) analysis lets
the rollout go on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

Phase = Literal["successful", "failed", "inconclusive", "error"]
Verdict = Literal["running", "successful", "failed", "inconclusive", "error"]

REQUESTS = "tragen_http_requests_total"
LATENCY_BUCKET = "tragen_api_latency_seconds_bucket"
TRADE_BUCKET = "tragen_trade_execution_seconds_bucket"
# What `parse` reads; the scrape module keeps only these lines of each server's /metrics.
FAMILIES = (REQUESTS, LATENCY_BUCKET, TRADE_BUCKET)
API_PREFIX = "/api/"
_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+"
                     r"(?P<value>\S+)")
_LABEL = re.compile(r'(?P<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')


@dataclass(frozen=True, slots=True)
class Counts:
    """API answers of one or more app servers: counters, or their change over a window."""

    requests: float = 0.0
    errors: float = 0.0  # 5xx answers
    # Cumulative latency buckets (upper bound in seconds -> answers at most that slow).
    buckets: Mapping[float, float] = field(default_factory=dict)
    # The same for trade execution (order to committed trade).
    trades: Mapping[float, float] = field(default_factory=dict)

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.requests + other.requests, self.errors + other.errors,
                      _add(self.buckets, other.buckets), _add(self.trades, other.trades))

    def since(self, earlier: Counts) -> Counts:
        """The change from ``earlier``; a counter that went down was reset by a restart, and
        counts from zero."""
        if self.requests < earlier.requests or self.errors < earlier.errors:
            return self
        return Counts(self.requests - earlier.requests, self.errors - earlier.errors,
                      _less(self.buckets, earlier.buckets), _less(self.trades, earlier.trades))

    @property
    def success_rate(self) -> float | None:
        return None if self.requests <= 0 else 1.0 - self.errors / self.requests

    def quantile(self, q: float) -> float | None:
        """The API latency's quantile ``q`` in seconds (see `histogram_quantile`)."""
        return histogram_quantile(q, self.buckets)

    def trade_quantile(self, q: float) -> float | None:
        """Trade execution time's quantile ``q`` in seconds; None without trades."""
        return histogram_quantile(q, self.trades)


def _add(left: Mapping[float, float], right: Mapping[float, float]) -> dict[float, float]:
    return {k: left.get(k, 0.0) + right.get(k, 0.0) for k in set(left) | set(right)}


def _less(later: Mapping[float, float], earlier: Mapping[float, float]) -> dict[float, float]:
    return {k: max(0.0, v - earlier.get(k, 0.0)) for k, v in later.items()}


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """Prometheus' histogram_quantile over cumulative buckets (linear inside a bucket); None
    with no observation. Beyond the last finite bucket it answers that bucket's bound."""
    ordered = sorted(buckets.items())
    total = ordered[-1][1] if ordered else 0.0
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def _labels(text: str | None) -> dict[str, str]:
    return {m["key"]: m["value"] for m in _LABEL.finditer(text or "")}


def parse(text: str) -> Counts:
    """The API counters of one app server's `/metrics` (Prometheus text format)."""
    requests = errors = 0.0
    buckets: dict[float, float] = {}
    trades: dict[float, float] = {}
    for line in text.splitlines():
        if not line.startswith(FAMILIES):
            continue
        match = _SAMPLE.match(line)
        if not match:
            continue
        labels = _labels(match["labels"])
        value = float(match["value"])
        if match["name"] == TRADE_BUCKET and "le" in labels:
            bound = float(labels["le"])
            trades[bound] = trades.get(bound, 0.0) + value
            continue
        if not labels.get("route", "").startswith(API_PREFIX):
            continue
        if match["name"] == REQUESTS:
            requests += value
            if labels.get("status", "").startswith("5"):
                errors += value
        elif match["name"] == LATENCY_BUCKET and "le" in labels:
            bound = float(labels["le"])
            buckets[bound] = buckets.get(bound, 0.0) + value
    return Counts(requests, errors, buckets, trades)


def total(counts: Iterable[Counts]) -> Counts:
    result = Counts()
    for item in counts:
        result = result + item
    return result


@dataclass(frozen=True, slots=True)
class Gates:
    """What one measurement must show (the role's tragen_deploy_analysis_* settings)."""

    min_success_rate: float = 0.99
    latency_quantile: float = 0.95
    max_latency_ratio: float = 2.0
    latency_slack_seconds: float = 0.05
    min_requests: int = 20

    def __post_init__(self) -> None:
        if not 0 <= self.min_success_rate <= 1:
            raise ValueError(f"min_success_rate must lie in 0..1, got {self.min_success_rate}")
        if not 0 < self.latency_quantile < 1:
            raise ValueError(f"latency_quantile must lie between 0 and 1, got "
                             f"{self.latency_quantile}")
        if self.max_latency_ratio < 1 or self.latency_slack_seconds < 0 or self.min_requests < 1:
            raise ValueError("max_latency_ratio must be >= 1, latency_slack_seconds >= 0 and "
                             "min_requests >= 1")


# The KPIs a canary can be held to on its own figures, by their group in system_kpis. Each is
# measured as monitoring measures it for the fleet (tragen_runtime.monitoring.catalog): p95 in
# milliseconds, or a percentage.
KPI_GROUPS = {"api_response_ms": "latency", "error_rate_percentage": "reliability",
              "trade_execution_ms": "latency"}
KPI_QUANTILE = 0.95


@dataclass(frozen=True, slots=True)
class Kpis:
    """The critical values a canary must stay short of (None: that KPI is not chosen)."""

    api_response_ms: float | None = None
    error_rate_percentage: float | None = None
    trade_execution_ms: float | None = None

    def text(self) -> str:
        chosen = [f"{name} < {value:g}" for name, value in self.chosen().items()]
        return ", ".join(chosen)

    def chosen(self) -> dict[str, float]:
        return {name: value for name in KPI_GROUPS
                if (value := getattr(self, name)) is not None}


def chosen_kpis(names: Sequence[str], system_kpis: Mapping[str, object] | None) -> Kpis:
    """The critical values of the KPIs ``names`` from the configuration's ``system_kpis``;
    ValueError says which name is no such KPI or is not configured."""
    values: dict[str, float] = {}
    for name in names:
        group = KPI_GROUPS.get(name)
        if group is None:
            raise ValueError(f"{name!r} is not a KPI a canary can be held to; choose from "
                             f"{', '.join(KPI_GROUPS)}")
        section = (system_kpis or {}).get(group)
        kpi = section.get(name) if isinstance(section, Mapping) else None
        if not isinstance(kpi, Mapping) or not isinstance(kpi.get("critical"), (int, float)):
            raise ValueError(f"system_kpis.{group}.{name} is not in the configuration: its "
                             "critical value is what the canary is held to")
        values[name] = float(kpi["critical"])
    return Kpis(**values)


def kpi_plan(names: Sequence[str], system_kpis: Mapping[str, object] | None,
             analysed: bool) -> str:
    """The plan's line for the chosen KPIs ('' for none); ValueError when they cannot act."""
    kpis = chosen_kpis(names, system_kpis)
    if not kpis.chosen():
        return ""
    if not analysed:
        raise ValueError("tragen_deploy_analysis_kpis needs tragen_deploy_analysis=true: "
                         "without the analysis nothing holds a batch to them")
    return f"Each analysis also holds the batch to its KPIs: {kpis.text()}."


def kpi_reasons(canary: Counts, kpis: Kpis) -> list[str]:
    """Why the canary's own figures reached a chosen KPI's critical value (none: met)."""
    api = canary.quantile(KPI_QUANTILE)
    trade = canary.trade_quantile(KPI_QUANTILE)
    rate = canary.success_rate
    figures: dict[str, float | None] = {
        "api_response_ms": None if api is None else 1000 * api,
        "error_rate_percentage": None if rate is None else 100 * (1 - rate),
        "trade_execution_ms": None if trade is None else 1000 * trade}
    reasons = []
    for name, critical in kpis.chosen().items():
        figure = figures[name]
        if figure is not None and figure >= critical:
            reasons.append(f"{name} {figure:.1f} reached its critical value {critical:g} "
                           f"(system_kpis.{KPI_GROUPS[name]}.{name})")
    return reasons


@dataclass(frozen=True, slots=True)
class Measurement:
    phase: Phase
    reasons: tuple[str, ...]
    requests: float = 0.0
    success_rate: float | None = None
    latency: float | None = None  # the canary's quantile, seconds
    baseline_latency: float | None = None

    def text(self) -> str:
        figures = [f"{self.requests:.0f} canary requests"]
        if self.success_rate is not None:
            figures.append(f"success {100 * self.success_rate:.2f} %")
        if self.latency is not None:
            figures.append(f"latency {1000 * self.latency:.1f} ms")
        if self.baseline_latency is not None:
            figures.append(f"baseline {1000 * self.baseline_latency:.1f} ms")
        return f"{self.phase} ({', '.join(figures)}): {'; '.join(self.reasons) or 'all gates met'}"


def error(reason: str) -> Measurement:
    """A measurement that could not be taken (a server's metrics unreadable)."""
    return Measurement("error", (reason,))


def measure(canary: Counts, baseline: Counts | None, gates: Gates,
            kpis: Kpis = Kpis()) -> Measurement:
    """One measurement: the canary's and the baseline's change over the same interval."""
    rate = canary.success_rate
    if canary.requests < gates.min_requests or rate is None:
        return Measurement("inconclusive",
                           (f"no data: {canary.requests:.0f} canary requests, "
                            f"{gates.min_requests} needed",), canary.requests, rate)
    reasons = []
    if rate < gates.min_success_rate:
        reasons.append(f"success rate {100 * rate:.2f} % below "
                       f"{100 * gates.min_success_rate:.2f} %")
    latency = canary.quantile(gates.latency_quantile)
    base = baseline.quantile(gates.latency_quantile) if baseline is not None else None
    if latency is not None and base is not None:
        limit = base * gates.max_latency_ratio + gates.latency_slack_seconds
        if latency > limit:
            reasons.append(f"p{100 * gates.latency_quantile:g} latency {1000 * latency:.1f} ms "
                           f"above {1000 * limit:.1f} ms ({gates.max_latency_ratio:g} x the "
                           f"baseline's {1000 * base:.1f} ms + "
                           f"{1000 * gates.latency_slack_seconds:g} ms)")
    reasons += kpi_reasons(canary, kpis)
    return Measurement("failed" if reasons else "successful", tuple(reasons), canary.requests,
                       rate, latency, base)


@dataclass(frozen=True, slots=True)
class Limits:
    """When an analysis ends (Argo Rollouts' names and defaults)."""

    count: int = 3
    failure_limit: int = 0
    consecutive_error_limit: int = 4
    inconclusive_limit: int = 0
    allow_inconclusive: bool = False

    def __post_init__(self) -> None:
        if self.count < 1 or min(self.failure_limit, self.consecutive_error_limit,
                                 self.inconclusive_limit) < 0:
            raise ValueError("count must be >= 1 and every limit >= 0")


def verdict(measurements: Sequence[Measurement], limits: Limits) -> Verdict:
    """Where the analysis stands after ``measurements``: still running, or its end."""
    phases = [m.phase for m in measurements]
    if phases.count("failed") > limits.failure_limit:
        return "failed"
    streak = 0
    for phase in reversed(phases):
        if phase != "error":
            break
        streak += 1
    if streak > limits.consecutive_error_limit:
        return "error"
    no_data = phases.count("inconclusive") > limits.inconclusive_limit
    if no_data and not limits.allow_inconclusive:
        return "inconclusive"
    taken = len(phases) - phases.count("error")
    if taken < limits.count:
        return "running"
    return "inconclusive" if no_data else "successful"


def passes(result: Verdict, limits: Limits) -> bool:
    """Whether the rollout may go on after an analysis that ended in ``result``: successful,
    or inconclusive where the operator allows it."""
    return result == "successful" or (result == "inconclusive" and limits.allow_inconclusive)


def summary(measurements: Sequence[Measurement], result: Verdict) -> str:
    lines = [f"analysis {result} after {len(measurements)} measurement(s)"]
    lines += [f"  {number}. {m.text()}" for number, m in enumerate(measurements, 1)]
    return "\n".join(lines)


def measure_window(before: Mapping[str, Counts], after: Mapping[str, Counts],
                   canary: Sequence[str], baseline: Sequence[str], gates: Gates,
                   kpis: Kpis = Kpis()) -> Measurement:
    """One measurement from two readings of every server (name -> its counters); a server
    missing from either reading makes the measurement an error."""
    missing = [name for name in [*canary, *baseline] if name not in before or name not in after]
    if missing:
        return error(f"no metrics from {', '.join(missing)}")
    canary_counts = total(after[n].since(before[n]) for n in canary)
    baseline_counts = total(after[n].since(before[n]) for n in baseline) if baseline else None
    return measure(canary_counts, baseline_counts, gates, kpis)


@dataclass(frozen=True, slots=True)
class Outcome:
    result: Verdict
    passed: bool
    measurements: tuple[Measurement, ...]

    def text(self) -> str:
        return summary(self.measurements, self.result)


Reading = Mapping[str, Counts]


def analyse(read: Callable[[], Reading], sleep: Callable[[float], None], *,
            canary: Sequence[str], baseline: Sequence[str], gates: Gates, limits: Limits,
            interval: float, report: Callable[[int, Measurement], None] = lambda n, m: None,
            kpis: Kpis = Kpis()) -> Outcome:
    """Run an analysis: read every server, then every ``interval`` seconds read again and
    judge the window, until the verdict is in. ``read`` answers the servers it could read;
    a server it could not keeps its earlier reading, so the next window spans the gap."""
    if not canary:
        raise ValueError("an analysis needs at least one canary server")
    before = dict(read())
    measurements: list[Measurement] = []
    result: Verdict = "running"
    while result == "running":
        sleep(interval)
        after = dict(read())
        measurement = measure_window(before, after, canary, baseline, gates, kpis)
        measurements.append(measurement)
        report(len(measurements), measurement)
        before.update(after)
        result = verdict(measurements, limits)
    return Outcome(result, passes(result, limits), tuple(measurements))
