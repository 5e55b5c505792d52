"""Paper broker: fills at the market price plus slippage and fees, and account arithmetic.

`PaperBroker.fill` is pure (it prices an order); `Account.apply` returns a new account, so
the engine can persist a trade and its position in one transaction before it changes any
state in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

Side = Literal["buy", "sell"]
INITIAL_CASH = 100_000.0
EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Position:
    qty: float
    avg_price: float  # cost basis per unit, buy fees included


@dataclass(frozen=True, slots=True)
class Fill:
    symbol: str
    side: Side
    qty: float
    price: float
    fee: float
    realized_pnl: float  # set on sells by Account.realize; 0 for buys


@dataclass(frozen=True, slots=True)
class Account:
    cash: float = INITIAL_CASH
    positions: dict[str, Position] = field(default_factory=dict)
    realized_pnl: float = 0.0
    fees_paid: float = 0.0
    trade_count: int = 0
    wins: int = 0
    losses: int = 0
    gross_profit: float = 0.0
    gross_loss: float = 0.0
    trades_today: int = 0
    trade_day: str = ""

    def position(self, symbol: str) -> Position | None:
        return self.positions.get(symbol)

    def equity(self, prices: dict[str, float]) -> float:
        value = self.cash
        for symbol, pos in self.positions.items():
            value += pos.qty * prices.get(symbol, pos.avg_price)
        return value

    @property
    def win_rate(self) -> float:
        closed = self.wins + self.losses
        return self.wins / closed if closed else 0.0

    @property
    def profit_factor(self) -> float:
        if self.gross_loss > EPS:
            return self.gross_profit / self.gross_loss
        return self.gross_profit and float("inf") or 0.0

    def realize(self, fill: Fill) -> Fill:
        """The fill with its realized P&L (sells close against the cost basis)."""
        if fill.side == "buy":
            return replace(fill, realized_pnl=0.0)
        pos = self.positions.get(fill.symbol)
        if pos is None or pos.qty + EPS < fill.qty:
            raise ValueError(f"cannot sell {fill.qty} {fill.symbol}: position is "
                             f"{pos.qty if pos else 0}")
        return replace(fill, realized_pnl=fill.qty * (fill.price - pos.avg_price) - fill.fee)

    def apply(self, fill: Fill, day: str) -> Account:
        """A new account after `fill` (which must come from `realize`)."""
        positions = dict(self.positions)
        pos = positions.get(fill.symbol)
        trades_today = self.trades_today + 1 if day == self.trade_day else 1
        if fill.side == "buy":
            cost = fill.qty * fill.price + fill.fee
            if cost > self.cash + EPS:
                raise ValueError(f"insufficient cash {self.cash:.2f} for {cost:.2f}")
            held = pos.qty if pos else 0.0
            basis = (pos.qty * pos.avg_price if pos else 0.0) + cost
            positions[fill.symbol] = Position(held + fill.qty, basis / (held + fill.qty))
            return replace(self, cash=self.cash - cost, positions=positions,
                           fees_paid=self.fees_paid + fill.fee, trade_count=self.trade_count + 1,
                           trades_today=trades_today, trade_day=day)
        assert pos is not None
        left = pos.qty - fill.qty
        if left > EPS:
            positions[fill.symbol] = Position(left, pos.avg_price)
        else:
            positions.pop(fill.symbol)
        pnl = fill.realized_pnl
        return replace(
            self,
            cash=self.cash + fill.qty * fill.price - fill.fee,
            positions=positions,
            realized_pnl=self.realized_pnl + pnl,
            fees_paid=self.fees_paid + fill.fee,
            trade_count=self.trade_count + 1,
            wins=self.wins + (pnl > 0),
            losses=self.losses + (pnl <= 0),
            gross_profit=self.gross_profit + max(pnl, 0.0),
            gross_loss=self.gross_loss + max(-pnl, 0.0),
            trades_today=trades_today,
            trade_day=day,
        )


class BrokerUnavailable(Exception):
    """The broker did not take the order (an injected fault); nothing was filled."""


class PaperBroker:
    """Fills every order at once at the market price moved by slippage against the trader."""

    def __init__(self, fee_rate: float = 0.001, slippage_bps: float = 2.0) -> None:
        if fee_rate < 0 or slippage_bps < 0:
            raise ValueError("runtime.broker.fee_rate and slippage_bps must be >= 0")
        self.fee_rate = fee_rate
        self.slippage_bps = slippage_bps

    def fill(self, symbol: str, side: Side, qty: float, market_price: float) -> Fill:
        if qty <= 0 or market_price <= 0:
            raise ValueError(f"order needs qty > 0 and a price > 0, got {qty} @ {market_price}")
        slip = self.slippage_bps / 10_000.0
        price = market_price * (1 + slip) if side == "buy" else market_price * (1 - slip)
        return Fill(symbol, side, qty, price, qty * price * self.fee_rate, 0.0)
