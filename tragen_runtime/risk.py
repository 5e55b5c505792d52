"""Risk: position sizing from risk tolerance, and the circuit breakers of the configuration."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any


def order_quantity(equity: float, cash: float, price: float, risk_tolerance: int,
                   strength: float, stop_distance: float, fee_rate: float) -> float:
    """Units to buy so that hitting the stop loses `risk_tolerance` x 0.5 % of equity.

    The position is also capped at `risk_tolerance` x 5 % of equity and by the cash there is
    (fees included). Quantities are rounded down to 1e-4 units; 0 means "do not trade".
    """
    if price <= 0 or equity <= 0 or strength <= 0:
        return 0.0
    risk_budget = equity * 0.005 * risk_tolerance * min(strength, 1.0)
    notional = risk_budget / max(stop_distance, 0.001)
    notional = min(notional, equity * 0.05 * risk_tolerance, cash / (1 + fee_rate))
    qty = math.floor(notional / price * 10_000) / 10_000
    return qty if qty * price >= 1.0 else 0.0


@dataclass(slots=True)
class BreakerState:
    name: str
    threshold: float
    action: str
    value: float = 0.0
    tripped_at: float | None = None
    cooldown: float = 0.0
    factor: float = 1.0  # reduction_factor of reduce_positions / scale_down_agents
    acted: bool = False  # a one-off action (reducing positions) was taken for this trip

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "threshold": self.threshold, "action": self.action,
                "value": round(self.value, 6), "tripped": self.tripped_at is not None,
                "tripped_at": self.tripped_at}


@dataclass
class CircuitBreakers:
    """Portfolio and system breakers from `circuit_breakers` and `portfolio_risk`."""

    breakers: dict[str, BreakerState] = field(default_factory=dict)
    agent_shutdown_threshold: float = 0.03

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CircuitBreakers:
        cb = config.get("circuit_breakers") or {}
        risk = config.get("portfolio_risk") or {}
        emergency = risk.get("emergency_procedures") or {}
        breakers: dict[str, BreakerState] = {}
        total = (cb.get("portfolio_breakers") or {}).get("total_loss") or {}
        breakers["total_loss"] = BreakerState(
            "total_loss", float(total.get("threshold", 0.05)), "halt_new_trades",
            cooldown=float(total.get("cooldown", 3600)))
        breakers["auto_halt"] = BreakerState(
            "auto_halt", float(emergency.get("auto_halt_threshold", 0.10)), "halt_new_trades")
        spike = (cb.get("portfolio_breakers") or {}).get("correlation_spike") or {}
        breakers["position_reduction"] = BreakerState(
            "position_reduction", float(emergency.get("position_reduction_threshold", 0.05)),
            "reduce_positions", factor=float(spike.get("reduction_factor", 0.5)))
        system = cb.get("system_breakers") or {}
        api = system.get("api_failure_rate") or {}
        breakers["api_failure_rate"] = BreakerState(
            "api_failure_rate", float(api.get("threshold", 0.1)),
            str(api.get("action", "halt_new_trades")), cooldown=float(api.get("duration", 300)))
        mem = system.get("memory_usage") or {}
        breakers["memory_usage"] = BreakerState(
            "memory_usage", float(mem.get("threshold", 0.9)),
            str(mem.get("action", "scale_down_agents")),
            factor=float(mem.get("reduction_factor", 0.8)))
        return cls(breakers, float(emergency.get("agent_shutdown_threshold", 0.03)))

    def evaluate(self, values: dict[str, float], now: float | None = None) -> None:
        """Feed current values (portfolio loss fraction etc.); trips and resets breakers."""
        now = time.time() if now is None else now
        loss = values.get("portfolio_loss", 0.0)
        feed = {"total_loss": loss, "auto_halt": loss, "position_reduction": loss,
                "api_failure_rate": values.get("api_failure_rate", 0.0),
                "memory_usage": values.get("memory_usage", 0.0)}
        for name, value in feed.items():
            state = self.breakers[name]
            state.value = value
            if value >= state.threshold:
                state.tripped_at = state.tripped_at or now
            elif state.tripped_at is not None and now - state.tripped_at >= state.cooldown:
                state.tripped_at = None
                state.acted = False

    def allows_new_positions(self) -> bool:
        return not any(b.tripped_at is not None and b.action in
                       ("halt_new_trades", "reduce_positions") for b in self.breakers.values())

    def _tripped(self, action: str) -> list[BreakerState]:
        return [b for b in self.breakers.values()
                if b.tripped_at is not None and b.action == action]

    def take_position_reduction(self) -> float | None:
        """Fraction of every position to sell now, once per trip of a reduce_positions
        breaker (None when there is nothing to do)."""
        for breaker in self._tripped("reduce_positions"):
            if not breaker.acted:
                breaker.acted = True
                return min(1.0, max(0.0, breaker.factor))
        return None

    def agent_share_factor(self) -> float:
        """Share of its fair number of agents a worker should run (scale_down_agents)."""
        factors = [b.factor for b in self._tripped("scale_down_agents")]
        return min(factors) if factors else 1.0

    def agent_must_stop(self, agent_loss_fraction: float) -> bool:
        return agent_loss_fraction >= self.agent_shutdown_threshold

    def as_list(self) -> list[dict[str, Any]]:
        return [b.as_dict() for b in self.breakers.values()]
