"""Diversification while the fleet runs: capped auto-scaling and correlated openings."""

from __future__ import annotations

import math

from tragen_runtime.agents import AgentSpec
from tragen_runtime.safety.activation import RETURNS_WINDOW, ActivationGuard
from tragen_runtime.safety.diversification import cap_active


def _spec(agent: str, pool: str, symbol: str, rank: int = 1, pool_min: int = 1,
          template: str = "t", style: str = "scalper") -> AgentSpec:
    return AgentSpec(agent, pool, template, style, 5, 10, symbol, rank, pool_min, "vol")


SPECS = [_spec("p-1", "p", "AAPL"), _spec("p-2", "p", "AAPL"), _spec("p-3", "p", "MSFT"),
         _spec("q-1", "q", "AAPL")]


def _market(guard: ActivationGuard, ticks: int = RETURNS_WINDOW + 1) -> None:
    for n in range(ticks):  # AAPL and NVDA move together, MSFT against them
        wave = math.sin(n / 3)
        guard.observe({"AAPL": 100 + wave, "NVDA": 50 + wave / 2, "MSFT": 100 - wave,
                       "FLAT": 10.0})


def test_a_pool_holds_one_of_what_moves_together() -> None:
    guard = ActivationGuard(SPECS, None, None, correlation_limit=0.7)
    _market(guard)
    guard.holdings([("p-1", "p", "AAPL")])
    reason = guard.refusal(SPECS[1])
    assert reason == ("correlation_limits: AAPL returns correlate 1.00 > 0.7 with p-1 (AAPL) "
                      "of pool p, which holds a position")
    assert guard.refusal(SPECS[2]) is None  # MSFT moves the other way
    assert guard.refusal(SPECS[3]) is None  # another pool
    assert guard.refusal(SPECS[0]) is None  # itself
    nvda = _spec("p-4", "p", "NVDA")
    assert guard.refusal(nvda) is not None and "with p-1 (AAPL)" in str(guard.refusal(nvda))
    guard.closed(SPECS[0])
    assert guard.refusal(SPECS[1]) is None
    guard.opened(SPECS[1])  # this worker's own opening counts at once, before the next round
    assert guard.refusal(SPECS[0]) is not None


def test_too_few_or_flat_returns_and_no_limit_hold_nothing_back() -> None:
    guard = ActivationGuard(SPECS, None, None, correlation_limit=0.7)
    _market(guard, ticks=10)  # 9 returns < the 20 a correlation needs
    guard.holdings([("p-1", "p", "AAPL")])
    assert guard.refusal(SPECS[1]) is None
    flat = ActivationGuard([_spec("f-1", "f", "FLAT"), _spec("f-2", "f", "FLAT")], None, None,
                           0.7)
    _market(flat)
    flat.holdings([("f-1", "f", "FLAT")])
    assert flat.refusal(_spec("f-2", "f", "FLAT")) is None
    unlimited = ActivationGuard(SPECS, None, None, None)
    _market(unlimited)
    unlimited.holdings([("p-1", "p", "AAPL")])
    assert unlimited.refusal(SPECS[1]) is None


def test_the_cap_is_cap_active_and_remembered() -> None:
    specs = ([_spec(f"s-{n}", "s", "AAPL", n, 2, "scalp") for n in range(1, 7)]
             + [_spec(f"w-{n}", "w", "AAPL", n, 4, "swing", "swing_trader")
                for n in range(1, 5)])
    guard = ActivationGuard(specs, 0.5, None, None)
    ranks = {"s": 6, "w": 4}
    assert guard.cap(ranks) == cap_active(specs, ranks, 0.5, None) == {"s": 5, "w": 4}
    assert guard.cap(ranks) == {"s": 5, "w": 4}
    assert ActivationGuard(specs, None, None, None).cap(ranks) == ranks


def test_from_config_reads_the_diversification_block() -> None:
    guard = ActivationGuard.from_config({"portfolio_risk": {"diversification": {
        "max_agents_per_strategy": 0.3, "correlation_limits": 0.7}}}, SPECS)
    assert guard.correlation_limit == 0.7
    assert ActivationGuard.from_config({}, SPECS).correlation_limit is None
