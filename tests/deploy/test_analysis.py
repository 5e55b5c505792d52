"""The metric gate of a rollout: parsing /metrics, one measurement, the Argo-style verdict and
the loop that takes measurements until the verdict is in."""

from __future__ import annotations

import pytest

from tragen_runtime.deploy.analysis import (
    FAMILIES,
    Counts,
    Gates,
    Kpis,
    Limits,
    Measurement,
    analyse,
    chosen_kpis,
    error,
    measure,
    measure_window,
    parse,
    verdict,
)

METRICS = """\
# HELP tragen_http_requests_total HTTP requests answered
# TYPE tragen_http_requests_total counter
tragen_http_requests_total{method="GET",route="/api/v1/portfolio",status="200"} 90.0
tragen_http_requests_total{method="POST",route="/api/v1/analyses",status="202"} 5.0
tragen_http_requests_total{method="POST",route="/api/v1/analyses",status="500"} 5.0
tragen_http_requests_total{method="GET",route="/readyz",status="503"} 40.0
tragen_http_requests_total{method="GET",route="/metrics",status="200"} 7.0
tragen_api_latency_seconds_bucket{le="0.01",route="/api/v1/portfolio"} 80.0
tragen_api_latency_seconds_bucket{le="0.1",route="/api/v1/portfolio"} 90.0
tragen_api_latency_seconds_bucket{le="+Inf",route="/api/v1/portfolio"} 90.0
tragen_api_latency_seconds_bucket{le="0.01",route="/api/v1/analyses"} 10.0
tragen_api_latency_seconds_bucket{le="0.1",route="/api/v1/analyses"} 10.0
tragen_api_latency_seconds_bucket{le="+Inf",route="/api/v1/analyses"} 10.0
tragen_api_latency_seconds_bucket{le="0.01",route="/readyz"} 40.0
tragen_api_latency_seconds_count{route="/api/v1/portfolio"} 90.0
"""


def counts(requests: float, errors: float = 0, fast: float | None = None,
           slow_bound: float = 0.1) -> Counts:
    """``requests`` answers, ``errors`` of them 5xx, ``fast`` of them within 10 ms (all by
    default) and the rest within ``slow_bound``."""
    fast = requests if fast is None else fast
    return Counts(requests, errors, {0.01: fast, slow_bound: requests, float("inf"): requests})


def test_parse_keeps_the_api_routes_only() -> None:
    parsed = parse(METRICS)
    assert parsed.requests == 100  # /readyz and /metrics are not the API
    assert parsed.errors == 5
    assert parsed.buckets == {0.01: 90, 0.1: 100, float("inf"): 100}
    assert parsed.success_rate == pytest.approx(0.95)


def test_parse_of_a_server_that_answered_nothing_yet() -> None:
    assert parse("# nothing\n") == Counts()
    assert Counts().success_rate is None
    assert Counts().quantile(0.95) is None


def test_the_window_is_the_change_and_a_restart_counts_from_zero() -> None:
    earlier, later = counts(100, 1), counts(160, 4)
    assert later.since(earlier).requests == 60
    assert later.since(earlier).errors == 3
    restarted = counts(10)
    assert restarted.since(earlier) == restarted


def test_quantile_interpolates_inside_a_bucket_like_prometheus() -> None:
    # 90 of 100 answers within 10 ms, the other 10 within 100 ms: p95 is half-way up.
    assert counts(100, fast=90).quantile(0.95) == pytest.approx(0.055)
    assert counts(100).quantile(0.5) == pytest.approx(0.005)
    # Beyond the last finite bucket: that bucket's bound.
    assert Counts(10, 0, {0.1: 5, float("inf"): 10}).quantile(0.99) == pytest.approx(0.1)


def test_a_healthy_canary_passes() -> None:
    m = measure(counts(100), counts(100), Gates())
    assert m.phase == "successful", m.text()
    assert m.reasons == ()


def test_five_percent_errors_fail_the_success_gate() -> None:
    m = measure(counts(200, errors=10), counts(200), Gates())
    assert m.phase == "failed"
    assert "success rate 95.00 % below 99.00 %" in m.text()


def test_a_slow_canary_fails_against_the_baseline() -> None:
    # The baseline's p95 is 5 ms; the canary answers most calls within 1 s.
    slow = Counts(100, 0, {0.01: 0, 1.0: 100, float("inf"): 100})
    m = measure(slow, counts(100), Gates(max_latency_ratio=2, latency_slack_seconds=0.05))
    assert m.phase == "failed"
    assert "p95 latency" in m.text() and "the baseline's 9.5 ms" in m.text()


def test_latency_within_ratio_and_slack_passes() -> None:
    # Canary p95 55 ms, baseline p95 9.5 ms: within 2 x 9.5 + 50 ms.
    assert measure(counts(100, fast=90), counts(100), Gates()).phase == "successful"


def test_without_a_baseline_only_the_success_rate_is_judged() -> None:
    slow = Counts(100, 0, {0.01: 0, 1.0: 100, float("inf"): 100})
    m = measure(slow, None, Gates())
    assert m.phase == "successful"
    assert m.baseline_latency is None


def test_too_few_requests_is_no_data_never_a_pass() -> None:
    m = measure(counts(5), counts(100), Gates(min_requests=20))
    assert m.phase == "inconclusive"
    assert "no data: 5 canary requests, 20 needed" in m.text()


def test_the_window_sums_the_canary_servers() -> None:
    before = {"app1": counts(0), "app2": counts(0), "app3": counts(0)}
    after = {"app1": counts(50, errors=5), "app2": counts(50), "app3": counts(100)}
    m = measure_window(before, after, ["app1", "app2"], ["app3"], Gates())
    assert m.requests == 100
    assert m.success_rate == pytest.approx(0.95)


def test_a_server_without_metrics_makes_the_measurement_an_error() -> None:
    m = measure_window({"app1": counts(0)}, {}, ["app1"], [], Gates())
    assert m.phase == "error"
    assert "no metrics from app1" in m.text()


def test_gates_and_limits_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="min_success_rate"):
        Gates(min_success_rate=1.5)
    with pytest.raises(ValueError, match="latency_quantile"):
        Gates(latency_quantile=1)
    with pytest.raises(ValueError, match="count"):
        Limits(count=0)


OK = Measurement("successful", ())
BAD = Measurement("failed", ("success rate 95.00 % below 99.00 %",))
NO_DATA = Measurement("inconclusive", ("no data",))
ERR = error("no metrics from app1")


@pytest.mark.parametrize(
    ("phases", "limits", "expected"),
    [
        ([OK], Limits(count=3), "running"),
        ([OK, OK, OK], Limits(count=3), "successful"),
        ([BAD], Limits(count=3), "failed"),  # failure_limit 0: the first failure ends it
        ([OK, BAD], Limits(count=3, failure_limit=1), "running"),
        ([BAD, OK, BAD], Limits(count=3, failure_limit=1), "failed"),
        ([OK, BAD, OK], Limits(count=3, failure_limit=1), "successful"),
        ([NO_DATA], Limits(count=3), "inconclusive"),  # no data stops the rollout
        ([NO_DATA, OK, OK], Limits(count=3, allow_inconclusive=True), "inconclusive"),
        ([OK, NO_DATA], Limits(count=3, inconclusive_limit=1), "running"),
        ([ERR] * 4, Limits(count=3), "running"),  # errors are not measurements taken
        ([ERR] * 5, Limits(count=3), "error"),  # consecutive_error_limit 4
        ([ERR, ERR, OK, ERR, ERR], Limits(count=3, consecutive_error_limit=2), "running"),
        ([ERR, ERR, ERR], Limits(count=3, consecutive_error_limit=2), "error"),
        ([OK, ERR, OK, OK], Limits(count=3), "successful"),
    ],
)
def test_verdict_follows_argo_rollouts(phases: list[Measurement], limits: Limits,
                                       expected: str) -> None:
    assert verdict(phases, limits) == expected


class Fleet:
    """Canned readings, one per read(); what analyse() slept."""

    def __init__(self, readings: list[dict[str, Counts]]) -> None:
        self.readings = readings
        self.slept: list[float] = []

    def read(self) -> dict[str, Counts]:
        return self.readings.pop(0)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def growing(step: float, errors: float, n: int) -> list[dict[str, Counts]]:
    return [{"app1": counts(step * i, errors * i), "app2": counts(step * i)} for i in range(n)]


def test_analyse_passes_a_good_canary_after_count_measurements() -> None:
    fleet = Fleet(growing(100, 0, 4))
    told: list[int] = []
    outcome = analyse(fleet.read, fleet.sleep, canary=["app1"], baseline=["app2"],
                      gates=Gates(), limits=Limits(count=3), interval=10,
                      report=lambda n, m: told.append(n))
    assert outcome.passed and outcome.result == "successful"
    assert fleet.slept == [10, 10, 10]
    assert told == [1, 2, 3]
    assert "analysis successful after 3 measurement(s)" in outcome.text()


def test_analyse_stops_a_bad_canary_at_its_first_measurement() -> None:
    fleet = Fleet(growing(100, 5, 4))
    outcome = analyse(fleet.read, fleet.sleep, canary=["app1"], baseline=["app2"],
                      gates=Gates(), limits=Limits(count=3), interval=10)
    assert not outcome.passed and outcome.result == "failed"
    assert len(outcome.measurements) == 1
    assert "success rate 95.00 %" in outcome.text()


def test_analyse_spans_a_missed_reading() -> None:
    # The second reading lost app1; the third window runs from the first reading.
    readings = growing(100, 0, 4)
    del readings[1]["app1"]
    fleet = Fleet(readings)
    outcome = analyse(fleet.read, fleet.sleep, canary=["app1"], baseline=["app2"],
                      gates=Gates(), limits=Limits(count=2), interval=1)
    assert [m.phase for m in outcome.measurements] == ["error", "successful", "successful"]
    assert outcome.measurements[1].requests == 200
    assert outcome.passed


def test_analyse_without_data_is_inconclusive_and_does_not_pass() -> None:
    fleet = Fleet([{"app1": counts(0)}] * 2)
    outcome = analyse(fleet.read, fleet.sleep, canary=["app1"], baseline=[], gates=Gates(),
                      limits=Limits(count=3), interval=1)
    assert outcome.result == "inconclusive" and not outcome.passed
    allowed = Limits(count=1, allow_inconclusive=True)
    fleet = Fleet([{"app1": counts(0)}] * 2)
    outcome = analyse(fleet.read, fleet.sleep, canary=["app1"], baseline=[], gates=Gates(),
                      limits=allowed, interval=1)
    assert outcome.result == "inconclusive" and outcome.passed


def test_analyse_needs_a_canary() -> None:
    with pytest.raises(ValueError, match="canary"):
        analyse(lambda: {}, lambda s: None, canary=[], baseline=[], gates=Gates(),
                limits=Limits(), interval=1)


# --- chosen KPIs (the configuration's system_kpis, held to their critical values) ---------------

SYSTEM_KPIS = {
    "latency": {"api_response_ms": {"target": 50, "critical": 200},
                "trade_execution_ms": {"target": 100, "critical": 500}},
    "reliability": {"error_rate_percentage": {"target": 0.1, "critical": 1.0}},
    "throughput": {"trades_per_second": {"target": 100, "critical": 50}},
}


def test_parse_reads_trade_execution_from_every_worker() -> None:
    text = METRICS + (
        'tragen_trade_execution_seconds_bucket{le="0.05"} 3.0\n'
        'tragen_trade_execution_seconds_bucket{le="1.0"} 4.0\n'
        'tragen_trade_execution_seconds_bucket{le="+Inf"} 4.0\n')
    assert parse(text).trades == {0.05: 3, 1.0: 4, float("inf"): 4}
    assert parse(text).requests == 100
    assert all(line.startswith(FAMILIES) for line in text.splitlines()
               if line.startswith("tragen_") and "_count" not in line)


def test_chosen_kpis_are_their_critical_values() -> None:
    kpis = chosen_kpis(["api_response_ms", "error_rate_percentage", "trade_execution_ms"],
                       SYSTEM_KPIS)
    assert kpis == Kpis(api_response_ms=200, error_rate_percentage=1.0, trade_execution_ms=500)
    assert kpis.text() == ("api_response_ms < 200, error_rate_percentage < 1, "
                           "trade_execution_ms < 500")
    assert chosen_kpis([], None) == Kpis() and Kpis().text() == ""


@pytest.mark.parametrize(("names", "problem"), [
    (["trades_per_second"], "'trades_per_second' is not a KPI a canary can be held to; choose "
                            "from api_response_ms, error_rate_percentage, trade_execution_ms"),
    (["api_response_ms"], "system_kpis.latency.api_response_ms is not in the configuration"),
])
def test_a_kpi_that_cannot_be_held_to_is_refused(names: list[str], problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("(", r"\(")):
        chosen_kpis(names, {} if names == ["api_response_ms"] else SYSTEM_KPIS)


def test_a_canary_past_a_chosen_kpi_fails_even_when_the_baseline_is_as_slow() -> None:
    slow = counts(100, fast=0, slow_bound=0.5)  # p95 between 10 and 500 ms: 475.5 ms
    kpis = Kpis(api_response_ms=200)
    assert measure(slow, slow, Gates()).phase == "successful"  # no worse than the baseline
    failed = measure(slow, slow, Gates(), kpis)
    assert failed.phase == "failed"
    assert failed.reasons == ("api_response_ms 475.5 reached its critical value 200 "
                              "(system_kpis.latency.api_response_ms)",)


def test_error_rate_and_trade_execution_kpis() -> None:
    kpis = Kpis(error_rate_percentage=0.5, trade_execution_ms=500)
    one_percent = counts(200, errors=2)
    assert measure(one_percent, None, Gates(min_success_rate=0.98), kpis).reasons == (
        "error_rate_percentage 1.0 reached its critical value 0.5 "
        "(system_kpis.reliability.error_rate_percentage)",)
    slow_trades = Counts(100, 0, {0.01: 100, float("inf"): 100},
                         {0.1: 0, 1.0: 10, float("inf"): 10})  # p95 0.955 s
    assert measure(slow_trades, None, Gates(), kpis).reasons == (
        "trade_execution_ms 955.0 reached its critical value 500 "
        "(system_kpis.latency.trade_execution_ms)",)
    # No trade in the window: trade execution is not judged.
    assert measure(counts(100), None, Gates(), kpis).phase == "successful"


def test_trade_buckets_add_up_and_count_from_a_restart() -> None:
    earlier = Counts(10, 0, {}, {0.1: 4, float("inf"): 5})
    later = Counts(30, 0, {}, {0.1: 10, float("inf"): 12})
    assert later.since(earlier).trades == {0.1: 6, float("inf"): 7}
    assert (earlier + later).trades == {0.1: 14, float("inf"): 17}
