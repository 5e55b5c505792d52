"""Risk: position sizing from risk tolerance (the breakers and limits are in `safety`)."""

from __future__ import annotations

import math


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
