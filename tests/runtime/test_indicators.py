import math

import pytest

from tragen_runtime import indicators as ind
from tragen_runtime.indicators import IndicatorState


def test_sma_and_ema_on_known_values() -> None:
    assert ind.sma([1, 2, 3, 4], 2) == 3.5
    assert ind.sma([1], 2) is None
    # EMA(3) seeded with SMA(1,2,3)=2, then 2 + 0.5*(4-2) = 3
    assert ind.ema([1, 2, 3, 4], 3) == 3.0


def test_rsi_extremes_and_midpoint() -> None:
    assert ind.rsi(list(range(1, 20)), 14) == 100.0
    assert ind.rsi(list(range(20, 1, -1)), 14) == 0.0
    alternating = [10, 11] * 10
    assert 40 < ind.rsi(alternating, 14) < 60  # type: ignore[operator]


def test_volatility_of_constant_growth_is_zero() -> None:
    prices = [100 * 1.01**i for i in range(30)]
    assert ind.volatility(prices, 20) == pytest.approx(0.0, abs=1e-12)


def test_incremental_state_matches_batch_functions() -> None:
    prices = [100 + 5 * math.sin(i / 7) + (i % 3) for i in range(80)]
    state = IndicatorState("X")
    for t, p in enumerate(prices):
        last = state.update(t, p)
    assert last.sma_fast == pytest.approx(ind.sma(prices, ind.SMA_FAST))
    assert last.sma_slow == pytest.approx(ind.sma(prices, ind.SMA_SLOW))
    assert last.ema_fast == pytest.approx(ind.ema(prices, ind.EMA_FAST))
    assert last.ema_slow == pytest.approx(ind.ema(prices, ind.EMA_SLOW))
    assert last.rsi_long == pytest.approx(ind.rsi(prices, ind.RSI_LONG))
    assert last.volatility == pytest.approx(ind.volatility(prices, ind.VOL_WINDOW))
    assert last.prev_sma_fast == pytest.approx(ind.sma(prices[:-1], ind.SMA_FAST))
