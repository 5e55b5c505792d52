"""The fleet's figures and the pre-trade checks, with exact arithmetic."""

from __future__ import annotations

import math

import pytest

from tragen_runtime.safety import figures as fig
from tragen_runtime.safety.config import SafetyConfig
from tragen_runtime.safety.judge import BreakerState
from tragen_runtime.safety.orders import Order, SafetyView, portfolio_risk_refusal, refusal

from .test_judge import GUIDE

CONFIG = SafetyConfig.from_config(GUIDE)


def test_equity_and_open_risk_at_market_prices_or_cost_while_there_is_none() -> None:
    holdings = [fig.Holding("a", "X", 10, 100.0, 0.02), fig.Holding("b", "Y", 2, 50.0, 0.1)]
    equities = fig.agent_equities({"a": 1000.0, "b": 500.0, "c": 7.0}, holdings, {"X": 90.0})
    assert equities == {"a": 1900.0, "b": 600.0, "c": 7.0}  # Y has no price: its cost basis
    assert fig.open_risk(holdings, {"X": 90.0}) == pytest.approx(10 * 90 * 0.02 + 2 * 50 * 0.1)


def test_losses_against_their_references() -> None:
    assert fig.total_loss(0.0, -6_000.0, 100_000.0) == pytest.approx(0.06)
    assert fig.total_loss(-6_000.0, -7_000.0, 100_000.0) == pytest.approx(0.01)
    assert fig.total_loss(0.0, 5_000.0, 100_000.0) == 0.0
    # the day began 10,000 up: a fall to +4,500 is 5,500 of 110,000 = 5 %
    assert fig.period_loss(10_000.0, 4_500.0, 100_000.0) == pytest.approx(0.05)
    assert fig.period_loss(0.0, 0.0, 0.0) == 0.0


def test_failure_rate_needs_enough_calls() -> None:
    assert fig.failure_rate(19, 19) == 0.0
    assert fig.failure_rate(20, 2) == pytest.approx(0.1)


def test_mean_pairwise_correlation_matches_the_pairwise_definition() -> None:
    a = [math.sin(t / 3) for t in range(40)]
    b = [math.sin(t / 3) * 2 + 0.1 for t in range(40)]  # perfectly correlated with a
    c = [math.cos(t * 1.7) for t in range(40)]
    flat = [0.0] * 40
    got = fig.mean_pairwise_correlation({"a": a, "b": b, "c": c, "flat": flat}, min_agents=3)

    def pearson(x: list[float], y: list[float]) -> float:
        mx, my = sum(x) / len(x), sum(y) / len(y)
        cov = sum((p - mx) * (q - my) for p, q in zip(x, y, strict=True))
        return cov / math.sqrt(sum((p - mx) ** 2 for p in x) * sum((q - my) ** 2 for q in y))

    want = (pearson(a, b) + pearson(a, c) + pearson(b, c)) / 3
    assert got == pytest.approx(want)
    assert fig.mean_pairwise_correlation({"a": a, "b": b}, min_agents=2) == pytest.approx(1.0)
    assert fig.mean_pairwise_correlation({"a": a[:5], "b": b[:5]}, min_agents=2) is None
    assert fig.mean_pairwise_correlation({"a": a, "flat": flat}, min_agents=2) is None
    assert fig.mean_pairwise_correlation({"a": a, "b": b, "c": c}) is None  # 5 must move


def test_aligned_returns_keep_agents_sampled_every_time() -> None:
    samples = [(1.0, "a", 100.0), (2.0, "a", 110.0), (1.0, "b", 50.0), (2.0, "b", 50.0),
               (2.0, "late", 10.0)]
    assert fig.aligned_returns(samples) == {"a": pytest.approx([0.1]), "b": [0.0]}


def test_periods_are_utc_days_and_months() -> None:
    p = fig.periods(1_801_000_000.0)  # 2027-01-26T21:46:40Z
    assert (p.day, p.month) == ("2027-01-26", "2027-01")
    assert p.day_ends == 1_801_008_000.0  # 2027-01-27T00:00:00Z
    assert p.month_ends == 1_801_440_000.0  # 2027-02-01T00:00:00Z


def _view(**tripped: float) -> SafetyView:
    states = {name: BreakerState(name, tripped_at=1.0, trip_id=int(trip))
              for name, trip in tripped.items()}
    return SafetyView.from_states(CONFIG, states, None, 1_000_000.0, "s1/")


def _order(**changes: object) -> Order:
    base: dict[str, object] = {"opening": True, "notional": 1000.0, "risk": 20.0,
                               "agent_equity": 100_000.0, "agent_loss": 0.0,
                               "risk_tolerance": 4}
    base.update(changes)
    return Order(**base)  # type: ignore[arg-type]


def test_view_from_states() -> None:
    view = _view(total_loss=3, position_reduction=4, correlation_spike=2)
    assert view.blocking == ("total_loss", "correlation_spike", "position_reduction")
    assert view.reduction == (4, 0.5) and not view.halted and view.loaded
    assert _view(auto_halt=1).halted
    halted = SafetyView.from_states(CONFIG, {}, "drill", 0.0, "s1/")
    assert halted.halted and "operator halt-all: drill" in halted.halt_reason


def test_memory_scale_down_only_on_the_servers_over_the_threshold() -> None:
    states = {"memory_usage": BreakerState("memory_usage", tripped_at=1.0, detail="s1/ s3/")}
    assert SafetyView.from_states(CONFIG, states, None, 0.0, "s1/").scale_down == 0.8
    assert SafetyView.from_states(CONFIG, states, None, 0.0, "s2/").scale_down == 1.0


def test_refusals_name_their_rule() -> None:
    assert refusal(_view(), CONFIG, _order()) is None
    assert "fleet halted" in (refusal(_view(auto_halt=1), CONFIG, _order(opening=False)) or "")
    assert refusal(_view(total_loss=1), CONFIG, _order(opening=False)) is None  # exits go out
    assert "total_loss tripped" in (refusal(_view(total_loss=1), CONFIG, _order()) or "")
    assert "agent_shutdown_threshold" in (refusal(_view(), CONFIG, _order(agent_loss=0.03))
                                          or "")


def test_the_notional_cap_applies_with_additional_safety_checks_only() -> None:
    strict = SafetyConfig.from_config({**GUIDE, "agents": {"additional_safety_checks": True}})
    big = _order(notional=20_000.01)  # 4 x 5 % of 100,000 = 20,000
    assert refusal(_view(), CONFIG, big) is None
    assert "per-order cap 20000.00" in (refusal(_view(), strict, big) or "")
    assert refusal(_view(), strict, _order(notional=20_000.0)) is None


def test_total_portfolio_risk_counts_the_order() -> None:
    # 2 % of 1,000,000 is 20,000 of risk: 19,990 open + 10 fits, + 10.01 does not
    assert portfolio_risk_refusal(CONFIG, 19_990.0, 10.0, 1_000_000.0) is None
    reason = portfolio_risk_refusal(CONFIG, 19_990.0, 10.01, 1_000_000.0)
    assert reason is not None and "total_portfolio_risk 2.00%" in reason
