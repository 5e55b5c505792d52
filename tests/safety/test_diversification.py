"""Shares of agents per strategy and timeframe, the cap on active agents, correlation."""

from __future__ import annotations

import math

import pytest

from tragen_runtime.agents import AgentSpec, build_agents
from tragen_runtime.safety.diversification import (
    allowed,
    cap_active,
    correlated_with,
    counts_by_strategy,
    counts_by_timeframe,
    diversification_problems,
    pearson,
    pools_by_timeframe,
    share_problems,
    timeframe_of,
)


def pool(name: str, template: str, style: str, size: int, minimum: int) -> list[AgentSpec]:
    return [
        AgentSpec(
            agent_id=f"{name}-{rank:04d}",
            pool=name,
            template=template,
            style=style,
            risk_tolerance=5,
            max_trades_per_day=5,
            symbol="AAPL",
            pool_rank=rank,
            pool_min=minimum,
            scale_metric="market_volatility" if size > minimum else None,
        )
        for rank in range(1, size + 1)
    ]


# -- timeframes ------------------------------------------------------------------------------


def test_each_style_has_its_timeframe() -> None:
    assert timeframe_of("scalper") == "intraday"
    assert timeframe_of("swing_trader") == "days"
    assert timeframe_of("conservative") == "weeks"
    with pytest.raises(ValueError, match="unknown analysis style 'daytrader'"):
        timeframe_of("daytrader")


def test_counts_follow_templates_and_styles() -> None:
    specs = (
        pool("a", "scalp", "scalper", 3, 3)
        + pool("b", "scalp", "scalper", 2, 2)
        + pool("c", "calm", "conservative", 1, 1)
    )
    assert counts_by_strategy(specs) == {"scalp": 5, "calm": 1}
    assert counts_by_timeframe(specs) == {"intraday": 5, "weeks": 1}
    assert pools_by_timeframe(specs) == {"intraday": ["a", "b"], "weeks": ["c"]}


# -- shares ----------------------------------------------------------------------------------


def test_allowed_uses_the_limit_as_written() -> None:
    assert 0.57 * 100 < 57 and 0.29 * 100 < 29  # what float arithmetic alone would say
    assert allowed(0.3, 100) == 30
    assert allowed(0.57, 100) == 57
    assert allowed(0.29, 100) == 29
    assert allowed(0.4, 5) == 2
    assert allowed(0.3, 5) == 1
    assert allowed(0.0, 100) == 0
    assert allowed(1.0, 7) == 7


def test_problems_name_the_group_its_share_and_the_limit() -> None:
    problems = diversification_problems(
        {"scalping_template": 50, "swing_trading_template": 30, "conservative_template": 20},
        {"intraday": 50, "days": 30, "weeks": 20},
        0.3,
        0.4,
    )
    assert problems == [
        "expected at most 30 of 100 agents per strategy (max_agents_per_strategy 30 %), "
        "found scalping_template with 50 (50 %)",
        "expected at most 40 of 100 agents per timeframe (max_agents_per_timeframe 40 %), "
        "found intraday with 50 (50 %)",
    ]


def test_a_share_equal_to_the_limit_passes() -> None:
    assert diversification_problems({"a": 30, "b": 70}, {"x": 40, "y": 60}, 0.7, 0.6) == []
    assert diversification_problems({"a": 30, "b": 70}, {}, 0.69, None) == [
        "expected at most 69 of 100 agents per strategy (max_agents_per_strategy 69 %), "
        "found b with 70 (70 %)"
    ]


def test_no_limit_or_no_agents_judges_nothing() -> None:
    assert diversification_problems({"a": 10}, {"x": 10}, None, None) == []
    assert diversification_problems({}, {}, 0.3, 0.4) == []
    assert share_problems({"a": 0}, 0.3, "max_agents_per_strategy") == []


def test_share_problems_name_the_pools() -> None:
    problems = share_problems(
        {"intraday": 2, "weeks": 1},
        0.5,
        "max_agents_per_timeframe",
        {"intraday": ["scalping", "momentum"]},
    )
    assert problems == [
        "expected at most 1 of 3 agents per timeframe (max_agents_per_timeframe 50 %), "
        "found intraday with 2 (66.7 %, pools scalping, momentum)"
    ]


# -- the cap on active agents ----------------------------------------------------------------

FLEET = (
    pool("a", "alpha", "scalper", 10, 2)
    + pool("b", "beta", "scalper", 10, 2)
    + pool("c", "calm", "conservative", 10, 10)
)


def test_ranks_within_the_shares_are_kept() -> None:
    ranks = {"a": 9, "b": 9, "c": 10}
    assert cap_active(FLEET, ranks, 0.3, 0.6) == ranks
    assert cap_active(FLEET, {"a": 10, "b": 10, "c": 10}, None, None) == {"a": 10, "b": 10, "c": 10}


def test_strategies_then_timeframes_are_capped_one_agent_at_a_time() -> None:
    # fleet 30: at most 9 per strategy (0.3), 15 per timeframe (0.5)
    capped = cap_active(FLEET, {"a": 10, "b": 10, "c": 10}, 0.3, 0.5)
    # a and b lose one each (strategy), then intraday 18 > 15 loses three: a (7 standby v 7,
    # first by name), b (7 v 6), a (6 v 6, first by name)
    assert capped == {"a": 7, "b": 8, "c": 10}


def test_the_share_is_of_the_fleet_not_of_the_active_agents() -> None:
    # only pool a works (2 base agents): 100 % of the active agents, but 2 of 30 of the fleet
    assert cap_active(FLEET, {"a": 2, "b": 2, "c": 10}, 0.3, 0.5) == {"a": 2, "b": 2, "c": 10}
    # an explicit fleet size (the whole fleet when specs are a worker's share)
    assert cap_active(FLEET, {"a": 10, "b": 2, "c": 10}, 0.3, None, fleet_size=20) == {
        "a": 6,
        "b": 2,
        "c": 10,
    }


def test_agents_a_pool_always_runs_are_never_held_back() -> None:
    # c (10 base agents, a third of the fleet) is over 0.3 and has no standby agents to hold
    assert cap_active(FLEET, {"a": 2, "b": 2, "c": 10}, 0.2, None) == {"a": 2, "b": 2, "c": 10}
    # a's base agents stay even when the cap would want fewer
    assert cap_active(FLEET, {"a": 10, "b": 2, "c": 10}, 0.05, None) == {"a": 2, "b": 2, "c": 10}


def test_a_pool_missing_from_the_ranks_counts_in_full() -> None:
    assert cap_active(FLEET, {"b": 2, "c": 10}, 0.3, None) == {"a": 9, "b": 2, "c": 10}


def test_ranks_above_the_pool_are_lowered_from_its_last_agent() -> None:
    assert cap_active(FLEET, {"a": 50, "b": 2, "c": 10}, 0.3, None) == {"a": 9, "b": 2, "c": 10}


def test_the_enterprise_like_fleet_is_capped_against_its_built_agents() -> None:
    config = {
        "production": {"max_agents": 100},
        "agent_pools": {
            "strategy_pools": {
                "scalping": {
                    "min_agents": 10,
                    "max_agents": 50,
                    "auto_scale": True,
                    "scale_metric": "market_volatility",
                },  # fmt: skip
                "conservative": {"min_agents": 50, "max_agents": 50},
            }
        },
    }
    specs = build_agents(config, ["AAPL"])
    assert len(specs) == 100
    assert cap_active(specs, {"scalping": 50, "conservative": 50}, 0.3, None) == {
        "scalping": 30,
        "conservative": 50,
    }


# -- correlation -----------------------------------------------------------------------------


def test_pearson_is_exact_on_known_series() -> None:
    assert pearson([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]) == pytest.approx(1.0)
    assert pearson([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    assert pearson([1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 4.0]) == pytest.approx(0.8)
    assert pearson([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) is None  # flat
    assert pearson([1.0], [1.0]) is None
    assert pearson([1.0, 2.0], [1.0, 2.0, 3.0]) is None


WAVE = [math.sin(i / 3) / 100 for i in range(40)]


def test_the_most_correlated_active_agent_above_the_limit_is_named() -> None:
    active = {
        "a-0001": [-x for x in WAVE],  # -1
        "b-0001": [x * 2 + 0.001 for x in WAVE],  # +1
        "c-0001": [x + (0.004 if i % 2 else -0.004) for i, x in enumerate(WAVE)],  # below 1
    }
    assert correlated_with(WAVE, active, 0.7) == "b-0001"
    assert correlated_with(WAVE, {"c-0001": active["c-0001"]}, 0.7) == "c-0001"
    assert correlated_with(WAVE, {"a-0001": active["a-0001"]}, 0.7) is None  # negative passes
    rho = pearson(WAVE, active["c-0001"])
    assert rho is not None and 0.7 < rho < 1
    assert correlated_with(WAVE, {"c-0001": active["c-0001"]}, rho) is None  # equal passes


def test_short_series_never_hold_back() -> None:
    assert correlated_with(WAVE[:19], {"b": WAVE}, 0.7) is None
    assert correlated_with(WAVE, {"b": WAVE[:19]}, 0.7) is None
    # compared over the last 20 points of each: the mirrored start of b does not count
    mirrored_start = [-x for x in WAVE[:20]] + WAVE[20:]
    assert correlated_with(WAVE[-20:], {"b": mirrored_start}, 0.7) == "b"
    assert correlated_with(WAVE[-20:], {"b": mirrored_start[:20]}, 0.7) is None
    assert correlated_with(WAVE[:5], {"b": WAVE[:5]}, 0.7, min_points=5) == "b"
    assert correlated_with([], {}, 0.7) is None


def test_flat_returns_never_hold_back() -> None:
    assert correlated_with([0.0] * 30, {"b": [0.0] * 30}, 0.0) is None
    assert correlated_with(WAVE, {"b": [0.01] * 40}, -1.0) is None
