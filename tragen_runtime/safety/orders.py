"""What a worker knows of the fleet's safety state after a round, and the pre-trade checks.

Closing orders (a strategy's exit, a procedure's reduction or shutdown) lower risk and pass
everything but a fleet halt: `auto_halt` and an operator's halt-all stop all strategy orders.
Opening orders also need: no breaker tripped whose action refuses them, an agent under its
own shutdown loss, the per-order notional cap (with additional_safety_checks) and room
under `total_portfolio_risk` (checked again inside the trade's transaction, fleet-wide).
"""

from __future__ import annotations

from dataclasses import dataclass

from tragen_runtime.safety.config import SafetyConfig
from tragen_runtime.safety.judge import BreakerState

# The sizing rule's own bound (risk.order_quantity): a position is at most
# risk_tolerance x 5 % of the agent's equity. The cap checks it again, independently.
NOTIONAL_SHARE_PER_TOLERANCE = 0.05


@dataclass(frozen=True)
class SafetyView:
    halted: bool = False  # auto_halt tripped or an operator's halt-all
    halt_reason: str = ""
    blocking: tuple[str, ...] = ()  # tripped breakers that refuse opening orders
    reduction: tuple[int, float] | None = None  # (trip id, factor) of the newest reduce trip
    scale_down: float = 1.0  # share of its fair number of agents this server should run
    equity: float = 0.0
    loaded: bool = False  # False until the first round read the state
    read_at: float = 0.0  # the round that read it

    def as_dict(self) -> dict[str, object]:
        """This worker's view, for /readyz: what it acts on since its last round."""
        return {"halted": self.halted, "halt_reason": self.halt_reason or None,
                "blocking": list(self.blocking), "reduction": self.reduction,
                "scale_down": self.scale_down, "read_at": self.read_at or None}

    @classmethod
    def from_states(cls, config: SafetyConfig, states: dict[str, BreakerState],
                    operator_halt: str | None, equity: float, server: str,
                    read_at: float = 0.0) -> SafetyView:
        tripped = [(r, states[r.name]) for r in config.rules
                   if r.name in states and states[r.name].tripped]
        halted = [r.name for r, _ in tripped if r.action == "halt_all"]
        reasons = ([f"operator halt-all: {operator_halt}"] if operator_halt is not None else []) \
            + [f"{name} tripped" for name in halted]
        reductions = [(s.trip_id, r.factor) for r, s in tripped if r.action == "reduce_positions"]
        scale = [r.factor for r, s in tripped if r.action == "scale_down_agents"
                 and (not s.detail or server in s.detail.split())]
        return cls(halted=bool(reasons), halt_reason="; ".join(reasons),
                   blocking=tuple(r.name for r, _ in tripped if r.opens_blocked),
                   reduction=max(reductions) if reductions else None,
                   scale_down=min(scale) if scale else 1.0, equity=equity, loaded=True,
                   read_at=read_at)


@dataclass(frozen=True)
class Order:
    opening: bool
    notional: float
    risk: float  # notional x stop distance
    agent_equity: float
    agent_loss: float  # fraction of the agent's starting cash lost
    risk_tolerance: int


def refusal(view: SafetyView, config: SafetyConfig, order: Order) -> str | None:
    """Why the order may not go out, or None. Each reason names the rule that refuses it."""
    if view.halted:
        return f"fleet halted ({view.halt_reason}): no orders until an operator resumes"
    if not order.opening:
        return None
    if view.blocking:
        return f"circuit breaker {', '.join(view.blocking)} tripped: no new positions"
    if order.agent_loss >= config.agent_shutdown_threshold:
        return (f"agent lost {order.agent_loss:.2%}, at or over agent_shutdown_threshold "
                f"{config.agent_shutdown_threshold:.2%}")
    cap = order.risk_tolerance * NOTIONAL_SHARE_PER_TOLERANCE * order.agent_equity
    if config.notional_cap and order.notional > cap * (1 + 1e-9):
        return (f"order notional {order.notional:.2f} over the per-order cap {cap:.2f} "
                "(additional_safety_checks)")
    return None


def portfolio_risk_refusal(config: SafetyConfig, open_risk: float, order_risk: float,
                           fleet_equity: float) -> str | None:
    """The fleet-wide pre-trade check of `total_portfolio_risk` (open risk from the database,
    inside the trade's own transaction)."""
    limit = config.total_portfolio_risk
    if limit is None or fleet_equity <= 0:
        return None
    after = (open_risk + order_risk) / fleet_equity
    if after > limit:
        return (f"open risk would be {after:.3%} of the fleet's equity, over "
                f"total_portfolio_risk {limit:.2%}")
    return None
