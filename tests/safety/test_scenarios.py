"""The shipped market scenarios drive every breaker and loss limit through the fleet's store:
prices from the simulator (`runtime.market.scenario`), calls through the faulty feed
(`runtime.faults`), and every figure checked against the arithmetic done here."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tragen_runtime.agents import AgentSpec
from tragen_runtime.broker import INITIAL_CASH
from tragen_runtime.faults import CallStats, FaultPlan, FaultyFeed
from tragen_runtime.market import DEFAULT_SYMBOLS, MarketDataUnavailable, Simulator
from tragen_runtime.safety import figures as fig
from tragen_runtime.safety.config import SafetyConfig
from tragen_runtime.safety.store import RoundOutcome, SafetyStore, WorkerReport
from tragen_runtime.storage import repository as repo
from tragen_runtime.storage.db import SqliteDatabase
from tragen_runtime.storage.migrations import migrate

from .test_judge import GUIDE

ROUND = 5.0  # seconds between evaluations: one scenario tick per round here
T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z, the scenario's first tick
START = 10_000  # the scenario's start tick
EXPOSURE = 60_000.0  # each agent holds this much of its symbol at the start
SYMBOLS = DEFAULT_SYMBOLS  # one agent per symbol: six agents, 600,000 of capital
CONFIG: dict[str, Any] = {**GUIDE, "circuit_breakers": {
    **GUIDE["circuit_breakers"],
    "portfolio_breakers": {
        "total_loss": {"threshold": 0.05, "cooldown": 120, "auto_reset": False},
        "correlation_spike": {"threshold": 0.9, "action": "reduce_positions",
                              "reduction_factor": 0.5, "cooldown": 30}}}}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SqliteDatabase]:
    database = SqliteDatabase(str(tmp_path / "scenario.db"))
    migrate(database)
    repo.sync_agents(database, [AgentSpec(f"a-{s}", "p", "t", "scalper", 5, 10, s)
                                for s in SYMBOLS], T0)
    with database.write() as tx:
        tx.execute("INSERT INTO workers (worker_id, host, pid, release_id, started_at, "
                   "heartbeat_at) VALUES ('h@s/w', 'h', 1, 'r', %s, %s)", (T0, T0 + 1e6))
    yield database


def _hold(db: SqliteDatabase, market: Simulator) -> dict[str, float]:
    """Every agent buys EXPOSURE of its symbol at the start tick's price."""
    qty: dict[str, float] = {}
    with db.write() as tx:
        for symbol in SYMBOLS:
            entry = market.price(symbol, START)
            qty[symbol] = EXPOSURE / entry
            tx.execute("UPDATE agents SET cash = %s WHERE agent_id = %s",
                       (INITIAL_CASH - EXPOSURE, f"a-{symbol}"))
            tx.execute("INSERT INTO positions (agent_id, symbol, qty, avg_price) "
                       "VALUES (%s, %s, %s, %s)", (f"a-{symbol}", symbol, qty[symbol], entry))
    return qty


def _pnl(market: Simulator, qty: dict[str, float], tick: int) -> float:
    return sum(q * (market.price(s, tick) - EXPOSURE / q) for s, q in qty.items())


def _round(store: SafetyStore, market: Simulator, n: int,
           report: WorkerReport | None = None) -> RoundOutcome:
    prices = {s: market.price(s, START + n) for s in SYMBOLS}
    return store.round(T0 + ROUND * n, "h@s/w", report or WorkerReport(), prices,
                       min_interval=ROUND - 1)


def test_rise_crash_recovery_trips_the_loss_breakers_and_the_procedures(
        db: SqliteDatabase) -> None:
    market = Simulator(7, SYMBOLS, "rise_crash_recovery", START)
    qty = _hold(db, market)
    capital = len(SYMBOLS) * INITIAL_CASH
    store = SafetyStore(db, SafetyConfig.from_config(CONFIG), live_seconds=15.0)
    tripped_at: dict[str, int] = {}
    day_start = _pnl(market, qty, START)  # the first evaluation takes the day's snapshot
    for n in range(0, 141):
        outcome = _round(store, market, n)
        loss = -_pnl(market, qty, START + n) / capital
        states = outcome.states
        assert states["total_loss"].value == pytest.approx(max(0.0, loss), abs=1e-9)
        assert states["daily_loss"].value == pytest.approx(
            max(0.0, (day_start - _pnl(market, qty, START + n)) / capital), abs=1e-9)
        for name, state in states.items():
            if state.tripped and name not in tripped_at:
                tripped_at[name] = n
    # each trips at the first round its figure passed its threshold, and not in the rise
    first_over = {
        threshold: next(n for n in range(141)
                        if -_pnl(market, qty, START + n) / capital > threshold)
        for threshold in (0.05, 0.10)}
    assert 30 < first_over[0.05] < first_over[0.10] <= 40  # in the crash
    assert tripped_at["total_loss"] == tripped_at["position_reduction"] == first_over[0.05]
    assert tripped_at["daily_loss"] == first_over[0.05]
    assert tripped_at["auto_halt"] == first_over[0.10]
    # a crash moves every symbol at once: correlation_spike sees it too, not before
    assert 30 < tripped_at["correlation_spike"] <= 40 and "api_failure_rate" not in tripped_at
    # recovered at n = 130: the auto-reset ones cleared, the others wait for an operator
    final = outcome.states
    assert final["total_loss"].value < 0.05 and final["auto_halt"].value < 0.10
    assert final["total_loss"].tripped and final["total_loss"].awaiting_operator
    assert final["auto_halt"].tripped and final["auto_halt"].awaiting_operator
    assert not final["position_reduction"].tripped
    assert final["daily_loss"].tripped  # a loss limit holds until the UTC day ends
    assert outcome.view.halted and "total_loss" in outcome.view.blocking
    # one reduction for the whole trip: the view names the trip the agents take it once for
    assert outcome.view.reduction is None
    store.reset("total_loss", "ops", T0 + ROUND * 141)
    store.reset("auto_halt", "ops", T0 + ROUND * 141)
    after = _round(store, market, 142)
    assert not after.states["total_loss"].tripped and not after.view.halted


def test_the_position_reduction_is_one_trip_for_all_of_it(db: SqliteDatabase) -> None:
    market = Simulator(7, SYMBOLS, "crash", START)
    _hold(db, market)
    no_spike: dict[str, Any] = {**CONFIG, "circuit_breakers": {**CONFIG["circuit_breakers"],
                                               "portfolio_breakers": {}}}
    store = SafetyStore(db, SafetyConfig.from_config(no_spike), live_seconds=15.0)
    trips = set()
    for n in range(0, 12):
        view = _round(store, market, n).view
        if view.reduction is not None:
            trips.add(view.reduction)
    assert len(trips) == 1  # one trip id and factor, however many rounds it stays over
    ((trip_id, factor),) = trips
    assert factor == 0.5 and trip_id >= 1


def test_correlated_market_trips_correlation_spike(db: SqliteDatabase) -> None:
    market = Simulator(7, SYMBOLS, "correlated", START)
    qty = _hold(db, market)
    store = SafetyStore(db, SafetyConfig.from_config(CONFIG), live_seconds=15.0)
    equities: dict[str, list[float]] = {s: [] for s in SYMBOLS}
    for n in range(0, fig.CORRELATION_WINDOW + 5):
        outcome = _round(store, market, n)
        for s in SYMBOLS:
            equities[s].append(INITIAL_CASH - EXPOSURE + qty[s] * market.price(s, START + n))
        window = {s: e[-fig.CORRELATION_WINDOW:] for s, e in equities.items()}
        expected = fig.mean_pairwise_correlation(
            {s: fig.returns(e) for s, e in window.items()})
        assert outcome.states["correlation_spike"].value == pytest.approx(expected or 0.0)
    assert outcome.states["correlation_spike"].value > 0.9
    assert outcome.states["correlation_spike"].tripped
    assert outcome.view.reduction is not None and outcome.view.reduction[1] == 0.5


def test_the_plain_market_does_not(db: SqliteDatabase) -> None:
    market = Simulator(7, SYMBOLS, "none", START)
    _hold(db, market)
    store = SafetyStore(db, SafetyConfig.from_config(CONFIG), live_seconds=15.0)
    for n in range(0, fig.CORRELATION_WINDOW + 5):
        outcome = _round(store, market, n)
    assert outcome.states["correlation_spike"].value < 0.9
    assert not any(s.tripped for s in outcome.states.values())


def test_a_failing_feed_trips_api_failure_rate_for_its_duration(db: SqliteDatabase) -> None:
    market = Simulator(7, SYMBOLS, "none", START)
    stats = CallStats()
    feed = FaultyFeed(market, FaultPlan(market_data_failure_rate=0.02), stats)
    store = SafetyStore(db, SafetyConfig.from_config(CONFIG), live_seconds=15.0)
    duration = 300  # GUIDE's api_failure_rate duration

    def fetch_round(n: int) -> RoundOutcome:
        for tick in range(START + 20 * n, START + 20 * n + 20):  # twenty ticks a round
            with contextlib.suppress(MarketDataUnavailable):  # counted as failed calls
                feed.advance(tick)
        calls, failures = stats.take()
        assert calls == 20 * len(SYMBOLS)
        outcome = _round(store, market, n, WorkerReport(calls, failures))
        assert outcome.states["api_failure_rate"].value == pytest.approx(failures / calls)
        return outcome

    rates = [fetch_round(n).states["api_failure_rate"].value for n in range(10)]
    assert 0 < max(rates) <= 0.1  # 2 % failures stay under the 10 % threshold
    feed.set_plan(FaultPlan(market_data_failure_rate=0.5))
    outcome = fetch_round(10)
    assert outcome.states["api_failure_rate"].tripped and "api_failure_rate" in \
        outcome.view.blocking
    feed.set_plan(FaultPlan())
    n = 11
    tripped_at = outcome.states["api_failure_rate"].tripped_at
    assert tripped_at is not None
    while T0 + ROUND * n < tripped_at + duration:
        assert fetch_round(n).states["api_failure_rate"].tripped  # held for its duration
        n += 1
    assert not fetch_round(n).states["api_failure_rate"].tripped  # then clears by itself
