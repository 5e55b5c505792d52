"""Market data: a deterministic seeded simulator and an OHLCV CSV replay.

Both are pure functions of (symbol, tick): every worker of every server sees the same price
at the same tick, so an agent that moves between workers continues on the same series.
`MarketFeed` turns ticks into shared `Indicators`, computed once per symbol per tick.

Scenarios (`runtime.market.scenario`, simulator only) shape the simulator's prices so tests and
drills can drive the circuit breakers. A tick is `int(unix_time // tick_interval)` (the
engine's clock), so the scenario starts at tick `scenario_start_tick(scenario_starts_at,
tick_interval)` and `n = tick - start` counts ticks since then. Before the start (n < 0), and
always with `none`, the price is the plain simulator's, bit for bit. From the start on the
price is the simulator's times `scenario_factor(scenario, n)`:

- `rise_crash_recovery`: 1 + 0.05·n/30 for 0 <= n <= 30 (a 5 % rise), then down linearly to
  0.70 at n = 40 (a crash to 30 % below the start), 0.70 until n = 70, then up linearly to
  1.00 at n = 130 and 1.00 after that.
- `crash`: 1 - 0.03·n for 0 <= n <= 10, then 0.70 for good.
- `correlated`: exp(W(n)) with one walk W common to every symbol, and each symbol's own tick
  noise dropped, so per-tick moves are market-wide and agents' returns correlate strongly.
  W(n) is the sum of the last CORRELATED_WINDOW hashed steps (uniform in ±CORRELATED_STEP)
  of ticks 0..n since the start: a random walk over any horizon shorter than the window,
  bounded over long ones, and computable from n alone.

Every factor is a pure function of (scenario, n), so every worker of every server computes the
same price at the same tick.
"""

from __future__ import annotations

import csv
import functools
import math
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, Protocol, get_args

from tragen_runtime.indicators import SMA_SLOW, Indicators, IndicatorState

DEFAULT_SYMBOLS = ("AAPL", "MSFT", "NVDA", "BTC-USD", "ETH-USD", "EUR-USD")
_MASK = (1 << 64) - 1
WARMUP_TICKS = SMA_SLOW + 10

Scenario = Literal["none", "rise_crash_recovery", "crash", "correlated"]
SCENARIOS: tuple[str, ...] = get_args(Scenario)
CORRELATED_WINDOW = 50  # ticks of common steps W(n) sums
CORRELATED_STEP = 0.015  # largest common log-step per tick
_CORRELATED_KEY = 0x7A6E_C0AA_E1A7_ED00  # fixed: the common walk is the same for every seed


class MarketDataUnavailable(Exception):
    """The market data feed did not answer for a tick (an injected fault); nothing changed."""


class PriceSource(Protocol):
    symbols: tuple[str, ...]

    def price(self, symbol: str, tick: int) -> float: ...


def _mix(x: int) -> int:
    """splitmix64 finaliser: a fast, well-spread integer hash."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _unit(key: int) -> float:
    """A uniform number in [-1, 1) from an integer key."""
    return (_mix(key) >> 11) / float(1 << 52) - 1.0


def _lerp(start: float, end: float, n: float, length: float) -> float:
    return start + (end - start) * n / length


@functools.lru_cache(maxsize=4096)
def _common_walk(n: int) -> float:
    """W(n): the sum of the common steps of ticks max(0, n - window + 1)..n (0 for n < 0)."""
    return sum(CORRELATED_STEP * _unit(_CORRELATED_KEY ^ _mix(k))
               for k in range(max(0, n - CORRELATED_WINDOW + 1), n + 1))


def scenario_factor(scenario: str, ticks_since_start: int) -> float:
    """The multiplier `scenario` puts on the simulator's price n ticks after its start."""
    n = ticks_since_start
    if scenario not in SCENARIOS:
        raise ValueError(f"runtime.market.scenario {scenario!r}: expected one of "
                         f"{', '.join(SCENARIOS)}")
    if scenario == "none" or n < 0:
        return 1.0
    if scenario == "crash":
        return _lerp(1.0, 0.70, n, 10) if n <= 10 else 0.70
    if scenario == "correlated":
        return math.exp(_common_walk(n))
    if n <= 30:
        return _lerp(1.0, 1.05, n, 30)
    if n <= 40:
        return _lerp(1.05, 0.70, n - 30, 10)
    if n <= 70:
        return 0.70
    if n <= 130:
        return _lerp(0.70, 1.0, n - 70, 60)
    return 1.0


def scenario_start_tick(starts_at: int, tick_interval: float = 1.0) -> int:
    """The tick at UNIX time `starts_at`, as the engine counts ticks (time // interval)."""
    if tick_interval <= 0 or not math.isfinite(tick_interval):
        raise ValueError(f"runtime.market.tick_interval {tick_interval!r} must be > 0")
    return int(starts_at // tick_interval)


class Simulator:
    """Seeded synthetic prices: two trend cycles, a slow drift and tick noise per symbol.

    `scenario` (see the module docstring) shapes the prices from tick `start_tick` on.
    """

    def __init__(self, seed: int = 42, symbols: Sequence[str] = DEFAULT_SYMBOLS,
                 scenario: str = "none", start_tick: int = 0) -> None:
        if not symbols:
            raise ValueError("the simulator needs at least one symbol")
        scenario_factor(scenario, 0)  # ValueError for an unknown scenario
        self.seed = seed
        self.symbols = tuple(symbols)
        self.scenario = scenario
        self.start_tick = start_tick
        self._params = {s: self._symbol_params(s) for s in self.symbols}

    def _symbol_params(self, symbol: str) -> tuple[int, float, float, float, float, float]:
        key = _mix(self.seed ^ zlib.crc32(symbol.encode()))
        base = 20.0 + 480.0 * (_unit(key) + 1.0) / 2.0
        period_long = 300.0 + 200.0 * abs(_unit(key + 1))
        period_short = 40.0 + 40.0 * abs(_unit(key + 2))
        phase = math.pi * _unit(key + 3)
        sigma = 0.0015 + 0.002 * abs(_unit(key + 4))
        return key, base, period_long, period_short, phase, sigma

    def price(self, symbol: str, tick: int) -> float:
        key, base, p_long, p_short, phase, sigma = self._params[symbol]
        trend = 0.06 * math.sin(2 * math.pi * tick / p_long + phase)
        swing = 0.012 * math.sin(2 * math.pi * tick / p_short + 2 * phase)
        # Slow value noise: linear interpolation between hashed knots every 25 ticks.
        knot, frac = divmod(tick, 25)
        drift = 0.02 * ((1 - frac / 25) * _unit(key ^ knot) + frac / 25 * _unit(key ^ (knot + 1)))
        n = tick - self.start_tick
        if self.scenario == "none" or n < 0:
            noise = sigma * (_unit(key + 7919 * tick) + _unit(key + 104729 * tick))
            return round(base * math.exp(trend + swing + drift + noise), 6)
        if self.scenario == "correlated":  # the common walk replaces the symbol's own noise
            return round(base * math.exp(trend + swing + drift) * scenario_factor("correlated", n),
                         6)
        noise = sigma * (_unit(key + 7919 * tick) + _unit(key + 104729 * tick))
        return round(base * math.exp(trend + swing + drift + noise)
                     * scenario_factor(self.scenario, n), 6)


class CsvReplay:
    """Replays `<csv_dir>/<SYMBOL>.csv` (columns include `close`), looping at the end."""

    def __init__(self, csv_dir: str | Path, symbols: Sequence[str] | None = None) -> None:
        directory = Path(csv_dir)
        if not directory.is_dir():
            raise ValueError(f"runtime.market.csv_dir {directory} is not a directory")
        files = {p.stem: p for p in sorted(directory.glob("*.csv"))}
        wanted = list(symbols) if symbols else list(files)
        missing = [s for s in wanted if s not in files]
        if missing or not wanted:
            raise ValueError(
                f"runtime.market.csv_dir {directory} has no CSV for {missing or 'any symbol'};"
                " put one <SYMBOL>.csv with a close column per symbol there"
            )
        self.symbols = tuple(wanted)
        self._closes = {s: self._read(files[s]) for s in self.symbols}

    @staticmethod
    def _read(path: Path) -> list[float]:
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        closes = []
        for number, row in enumerate(rows, start=2):
            lowered = {k.strip().lower(): v for k, v in row.items() if k}
            try:
                closes.append(float(lowered["close"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"{path}:{number}: expected a numeric close column") from exc
        if not closes:
            raise ValueError(f"{path}: no rows")
        return closes

    def price(self, symbol: str, tick: int) -> float:
        closes = self._closes[symbol]
        return closes[tick % len(closes)]


def price_source(source: str, seed: int, symbols: Sequence[str],
                 csv_dir: str | None, *, scenario: str = "none", scenario_starts_at: int = 0,
                 tick_interval: float = 1.0) -> PriceSource:
    """The configured source (`runtime.market`); ValueError says what is wrong."""
    if source == "csv":
        if not csv_dir:
            raise ValueError("runtime.market.source is csv but csv_dir is not set")
        if scenario != "none":
            raise ValueError(f"runtime.market.scenario {scenario!r} shapes the simulator; a csv "
                             "replay plays its files as recorded (use scenario none)")
        return CsvReplay(csv_dir, symbols or None)
    return Simulator(seed, symbols, scenario,
                     scenario_start_tick(scenario_starts_at, tick_interval))


class MarketFeed:
    """Feeds ticks of a price source into one IndicatorState per symbol."""

    def __init__(self, source: PriceSource) -> None:
        self.source = source
        self._states = {s: IndicatorState(s) for s in source.symbols}
        self._tick: int | None = None
        self._snapshot: dict[str, Indicators] = {}

    @property
    def symbols(self) -> tuple[str, ...]:
        return self.source.symbols

    @property
    def tick(self) -> int | None:
        return self._tick

    def snapshot(self) -> Mapping[str, Indicators]:
        return self._snapshot

    def advance(self, tick: int) -> Mapping[str, Indicators]:
        """Move to `tick`, replaying missed ticks (or re-warming after a long gap)."""
        if self._tick is not None and tick <= self._tick:
            return self._snapshot
        if self._tick is None or tick - self._tick > WARMUP_TICKS:
            self._states = {s: IndicatorState(s) for s in self.symbols}
            first = tick - WARMUP_TICKS
        else:
            first = self._tick + 1
        for t in range(first, tick + 1):
            for symbol, state in self._states.items():
                state.update(t, self.source.price(symbol, t))
        self._tick = tick
        self._snapshot = {s: st.last for s, st in self._states.items() if st.last is not None}
        return self._snapshot

    def price(self, symbol: str) -> float | None:
        ind = self._snapshot.get(symbol)
        return ind.price if ind else None
