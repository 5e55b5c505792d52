"""The fleet's safety figures, as pure functions of persisted rows and market prices.

Formulas (docs/safety.md repeats them with examples):

- capital = agents x starting cash; equity = sum of cash + sum of qty x price;
  pnl = equity - capital (adding agents adds capital and cash alike, so pnl does not jump).
- total loss = max(0, (reference pnl - pnl) / capital); the reference is 0 until an operator's
  reset of the breaker moves it to the pnl of that moment.
- daily (monthly) loss = max(0, (start pnl - pnl) / (capital + start pnl)), where start pnl is
  the pnl persisted at the first evaluation of the UTC day (month): the loss as a share of
  the equity the period started with.
- open risk = sum of qty x price x stop distance: what the fleet loses if every stop is hit.
- api failure rate = failed / all calls to the market data feed and the broker over the last
  round of every live worker (0 below MIN_CALLS calls: too few to judge).
- correlation = the mean pairwise Pearson correlation of the agents' returns over the last
  CORRELATION_WINDOW evaluations (agents whose equity did not move are left out: a flat agent
  has no correlation with anything); none with fewer than MIN_CORRELATED_AGENTS moving.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

MIN_CALLS = 20
CORRELATION_WINDOW = 30  # evaluations, about 2.5 minutes at a 5 s lease round
MIN_CORRELATION_POINTS = 10
MIN_CORRELATED_AGENTS = 5  # fewer moving agents say little about the fleet


@dataclass(frozen=True, slots=True)
class Holding:
    agent_id: str
    symbol: str
    qty: float
    avg_price: float
    stop_distance: float


def price_of(holding: Holding, prices: Mapping[str, float]) -> float:
    """The market price, or the cost basis while the feed has none (warming up, faulted)."""
    price = prices.get(holding.symbol)
    return price if price is not None and price > 0 else holding.avg_price


def agent_equities(cash: Mapping[str, float], holdings: Iterable[Holding],
                   prices: Mapping[str, float]) -> dict[str, float]:
    equity = dict(cash)
    for h in holdings:
        equity[h.agent_id] = equity.get(h.agent_id, 0.0) + h.qty * price_of(h, prices)
    return equity


def open_risk(holdings: Iterable[Holding], prices: Mapping[str, float]) -> float:
    return sum(h.qty * price_of(h, prices) * h.stop_distance for h in holdings)


def total_loss(reference_pnl: float, pnl: float, capital: float) -> float:
    return max(0.0, (reference_pnl - pnl) / capital) if capital > 0 else 0.0


def period_loss(start_pnl: float, pnl: float, capital: float) -> float:
    start_equity = capital + start_pnl
    return max(0.0, (start_pnl - pnl) / start_equity) if start_equity > 0 else 0.0


def failure_rate(calls: int, failures: int) -> float:
    return failures / calls if calls >= MIN_CALLS else 0.0


def returns(equities: Sequence[float]) -> list[float]:
    return [b / a - 1.0 if a else 0.0 for a, b in zip(equities, equities[1:], strict=False)]


def mean_pairwise_correlation(series: Mapping[str, Sequence[float]],
                              min_agents: int = MIN_CORRELATED_AGENTS) -> float | None:
    """Mean Pearson correlation over all pairs of return series of equal length.

    Computed in O(agents x points) from standardised series z: the sum over pairs i != j of
    corr(i, j) is (sum_t (sum_i z_it)^2) / T - N, so 1,000 agents cost what 1,000 series do.
    None when fewer than `min_agents` series vary or they are shorter than
    MIN_CORRELATION_POINTS."""
    lengths = {len(s) for s in series.values()}
    if len(lengths) != 1 or (length := lengths.pop()) < MIN_CORRELATION_POINTS:
        return None
    standardised: list[list[float]] = []
    for values in series.values():
        mean = sum(values) / length
        spread = math.sqrt(sum((v - mean) ** 2 for v in values) / length)
        if spread > 1e-12:
            standardised.append([(v - mean) / spread for v in values])
    n = len(standardised)
    if n < max(2, min_agents):
        return None
    column_sums = [sum(z[t] for z in standardised) for t in range(length)]
    pair_sum = sum(s * s for s in column_sums) / length - n
    return max(-1.0, min(1.0, pair_sum / (n * (n - 1))))


def aligned_returns(samples: Iterable[tuple[float, str, float]]) -> dict[str, list[float]]:
    """Return series of the agents sampled at every one of the sample times (sample_at,
    agent_id, equity); agents missing a sample are left out so the series align."""
    by_time: dict[float, dict[str, float]] = {}
    for at, agent_id, equity in samples:
        by_time.setdefault(at, {})[agent_id] = equity
    times = sorted(by_time)
    if not times:
        return {}
    common = set.intersection(*(set(by_time[t]) for t in times))
    return {a: returns([by_time[t][a] for t in times]) for a in sorted(common)}


@dataclass(frozen=True, slots=True)
class Periods:
    day: str
    month: str
    day_ends: float
    month_ends: float


def periods(now: float) -> Periods:
    """The UTC day and month of `now` and when each ends (loss limits last until then)."""
    moment = datetime.fromtimestamp(now, UTC)
    day_start = datetime(moment.year, moment.month, moment.day, tzinfo=UTC).timestamp()
    days = calendar.monthrange(moment.year, moment.month)[1]
    month_start = datetime(moment.year, moment.month, 1, tzinfo=UTC).timestamp()
    return Periods(moment.strftime("%Y-%m-%d"), moment.strftime("%Y-%m"), day_start + 86_400,
                   month_start + days * 86_400)
