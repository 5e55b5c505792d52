from collections import Counter
from typing import Any

import pytest

from tragen_runtime.agents import DEFAULT_TEMPLATES, build_agents
from tragen_runtime.indicators import IndicatorState
from tragen_runtime.market import MarketFeed, Simulator
from tragen_runtime.strategies import STRATEGIES, strategy_for

# The guide's three templates, as the runtime ships them.
TEMPLATES = DEFAULT_TEMPLATES


def _count_entries(style: str, ticks: int = 3000) -> int:
    sim = Simulator(seed=3, symbols=("A",))
    state = IndicatorState("A")
    strategy = strategy_for(style)
    qty, entry, entries = 0.0, 0.0, 0
    for t in range(ticks):
        ind = state.update(t, sim.price("A", t))
        sig = strategy(ind, qty, entry)
        if sig.action == "buy" and qty == 0:
            qty, entry, entries = 1.0, ind.price, entries + 1
        elif sig.action == "sell" and qty > 0:
            qty = 0.0
    return entries


def test_styles_trade_at_different_frequencies() -> None:
    counts = {style: _count_entries(style) for style in STRATEGIES}
    assert counts["scalper"] > counts["swing_trader"] >= counts["conservative"]
    assert counts["scalper"] > 10


def test_no_signal_while_warming_up() -> None:
    state = IndicatorState("A")
    ind = state.update(0, 100.0)
    assert all(s(ind, 0.0, 0.0).action == "hold" for s in STRATEGIES.values())
    with pytest.raises(ValueError, match="unknown analysis style"):
        strategy_for("yolo")


def test_small_portfolio_pools_map_to_templates() -> None:
    config = {"production": {"max_agents": 25},
              "agent_pools": {"conservative": 10, "balanced": 10, "aggressive": 5},
              "agent_templates": TEMPLATES}
    specs = build_agents(config, ["A", "B"])
    assert len(specs) == 25
    styles = Counter(s.style for s in specs)
    assert styles == {"conservative": 10, "swing_trader": 10, "scalper": 5}
    assert len({s.agent_id for s in specs}) == 25
    assert {s.symbol for s in specs} == {"A", "B"}


def test_strategy_pools_and_cap() -> None:
    config = {"production": {"max_agents": 12},
              "agent_pools": {"strategy_pools": {
                  "scalping": {"min_agents": 10, "max_agents": 50},
                  "swing_trading": {"min_agents": 5, "max_agents": 20}},
                  "performance_pools": {"testing": {"allocation": "20%"}}}}
    specs = build_agents(config, ["A"])
    assert len(specs) == 12
    assert Counter(s.style for s in specs) == {"scalper": 10, "swing_trader": 2}
    assert specs[0].max_trades_per_day == 50 and specs[0].risk_tolerance == 7


def test_without_pools_agents_cycle_templates_up_to_max() -> None:
    specs = build_agents({"production": {"max_agents": 5}, "agents": {"max_count": 4}}, ["A"])
    assert len(specs) == 4
    assert {s.style for s in specs} == {"scalper", "swing_trader", "conservative"}


def test_feed_shares_indicator_objects_between_agents() -> None:
    feed = MarketFeed(Simulator(symbols=("A",)))
    snap = feed.advance(500)
    assert snap["A"] is feed.snapshot()["A"]


def test_auto_scaling_pools_get_standby_agents_up_to_the_cap() -> None:
    config: dict[str, Any] = {"production": {"max_agents": 1000},
              "agent_pools": {"strategy_pools": {
                  "conservative": {"min_agents": 100, "max_agents": 200, "auto_scale": False},
                  "scalping": {"min_agents": 200, "max_agents": 500, "auto_scale": True,
                               "scale_metric": "market_volatility"},
                  "swing_trading": {"min_agents": 100, "max_agents": 300, "auto_scale": True,
                                    "scale_metric": "trend_strength"}}}}
    specs = build_agents(config, ["A"])
    assert len(specs) == 900
    assert Counter(s.pool for s in specs) == {"conservative": 100, "scalping": 500,
                                               "swing_trading": 300}
    config["production"]["max_agents"] = 650  # 250 of room for 500 standby: shared 3:2
    assert Counter(s.pool for s in build_agents(config, ["A"])) == {
        "conservative": 100, "scalping": 350, "swing_trading": 200}


def test_standby_agents_work_with_the_scale_metric() -> None:
    from tragen_runtime.engine import active_ranks

    config = {"production": {"max_agents": 100}, "agent_pools": {"strategy_pools": {
        "scalping": {"min_agents": 10, "max_agents": 50, "auto_scale": True,
                     "scale_metric": "market_volatility"},
        "conservative": {"min_agents": 5, "max_agents": 5}}}}
    specs = build_agents(config, ["A"])
    calm = active_ranks(specs, {"market_volatility": 0.0})
    wild = active_ranks(specs, {"market_volatility": 1.0})
    half = active_ranks(specs, {"market_volatility": 0.5})
    assert calm == {"scalping": 10, "conservative": 5}
    assert wild == {"scalping": 50, "conservative": 5} and half["scalping"] == 30
