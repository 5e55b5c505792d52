"""The breakers, limits and procedures of `circuit_breakers` and `portfolio_risk`, as rules.

Every breaker is one `BreakerRule`: the figure that feeds it, its threshold, what a trip does,
how long a trip lasts at least, and whether it clears itself. The guide's emergency procedures
and loss limits are breakers too, so one judge (`safety.judge`) and one table hold them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Action = Literal["halt_new_trades", "reduce_positions", "scale_down_agents", "halt_all"]
Figure = Literal["total_loss", "daily_loss", "monthly_loss", "correlation", "api_failure_rate",
                 "memory_usage"]
Period = Literal["day", "month"]

# Figures measured against a reference P&L that an operator's reset moves to "now".
LOSS_FIGURES: frozenset[str] = frozenset({"total_loss"})
PORTFOLIO_BREAKERS = ("total_loss", "correlation_spike")
# What a breaker does when its `action` is not given.
DEFAULT_ACTIONS: dict[str, Action] = {"total_loss": "halt_new_trades",
                                      "correlation_spike": "reduce_positions",
                                      "api_failure_rate": "halt_new_trades",
                                      "memory_usage": "scale_down_agents"}
SYSTEM_BREAKERS = ("api_failure_rate", "memory_usage")


@dataclass(frozen=True)
class BreakerRule:
    name: str
    figure: Figure
    threshold: float
    action: Action
    hold_seconds: float  # a trip lasts at least this long after the figure was last over
    auto_reset: bool  # False: only an operator clears it (after hold_seconds)
    factor: float = 1.0  # reduction_factor of reduce_positions and scale_down_agents
    period: Period | None = None  # loss limits last until the UTC day or month ends
    source: str = ""  # where the configuration says so, for messages

    @property
    def opens_blocked(self) -> bool:
        """Whether a trip refuses orders that open positions."""
        return self.action in ("halt_new_trades", "reduce_positions", "halt_all")


@dataclass(frozen=True)
class SafetyConfig:
    rules: tuple[BreakerRule, ...]
    agent_shutdown_threshold: float
    total_portfolio_risk: float | None
    notional_cap: bool  # agents.additional_safety_checks: every order against the sizing cap

    def rule(self, name: str) -> BreakerRule | None:
        return next((r for r in self.rules if r.name == name), None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.rules)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SafetyConfig:
        cb = config.get("circuit_breakers") or {}
        portfolio = cb.get("portfolio_breakers") or {}
        system = cb.get("system_breakers") or {}
        risk = config.get("portfolio_risk") or {}
        emergency = risk.get("emergency_procedures") or {}
        limits = risk.get("aggregate_limits") or {}
        spike = portfolio.get("correlation_spike") or {}
        rules = [
            _breaker("total_loss", "total_loss", portfolio.get("total_loss") or {},
                     "$.circuit_breakers.portfolio_breakers.total_loss",
                     threshold=0.05, action=DEFAULT_ACTIONS["total_loss"], hold=3600.0),
            _breaker("api_failure_rate", "api_failure_rate", system.get("api_failure_rate") or {},
                     "$.circuit_breakers.system_breakers.api_failure_rate",
                     threshold=0.1, action=DEFAULT_ACTIONS["api_failure_rate"],
                     hold=300.0),
            _breaker("memory_usage", "memory_usage", system.get("memory_usage") or {},
                     "$.circuit_breakers.system_breakers.memory_usage",
                     threshold=0.9, action=DEFAULT_ACTIONS["memory_usage"], hold=60.0,
                     factor=0.8),
            BreakerRule("auto_halt", "total_loss",
                        float(emergency.get("auto_halt_threshold", 0.10)), "halt_all", 0.0,
                        auto_reset=False,
                        source="$.portfolio_risk.emergency_procedures.auto_halt_threshold"),
            BreakerRule("position_reduction", "total_loss",
                        float(emergency.get("position_reduction_threshold", 0.05)),
                        "reduce_positions", 0.0, auto_reset=True,
                        factor=float(spike.get("reduction_factor", 0.5)),
                        source="$.portfolio_risk.emergency_procedures."
                               "position_reduction_threshold"),
        ]
        if spike:  # built when configured: it needs the configuration to say what to do
            rules.insert(1, _breaker("correlation_spike", "correlation", spike,
                                     "$.circuit_breakers.portfolio_breakers.correlation_spike",
                                     threshold=0.9, action=DEFAULT_ACTIONS["correlation_spike"],
                                     hold=300.0,
                                     factor=0.5))
        daily, monthly = limits.get("daily_loss_limit"), limits.get("monthly_loss_limit")
        if daily is not None:
            rules.append(_period_limit("daily_loss", "day", float(daily)))
        if monthly is not None:
            rules.append(_period_limit("monthly_loss", "month", float(monthly)))
        total_risk = limits.get("total_portfolio_risk")
        return cls(tuple(rules), float(emergency.get("agent_shutdown_threshold", 0.03)),
                   float(total_risk) if total_risk is not None else None,
                   bool((config.get("agents") or {}).get("additional_safety_checks", False)))


def _breaker(name: str, figure: Figure, section: Mapping[str, Any], source: str, *,
             threshold: float, action: Action, hold: float, factor: float = 1.0) -> BreakerRule:
    """A configured breaker; `cooldown` and `duration` both name how long a trip lasts (the
    guide writes one for portfolio breakers and the other for system ones): the longer wins."""
    holds = [float(section[k]) for k in ("cooldown", "duration") if section.get(k) is not None]
    return BreakerRule(
        name, figure, float(section.get("threshold", threshold)),
        section.get("action", action), max(holds) if holds else hold,
        auto_reset=bool(section.get("auto_reset", True)),
        factor=float(section.get("reduction_factor", factor)), source=source)


def _period_limit(figure: Literal["daily_loss", "monthly_loss"], period: Period,
                  limit: float) -> BreakerRule:
    """A loss limit of `aggregate_limits`: trading halts until its UTC day or month ends."""
    return BreakerRule(figure, figure, limit, "halt_new_trades", 0.0,
                       auto_reset=True, period=period,
                       source=f"$.portfolio_risk.aggregate_limits.{figure}_limit")
