import pytest

from tragen_runtime.broker import Account, PaperBroker
from tragen_runtime.risk import order_quantity


def test_fill_applies_slippage_against_trader_and_fee() -> None:
    broker = PaperBroker(fee_rate=0.001, slippage_bps=10)
    buy = broker.fill("X", "buy", 10, 100.0)
    assert buy.price == pytest.approx(100.1)
    assert buy.fee == pytest.approx(10 * 100.1 * 0.001)
    sell = broker.fill("X", "sell", 10, 100.0)
    assert sell.price == pytest.approx(99.9)


def test_round_trip_pnl_cash_and_stats() -> None:
    broker = PaperBroker(fee_rate=0.001, slippage_bps=0)
    acct = Account(cash=10_000.0)
    buy = acct.realize(broker.fill("X", "buy", 10, 100.0))
    acct = acct.apply(buy, "2026-01-01")
    assert acct.cash == pytest.approx(10_000 - 1000 - 1.0)
    assert acct.positions["X"].avg_price == pytest.approx(100.1)
    sell = acct.realize(broker.fill("X", "sell", 10, 110.0))
    assert sell.realized_pnl == pytest.approx(10 * (110 - 100.1) - 1.1)
    acct = acct.apply(sell, "2026-01-01")
    assert "X" not in acct.positions
    assert acct.cash == pytest.approx(10_000 + sell.realized_pnl)
    assert (acct.wins, acct.losses, acct.trade_count, acct.trades_today) == (1, 0, 2, 2)
    assert acct.win_rate == 1.0
    assert acct.apply(acct.realize(broker.fill("X", "buy", 1, 1.0)), "2026-01-02").trades_today == 1


def test_cannot_oversell_or_overspend() -> None:
    broker = PaperBroker()
    acct = Account(cash=100.0)
    with pytest.raises(ValueError, match="cannot sell"):
        acct.realize(broker.fill("X", "sell", 1, 10.0))
    with pytest.raises(ValueError, match="insufficient cash"):
        acct.apply(acct.realize(broker.fill("X", "buy", 100, 10.0)), "d")


def test_position_size_grows_with_risk_tolerance_and_respects_cash() -> None:
    low = order_quantity(100_000, 100_000, 100, 2, 1.0, 0.01, 0.001)
    high = order_quantity(100_000, 100_000, 100, 7, 1.0, 0.01, 0.001)
    assert 0 < low < high
    assert low * 100 == pytest.approx(10_000)  # 2 x 5 % cap of equity
    assert order_quantity(100_000, 50, 100, 7, 1.0, 0.01, 0.001) < 0.5
    assert order_quantity(100_000, 100_000, 100, 7, 0.0, 0.01, 0.001) == 0
