"""Injected faults: the market data feed and the broker fail on purpose, at a set rate.

Tests and drills drive the `api_failure_rate` circuit breaker with them. `FaultPlan` holds the
two failure rates (`runtime.faults`, 0 by default: nothing fails) and decides deterministically
whether one call fails: a hash of (seed, kind, key) against the rate, so a plan fails the same
calls every time. `FaultyFeed` and `FaultyBroker` are the market feed and the paper broker with
every call counted in a `CallStats` and failed when the plan says so; both read their plan on
every call, so `set_plan` (an operator's `POST /api/v1/admin/faults`) takes effect without a
restart.

- A feed call is one symbol's price at a new tick: `FaultyFeed.advance(tick)` makes one call
  per symbol (key: symbol and tick, so every worker sees the same outage at the same tick). If
  any fails it raises `MarketDataUnavailable` and the feed stays at its last tick (a later
  tick replays the missed ones). Asking again for a tick already reached is no call.
- A broker call is one `FaultyBroker.fill` (key: the broker's call number). A failed one raises
  `tragen_runtime.broker.BrokerUnavailable` before anything is priced.

The API's own answers can be made bad too, so that a release is ready and still bad (what a
rollout's metric gate must catch): `api_error_rate` is the share of `/api/` answers that fail
with 500 before the handler runs (key: the worker's id and API call number), `api_added_latency_ms`
is added to every one. They come from the release's configuration only: an operator's override
is fleet-wide and would hit the baseline as hard as the canary.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tragen_runtime.broker import BrokerUnavailable, Fill, PaperBroker, Side
from tragen_runtime.indicators import Indicators
from tragen_runtime.market import MarketDataUnavailable, MarketFeed, PriceSource

__all__ = ["RATE_KEYS", "ApiFaults", "CallStats", "FaultPlan", "FaultyBroker", "FaultyFeed",
           "MarketDataUnavailable", "BrokerUnavailable"]

MARKET_DATA = "market_data"
BROKER = "broker"
API = "api"
RATE_KEYS = ("market_data_failure_rate", "broker_failure_rate")
_MASK = (1 << 64) - 1


def _mix(x: int) -> int:
    """splitmix64 finaliser (as in market.py): a well-spread 64-bit hash."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _number(key: str, value: object, high: float, what: str = "a number") -> float:
    """`value` as a float; ValueError names `key` unless it is a number in 0..high."""
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or not 0 <= value <= high:
        raise ValueError(f"{key} must be {what} from 0 to {high:g}, got {value!r}")
    return float(value)


def _rate(key: str, value: object) -> float:
    """`value` as a failure rate (0..1)."""
    return _number(key, value, 1)


def _latency(key: str, value: object) -> float:
    """`value` as added milliseconds (0..60000)."""
    return _number(key, value, 60_000, "a number of milliseconds")


class CallStats:
    """Thread-safe counts of calls and failed calls.

    `take()` answers the counts since the previous `take()` and starts a new window (what a
    worker reports each lease round); `snapshot()` reads that window without ending it;
    `totals()` counts from the start and never resets (for metrics).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls = self._failures = 0
        self._total_calls = self._total_failures = 0

    def record(self, ok: bool) -> None:
        with self._lock:
            self._calls += 1
            self._total_calls += 1
            if not ok:
                self._failures += 1
                self._total_failures += 1

    def snapshot(self) -> tuple[int, int]:
        """(calls, failures) since the last `take()`."""
        with self._lock:
            return self._calls, self._failures

    def take(self) -> tuple[int, int]:
        """(calls, failures) since the last `take()`, and reset them to 0."""
        with self._lock:
            counts = self._calls, self._failures
            self._calls = self._failures = 0
            return counts

    def totals(self) -> tuple[int, int]:
        """(calls, failures) since this object was made."""
        with self._lock:
            return self._total_calls, self._total_failures


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Failure rates (0..1) of the market data feed and the broker; 0: nothing fails."""

    market_data_failure_rate: float = 0.0
    broker_failure_rate: float = 0.0
    seed: int = 0
    api_error_rate: float = 0.0
    api_added_latency_ms: float = 0.0

    def __post_init__(self) -> None:
        for key in (*RATE_KEYS, "api_error_rate"):
            _rate(key, getattr(self, key))
        _latency("api_added_latency_ms", self.api_added_latency_ms)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], seed: int = 0) -> FaultPlan:
        """The plan of `runtime.faults` in a whole configuration (absent rates: 0)."""
        faults = (config.get("runtime") or {}).get("faults") or {}
        rates = [_rate(f"runtime.faults.{key}", faults.get(key, 0.0))
                 for key in (*RATE_KEYS, "api_error_rate")]
        latency = _latency("runtime.faults.api_added_latency_ms",
                           faults.get("api_added_latency_ms", 0.0))
        return cls(market_data_failure_rate=rates[0], broker_failure_rate=rates[1], seed=seed,
                   api_error_rate=rates[2], api_added_latency_ms=latency)

    def with_overrides(self, overrides: Mapping[str, object]) -> FaultPlan:
        """This plan with the rates `overrides` gives (None: keep this plan's rate).

        Apply an operator's rates to the configuration's plan, not to an earlier override, so
        that None returns to the configured rate. ValueError names an unknown key or a rate
        outside 0..1.
        """
        rates = {key: getattr(self, key) for key in RATE_KEYS}
        for key, value in overrides.items():
            if key not in RATE_KEYS:
                raise ValueError(f"unknown fault {key!r}; expected one of {', '.join(RATE_KEYS)}")
            if value is not None:
                rates[key] = _rate(key, value)
        return dataclasses.replace(self, market_data_failure_rate=rates["market_data_failure_rate"],
                                   broker_failure_rate=rates["broker_failure_rate"])

    def rate(self, kind: str) -> float:
        if kind == MARKET_DATA:
            return self.market_data_failure_rate
        if kind == BROKER:
            return self.broker_failure_rate
        if kind == API:
            return self.api_error_rate
        raise ValueError(f"unknown fault kind {kind!r}; expected {MARKET_DATA}, {BROKER} or {API}")

    def fails(self, kind: str, key: int) -> bool:
        """Whether call `key` of `kind` (market_data, broker) fails: hash(seed, kind, key) <
        rate, as a uniform number in [0, 1). Rate 0 never fails, rate 1 always does."""
        rate = self.rate(kind)
        if rate <= 0.0:
            return False
        h = _mix(_mix(self.seed & _MASK) ^ zlib.crc32(kind.encode()) ^ _mix(key & _MASK))
        return (h >> 11) / float(1 << 53) < rate


class ApiFaults:
    """The injected faults of this worker's API answers (thread-safe call numbering).

    `salt` tells the workers apart: without it every worker would fail the same call numbers,
    and a fleet of workers that each answered a few calls would fail none.
    """

    def __init__(self, plan: FaultPlan, salt: int = 0) -> None:
        self.plan = plan
        self._salt = (salt & 0xFFFF_FFFF) << 32
        self._lock = threading.Lock()
        self._calls = 0

    def before_answer(self) -> str | None:
        """Wait the added latency; answer why this call fails, or None when it does not."""
        plan = self.plan
        if plan.api_added_latency_ms > 0:
            time.sleep(plan.api_added_latency_ms / 1000)
        if plan.api_error_rate <= 0:
            return None
        with self._lock:
            call, self._calls = self._calls, self._calls + 1
        if plan.fails(API, self._salt | (call & 0xFFFF_FFFF)):
            return f"injected fault (runtime.faults.api_error_rate {plan.api_error_rate:g})"
        return None


def market_data_key(symbol: str, tick: int) -> int:
    """The key of one symbol's price at one tick (the same on every worker)."""
    return ((tick & 0xFFFF_FFFF) << 32) | zlib.crc32(symbol.encode())


class FaultyFeed(MarketFeed):
    """A `MarketFeed` whose fetch of each new tick is counted and may fail by the plan."""

    def __init__(self, source: PriceSource, plan: FaultPlan | None = None,
                 stats: CallStats | None = None) -> None:
        super().__init__(source)
        self._plan = plan or FaultPlan()
        self.stats = stats if stats is not None else CallStats()

    @property
    def plan(self) -> FaultPlan:
        return self._plan

    def set_plan(self, plan: FaultPlan) -> None:
        """Use `plan` from the next call on (any thread)."""
        self._plan = plan

    def advance(self, tick: int) -> Mapping[str, Indicators]:
        """Fetch `tick` (one call per symbol); MarketDataUnavailable leaves the feed as it was."""
        if self.tick is not None and tick <= self.tick:
            return self.snapshot()
        plan = self._plan
        failed = [s for s in self.symbols
                  if plan.fails(MARKET_DATA, market_data_key(s, tick))]
        for symbol in self.symbols:
            self.stats.record(symbol not in failed)
        if failed:
            raise MarketDataUnavailable(f"no market data for {', '.join(failed)} at tick "
                                        f"{tick} (injected fault)")
        return super().advance(tick)


class FaultyBroker(PaperBroker):
    """A `PaperBroker` whose fills are counted and may fail by the plan (BrokerUnavailable)."""

    def __init__(self, fee_rate: float = 0.001, slippage_bps: float = 2.0,
                 plan: FaultPlan | None = None, stats: CallStats | None = None) -> None:
        super().__init__(fee_rate, slippage_bps)
        self._plan = plan or FaultPlan()
        self.stats = stats if stats is not None else CallStats()
        self._lock = threading.Lock()
        self._calls = 0

    @classmethod
    def wrapping(cls, broker: PaperBroker, plan: FaultPlan | None = None,
                 stats: CallStats | None = None) -> FaultyBroker:
        """A faulty broker with `broker`'s fee rate and slippage."""
        return cls(broker.fee_rate, broker.slippage_bps, plan, stats)

    @property
    def plan(self) -> FaultPlan:
        return self._plan

    def set_plan(self, plan: FaultPlan) -> None:
        """Use `plan` from the next call on (any thread)."""
        self._plan = plan

    def fill(self, symbol: str, side: Side, qty: float, market_price: float) -> Fill:
        with self._lock:
            call, self._calls = self._calls, self._calls + 1
        if self._plan.fails(BROKER, call):
            self.stats.record(False)
            raise BrokerUnavailable(f"the broker did not take the {side} of {qty} {symbol} "
                                    "(injected fault)")
        self.stats.record(True)  # the broker answered; an order it rejects is no outage
        return super().fill(symbol, side, qty, market_price)
