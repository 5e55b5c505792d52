"""Diversification while the fleet runs: the engine's side of `portfolio_risk.diversification`.

- `max_agents_per_strategy` / `max_agents_per_timeframe`: the auto-scaling pools' active ranks
  are capped (`diversification.cap_active`) so that standby agents never take a strategy or a
  timeframe past its share of the fleet. The gate has judged the pools' base agents already.
- `correlation_limits`: an agent becomes active in the market when it opens a position. It may
  not while the returns of what it would hold (its symbol's price over the last
  `RETURNS_WINDOW` ticks) correlate above the limit with those of an agent of the same pool
  that holds a position now, anywhere in the fleet (`diversification.correlated_with`). Two
  agents of one pool on one symbol correlate fully: one of them holds at a time.

Fleet-wide holdings are read once per lease round; this worker's own openings and closings
are added at once, so two agents of one worker cannot both slip in within a round.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tragen_runtime.agents import AgentSpec
from tragen_runtime.safety import diversification as div
from tragen_runtime.safety.figures import returns

RETURNS_WINDOW = 30  # ticks of price returns an agent's correlation is measured over


class ActivationGuard:
    def __init__(self, specs: Sequence[AgentSpec], max_per_strategy: float | None,
                 max_per_timeframe: float | None, correlation_limit: float | None) -> None:
        self._specs = list(specs)
        self._max_strategy = max_per_strategy
        self._max_timeframe = max_per_timeframe
        self.correlation_limit = correlation_limit
        self._prices: dict[str, deque[float]] = {}
        self._held: dict[str, dict[str, str]] = {}  # pool -> agent -> symbol it holds
        self._capped: tuple[tuple[tuple[str, int], ...], dict[str, int]] | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any], specs: Sequence[AgentSpec]) -> ActivationGuard:
        found = (config.get("portfolio_risk") or {}).get("diversification") or {}

        def limit(key: str) -> float | None:
            return float(found[key]) if found.get(key) is not None else None
        return cls(specs, limit(div.STRATEGY_KEY), limit(div.TIMEFRAME_KEY),
                   limit("correlation_limits"))

    # -- shares of the fleet ----------------------------------------------------------------
    def cap(self, ranks: Mapping[str, int]) -> dict[str, int]:
        """The auto-scaling pools' active ranks within the strategy and timeframe shares
        (the last answer is kept: the ranks change far less often than ticks come)."""
        if self._max_strategy is None and self._max_timeframe is None:
            return dict(ranks)
        key = tuple(sorted(ranks.items()))
        if self._capped is None or self._capped[0] != key:
            self._capped = (key, div.cap_active(self._specs, ranks, self._max_strategy,
                                                self._max_timeframe))
        return dict(self._capped[1])

    # -- correlation --------------------------------------------------------------------------
    def observe(self, prices: Mapping[str, float]) -> None:
        """One tick's prices."""
        for symbol, price in prices.items():
            self._prices.setdefault(symbol, deque(maxlen=RETURNS_WINDOW + 1)).append(price)

    def holdings(self, held: Iterable[tuple[str, str, str]]) -> None:
        """The fleet's (agent, pool, symbol) of every open position, read this round."""
        by_pool: dict[str, dict[str, str]] = {}
        for agent_id, pool, symbol in held:
            by_pool.setdefault(pool, {})[agent_id] = symbol
        self._held = by_pool

    def opened(self, spec: AgentSpec) -> None:
        self._held.setdefault(spec.pool, {})[spec.agent_id] = spec.symbol

    def closed(self, spec: AgentSpec) -> None:
        self._held.get(spec.pool, {}).pop(spec.agent_id, None)

    def refusal(self, spec: AgentSpec) -> str | None:
        """Why `spec` may not open a position now (correlation_limits), else None."""
        if self.correlation_limit is None:
            return None
        others = {a: s for a, s in self._held.get(spec.pool, {}).items() if a != spec.agent_id}
        if not others:
            return None
        candidate = self._returns(spec.symbol)
        series = {a: self._returns(s) for a, s in others.items()}
        twin = div.correlated_with(candidate, series, self.correlation_limit)
        if twin is None:
            return None
        rho = div.pearson(candidate[-len(series[twin]):], series[twin][-len(candidate):])
        return (f"correlation_limits: {spec.symbol} returns correlate {rho or 1.0:.2f} > "
                f"{self.correlation_limit:g} with {twin} ({others[twin]}) of pool {spec.pool}, "
                "which holds a position")

    def _returns(self, symbol: str) -> list[float]:
        return returns(list(self._prices.get(symbol, ())))
