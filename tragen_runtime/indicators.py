"""Technical indicators, computed incrementally once per symbol per tick.

`IndicatorState` keeps the few numbers each indicator needs, so adding a close costs O(1)
apart from the rolling volatility window; `Indicators` is the immutable record every agent
watching that symbol reads in the same tick.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

SMA_FAST, SMA_SLOW = 20, 50
EMA_FAST, EMA_SLOW = 5, 12
RSI_SHORT, RSI_LONG = 7, 14
VOL_WINDOW = 20


@dataclass(frozen=True, slots=True)
class Indicators:
    """Indicator values of one symbol after one tick (None until enough history)."""

    symbol: str
    tick: int
    price: float
    sma_fast: float | None
    sma_slow: float | None
    prev_sma_fast: float | None
    prev_sma_slow: float | None
    ema_fast: float | None
    ema_slow: float | None
    prev_ema_fast: float | None
    prev_ema_slow: float | None
    rsi_short: float | None
    rsi_long: float | None
    volatility: float | None

    def as_dict(self) -> dict[str, float | int | str | None]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def sma(values: Iterable[float], window: int) -> float | None:
    """Simple moving average of the last `window` values (None if fewer)."""
    data = list(values)
    if window <= 0 or len(data) < window:
        return None
    return sum(data[-window:]) / window


def ema(values: Iterable[float], window: int) -> float | None:
    """Exponential moving average seeded with the SMA of the first `window` values."""
    data = list(values)
    if window <= 0 or len(data) < window:
        return None
    alpha = 2.0 / (window + 1)
    value = sum(data[:window]) / window
    for price in data[window:]:
        value += alpha * (price - value)
    return value


def rsi(values: Iterable[float], window: int) -> float | None:
    """Wilder's relative strength index over `window` changes (None if too short)."""
    data = list(values)
    if window <= 0 or len(data) <= window:
        return None
    state = _Rsi(window)
    result: float | None = None
    for prev, cur in zip(data, data[1:], strict=False):
        result = state.add(cur - prev)
    return result


def volatility(values: Iterable[float], window: int) -> float | None:
    """Sample standard deviation of the last `window` log returns."""
    data = list(values)
    if window < 2 or len(data) <= window:
        return None
    tail = data[-(window + 1) :]
    returns = [math.log(b / a) for a, b in zip(tail, tail[1:], strict=False)]
    return _stdev(returns)


def _stdev(values: list[float]) -> float:
    n = len(values)
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


class _Rsi:
    __slots__ = ("window", "count", "avg_gain", "avg_loss", "_gain_sum", "_loss_sum")

    def __init__(self, window: int) -> None:
        self.window = window
        self.count = 0
        self.avg_gain = 0.0
        self.avg_loss = 0.0
        self._gain_sum = 0.0
        self._loss_sum = 0.0

    def add(self, change: float) -> float | None:
        gain, loss = max(change, 0.0), max(-change, 0.0)
        self.count += 1
        if self.count < self.window:
            self._gain_sum += gain
            self._loss_sum += loss
            return None
        if self.count == self.window:
            self.avg_gain = (self._gain_sum + gain) / self.window
            self.avg_loss = (self._loss_sum + loss) / self.window
        else:
            self.avg_gain = (self.avg_gain * (self.window - 1) + gain) / self.window
            self.avg_loss = (self.avg_loss * (self.window - 1) + loss) / self.window
        if self.avg_loss == 0.0:
            return 100.0 if self.avg_gain > 0 else 50.0
        return 100.0 - 100.0 / (1.0 + self.avg_gain / self.avg_loss)


class _Ema:
    __slots__ = ("window", "alpha", "value", "_seed")

    def __init__(self, window: int) -> None:
        self.window = window
        self.alpha = 2.0 / (window + 1)
        self.value: float | None = None
        self._seed: list[float] = []

    def add(self, price: float) -> float | None:
        if self.value is None:
            self._seed.append(price)
            if len(self._seed) == self.window:
                self.value = sum(self._seed) / self.window
                self._seed = []
            return self.value
        self.value += self.alpha * (price - self.value)
        return self.value


class IndicatorState:
    """Running indicator state of one symbol; `update` adds one close and returns the record."""

    __slots__ = (
        "symbol",
        "_closes",
        "_sum_fast",
        "_sum_slow",
        "_ema_fast",
        "_ema_slow",
        "_rsi_short",
        "_rsi_long",
        "_last",
        "_rsi_s",
        "_rsi_l",
    )

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self._closes: deque[float] = deque(maxlen=SMA_SLOW + 1)
        self._sum_fast = 0.0
        self._sum_slow = 0.0
        self._ema_fast = _Ema(EMA_FAST)
        self._ema_slow = _Ema(EMA_SLOW)
        self._rsi_short = _Rsi(RSI_SHORT)
        self._rsi_long = _Rsi(RSI_LONG)
        self._rsi_s: float | None = None
        self._rsi_l: float | None = None
        self._last: Indicators | None = None

    @property
    def last(self) -> Indicators | None:
        return self._last

    def update(self, tick: int, price: float) -> Indicators:
        closes = self._closes
        if closes:
            change = price - closes[-1]
            self._rsi_s = self._rsi_short.add(change)
            self._rsi_l = self._rsi_long.add(change)
        closes.append(price)
        n = len(closes)
        window = list(closes)
        sma_fast = sum(window[-SMA_FAST:]) / SMA_FAST if n >= SMA_FAST else None
        sma_slow = sum(window[-SMA_SLOW:]) / SMA_SLOW if n >= SMA_SLOW else None
        prev = self._last
        ind = Indicators(
            symbol=self.symbol,
            tick=tick,
            price=price,
            sma_fast=sma_fast,
            sma_slow=sma_slow,
            prev_sma_fast=prev.sma_fast if prev else None,
            prev_sma_slow=prev.sma_slow if prev else None,
            ema_fast=self._ema_fast.add(price),
            ema_slow=self._ema_slow.add(price),
            prev_ema_fast=prev.ema_fast if prev else None,
            prev_ema_slow=prev.ema_slow if prev else None,
            rsi_short=self._rsi_s,
            rsi_long=self._rsi_l,
            volatility=volatility(window, VOL_WINDOW),
        )
        self._last = ind
        return ind
