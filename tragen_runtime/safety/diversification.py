"""Diversification of the fleet: shares of agents per strategy and timeframe, correlation.

The guide's ``portfolio_risk.diversification`` says how much of the fleet one strategy or one
timeframe may hold and how closely a new agent may follow one that already works:

- The strategy of an agent is its template (the template its pool names): two pools of one
  template are one strategy.
- The timeframe of an agent is that of its analysis style (`TIMEFRAMES`): a scalper trades
  within the day, a swing trader over days, a conservative agent over weeks.
- A share is taken of the configured fleet: the agents `agents.build_agents` builds (every
  pool at its maximum, capped by `production.max_agents`). It is not taken of the agents that
  happen to be active, because that total can be small: with one active agent every strategy
  holds 100 %, so no standby agent could ever activate. A count is over the limit when it is
  greater than ``limit x fleet`` (30 agents of 100 are within 0.3, 31 are not).

Everything here is a pure function of its arguments: the gate (config.rules) counts the agents
of a configuration, the runtime caps its active auto-scaling agents (`cap_active`) and holds a
standby agent back while it follows an active one too closely (`correlated_with`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from fractions import Fraction

from tragen_runtime.agents import AgentSpec

STRATEGY_KEY = "max_agents_per_strategy"
TIMEFRAME_KEY = "max_agents_per_timeframe"
TIMEFRAMES: Mapping[str, str] = {
    "scalper": "intraday",
    "swing_trader": "days",
    "conservative": "weeks",
}
MIN_POINTS = 20  # returns a correlation needs before it may hold an agent back


def timeframe_of(style: str) -> str:
    """The timeframe an analysis style trades on; ValueError for an unknown style."""
    try:
        return TIMEFRAMES[style]
    except KeyError:
        raise ValueError(
            f"unknown analysis style {style!r}; expected one of {sorted(TIMEFRAMES)}"
        ) from None


def strategy_of(spec: AgentSpec) -> str:
    """The strategy of an agent: the name of its template."""
    return spec.template


def counts_by_strategy(specs: Iterable[AgentSpec]) -> dict[str, int]:
    """Agents per strategy (template), in the order strategies first appear."""
    counts: dict[str, int] = {}
    for spec in specs:
        counts[strategy_of(spec)] = counts.get(strategy_of(spec), 0) + 1
    return counts


def counts_by_timeframe(specs: Iterable[AgentSpec]) -> dict[str, int]:
    """Agents per timeframe, in the order timeframes first appear."""
    counts: dict[str, int] = {}
    for spec in specs:
        frame = timeframe_of(spec.style)
        counts[frame] = counts.get(frame, 0) + 1
    return counts


def pools_by_strategy(specs: Iterable[AgentSpec]) -> dict[str, list[str]]:
    """The pools of each strategy, in the order they first appear (for messages)."""
    return _pools(specs, strategy_of)


def pools_by_timeframe(specs: Iterable[AgentSpec]) -> dict[str, list[str]]:
    """The pools of each timeframe, in the order they first appear (for messages)."""
    return _pools(specs, _timeframe)


def _timeframe(spec: AgentSpec) -> str:
    return timeframe_of(spec.style)


def _pools(specs: Iterable[AgentSpec], group: Callable[[AgentSpec], str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for spec in specs:
        pools = found.setdefault(group(spec), [])
        if spec.pool not in pools:
            pools.append(spec.pool)
    return found


def allowed(limit: float, fleet: int) -> int:
    """The most agents a share ``limit`` of ``fleet`` allows: floor(limit x fleet), computed on
    the limit as written (0.3 x 100 is 30, not 30.000000000000004)."""
    return math.floor(Fraction(repr(float(limit))) * fleet)


def _percent(share: float) -> str:
    return f"{round(share * 100, 1):g} %"


def share_problems(
    counts: Mapping[str, int],
    limit: float | None,
    key: str,
    pools: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """One message per group (strategy or timeframe) holding more than ``limit`` of the
    agents counted; ``key`` names the limit, ``pools`` the pools of each group. None or no
    agents: nothing to judge.

    For {"scalping": 50, "swing": 50} and 0.3 of max_agents_per_strategy: "expected at most
    30 of 100 agents per strategy (max_agents_per_strategy 30 %), found scalping with 50 (50 %)"
    and the same for swing.
    """
    total = sum(counts.values())
    if limit is None or total <= 0:
        return []
    most = allowed(limit, total)
    group = key.rsplit("_", 1)[-1]
    problems = []
    for name, count in counts.items():
        if count > most:
            names = list((pools or {}).get(name, ()))
            where = f", pool{'s' if len(names) > 1 else ''} {', '.join(names)}" if names else ""
            problems.append(
                f"expected at most {most} of {total} agents per {group} ({key} "
                f"{_percent(limit)}), found {name} with {count} ({_percent(count / total)}{where})"
            )
    return problems


def diversification_problems(
    counts_by_strategy: Mapping[str, int],
    counts_by_timeframe: Mapping[str, int],
    max_per_strategy: float | None,
    max_per_timeframe: float | None,
) -> list[str]:
    """Every strategy, then every timeframe, above its share of the fleet, one message each
    naming the group, its count and share, and the limit. None for a limit: not judged."""
    return share_problems(counts_by_strategy, max_per_strategy, STRATEGY_KEY) + share_problems(
        counts_by_timeframe, max_per_timeframe, TIMEFRAME_KEY
    )


def cap_active(
    specs: Sequence[AgentSpec],
    ranks: Mapping[str, int],
    max_per_strategy: float | None,
    max_per_timeframe: float | None,
    fleet_size: int | None = None,
) -> dict[str, int]:
    """The proposed active ranks (engine.active_ranks: the highest working pool_rank of each
    pool) lowered until no strategy and no timeframe has more active agents than its share of
    the fleet allows.

    - The fleet is ``fleet_size``, else ``len(specs)``: pass every agent build_agents built,
      since pool ranks count the whole pool.
    - An agent is active when its pool_rank is at most its pool's rank; a pool missing from
      ``ranks`` is active in full.
    - Only standby agents (pool_rank above the pool's pool_min) are held back: the agents a pool
      always runs are the gate's to judge, never stopped here. A group that is over its share
      with its standby agents held back stays over.
    - One agent at a time leaves, from the pool of the first group over its share (strategies
      by name, then timeframes by name) that has the most active standby agents (ties: the pool
      first by name), until no group is over or none can lower.

    Returns a rank for every pool of ``ranks`` and of ``specs``; pools not lowered keep theirs.
    """
    fleet = len(specs) if fleet_size is None else fleet_size
    result: dict[str, int] = dict(ranks)
    by_pool: dict[str, list[AgentSpec]] = {}
    for spec in specs:
        by_pool.setdefault(spec.pool, []).append(spec)
    for pool, members in by_pool.items():
        result.setdefault(pool, max(member.pool_rank for member in members))
    limits: tuple[tuple[float | None, Callable[[AgentSpec], str]], ...] = (
        (max_per_strategy, strategy_of),
        (max_per_timeframe, _timeframe),
    )

    def working(pool: str) -> list[AgentSpec]:
        return [spec for spec in by_pool.get(pool, ()) if spec.pool_rank <= result[pool]]

    def standby(pool: str) -> list[AgentSpec]:
        return [spec for spec in working(pool) if spec.pool_rank > spec.pool_min]

    while True:
        lowered = False
        for limit, group_of in limits:
            if limit is None:
                continue
            most = allowed(limit, fleet)
            groups: dict[str, set[str]] = {}
            counts: dict[str, int] = {}
            for pool in by_pool:
                for spec in working(pool):
                    name = group_of(spec)
                    counts[name] = counts.get(name, 0) + 1
                    groups.setdefault(name, set()).add(pool)
            for name in sorted(counts):
                if counts[name] <= most:
                    continue
                candidates = [pool for pool in sorted(groups[name]) if standby(pool)]
                if not candidates:
                    continue
                pool = max(candidates, key=lambda p: len(standby(p)))  # first by name on ties
                result[pool] = max(spec.pool_rank for spec in working(pool)) - 1
                lowered = True
                break
            if lowered:
                break
        if not lowered:
            return result


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """The Pearson correlation of two series of one length; None when either is flat or they
    have fewer than two points."""
    n = len(xs)
    if n != len(ys) or n < 2 or max(xs) == min(xs) or max(ys) == min(ys):
        return None
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    dx = [x - mean_x for x in xs]
    dy = [y - mean_y for y in ys]
    sxx, syy = sum(d * d for d in dx), sum(d * d for d in dy)
    if sxx == 0 or syy == 0:
        return None
    return sum(a * b for a, b in zip(dx, dy, strict=True)) / math.sqrt(sxx * syy)


def correlated_with(
    candidate_returns: Sequence[float],
    active: Mapping[str, Sequence[float]],
    limit: float,
    min_points: int = MIN_POINTS,
) -> str | None:
    """The id of the active agent whose returns correlate with the candidate's above
    ``limit`` (the most correlated one; ties: the first in ``active``), else None.

    Each pair is compared over its last common points (the shorter series' length, aligned at
    the most recent). A pair with fewer than ``min_points`` such points, or with a flat series,
    never holds the candidate back. The comparison is strict and signed: a correlation equal to
    the limit, or a negative one (which diversifies), passes.
    """
    best: tuple[float, str] | None = None
    for agent_id, returns in active.items():
        n = min(len(candidate_returns), len(returns))
        if n < max(2, min_points):
            continue
        rho = pearson(list(candidate_returns[-n:]), list(returns[-n:]))
        if rho is None or rho <= limit:
            continue
        if best is None or rho > best[0]:
            best = (rho, agent_id)
    return None if best is None else best[1]
