"""Trading strategies, one per analysis style, as pure functions of shared indicators.

- scalper: short EMA crossover (5/12) filtered by a short RSI, small take-profit and stop.
- swing_trader: trend following on SMA 20/50 with an RSI entry band, wide stop.
- conservative: buys only pullbacks (RSI 14 oversold) inside an up-trend in calm markets,
  tight stop; it trades rarely by construction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from tragen_runtime.indicators import Indicators

Action = Literal["buy", "sell", "hold"]
STYLES = ("scalper", "swing_trader", "conservative")


@dataclass(frozen=True, slots=True)
class Signal:
    action: Action
    strength: float  # 0..1, scales the position size of a buy
    reason: str
    stop_distance: float  # fraction of price the strategy is willing to lose per unit


HOLD_WARMUP = Signal("hold", 0.0, "warming up", 0.0)


def _crossed_up(a: float | None, b: float | None, pa: float | None, pb: float | None) -> bool:
    return None not in (a, b, pa, pb) and pa <= pb and a > b  # type: ignore[operator]


def _crossed_down(a: float | None, b: float | None, pa: float | None, pb: float | None) -> bool:
    return None not in (a, b, pa, pb) and pa >= pb and a < b  # type: ignore[operator]


def _exit(ind: Indicators, entry: float, take: float, stop: float) -> Signal | None:
    change = ind.price / entry - 1.0
    if change >= take:
        return Signal("sell", 1.0, f"take profit {change:.2%}", stop)
    if change <= -stop:
        return Signal("sell", 1.0, f"stop loss {change:.2%}", stop)
    return None


def scalper(ind: Indicators, position_qty: float, entry_price: float) -> Signal:
    stop = max(0.002, 1.5 * (ind.volatility or 0.0))
    if ind.ema_fast is None or ind.ema_slow is None or ind.rsi_short is None:
        return HOLD_WARMUP
    if position_qty > 0:
        done = _exit(ind, entry_price, take=0.004, stop=stop)
        if done:
            return done
        if _crossed_down(ind.ema_fast, ind.ema_slow, ind.prev_ema_fast, ind.prev_ema_slow):
            return Signal("sell", 1.0, "EMA 5/12 crossed down", stop)
        return Signal("hold", 0.0, "in position", stop)
    if (
        _crossed_up(ind.ema_fast, ind.ema_slow, ind.prev_ema_fast, ind.prev_ema_slow)
        and ind.rsi_short < 70
    ):
        return Signal("buy", min(1.0, (70 - ind.rsi_short) / 40), "EMA 5/12 crossed up", stop)
    return Signal("hold", 0.0, "no crossover", stop)


def swing_trader(ind: Indicators, position_qty: float, entry_price: float) -> Signal:
    stop = max(0.03, 3 * (ind.volatility or 0.0))
    if ind.sma_fast is None or ind.sma_slow is None or ind.rsi_long is None:
        return HOLD_WARMUP
    uptrend = ind.sma_fast > ind.sma_slow
    if position_qty > 0:
        done = _exit(ind, entry_price, take=0.08, stop=stop)
        if done:
            return done
        if not uptrend:
            return Signal("sell", 1.0, "SMA 20 fell below SMA 50", stop)
        return Signal("hold", 0.0, "riding trend", stop)
    if uptrend and ind.price > ind.sma_fast and 40 <= ind.rsi_long <= 65:
        strength = min(1.0, (ind.sma_fast / ind.sma_slow - 1.0) * 100)
        return Signal("buy", max(0.2, strength), "up-trend, RSI in entry band", stop)
    return Signal("hold", 0.0, "no trend entry", stop)


def conservative(ind: Indicators, position_qty: float, entry_price: float) -> Signal:
    stop = 0.01
    if (
        ind.sma_fast is None
        or ind.sma_slow is None
        or ind.rsi_long is None
        or ind.volatility is None
    ):
        return HOLD_WARMUP
    if position_qty > 0:
        done = _exit(ind, entry_price, take=0.02, stop=stop)
        return done or Signal("hold", 0.0, "waiting for target", stop)
    calm = ind.volatility < 0.004
    if ind.sma_fast > ind.sma_slow and ind.rsi_long < 35 and calm:
        return Signal("buy", 0.5, "pullback in calm up-trend", stop)
    return Signal("hold", 0.0, "conditions not met", stop)


Strategy = Callable[[Indicators, float, float], Signal]
STRATEGIES: dict[str, Strategy] = {
    "scalper": scalper,
    "swing_trader": swing_trader,
    "conservative": conservative,
}


def strategy_for(style: str) -> Strategy:
    try:
        return STRATEGIES[style]
    except KeyError:
        raise ValueError(f"unknown analysis style {style!r}; expected one of {STYLES}") from None
