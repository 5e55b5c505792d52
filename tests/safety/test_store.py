"""The safety state in the database (SQLite here; PostgreSQL in tests/runtime): one
evaluation per round for the fleet, operator commands, and nothing kept in a process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tragen_runtime.agents import AgentSpec
from tragen_runtime.broker import INITIAL_CASH
from tragen_runtime.safety.config import SafetyConfig
from tragen_runtime.safety.figures import CORRELATION_WINDOW
from tragen_runtime.safety.judge import ResetRefused
from tragen_runtime.safety.store import RoundOutcome, SafetyStore, WorkerReport
from tragen_runtime.storage import repository as repo
from tragen_runtime.storage.db import SqliteDatabase
from tragen_runtime.storage.migrations import migrate

from .test_judge import GUIDE

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
CONFIG: dict[str, Any] = {**GUIDE, "circuit_breakers": {
    **GUIDE["circuit_breakers"],
    "portfolio_breakers": {"total_loss": {"threshold": 0.05, "cooldown": 60,
                                          "auto_reset": False}}}}


def _spec(n: int) -> AgentSpec:
    return AgentSpec(f"a-{n}", "p", "t", "scalper", 5, 10, "X")


@pytest.fixture
def db(tmp_path: Path) -> SqliteDatabase:
    database = SqliteDatabase(str(tmp_path / "s.db"))
    migrate(database)
    repo.sync_agents(database, [_spec(n) for n in range(4)], NOW)
    with database.write() as tx:
        for n in range(4):
            tx.execute("INSERT INTO workers (worker_id, host, pid, release_id, started_at, "
                       "heartbeat_at) VALUES (%s, 'h', 1, 'r', %s, %s)",
                       (f"h@s{n % 2}/w{n}", NOW, NOW + 10_000))
    return database


def _store(db: SqliteDatabase, config: dict[str, Any] = CONFIG) -> SafetyStore:
    return SafetyStore(db, SafetyConfig.from_config(config), live_seconds=15.0)


def _hold(db: SqliteDatabase, qty: float, price: float = 100.0, stop: float = 0.02,
          agent: str = "a-0") -> None:
    """`agent` spends cash on `qty` units at `price` (a position at cost)."""
    with db.write() as tx:
        tx.execute("UPDATE agents SET cash = %s WHERE agent_id = %s",
                   (INITIAL_CASH - qty * price, agent))
        tx.execute("INSERT INTO positions (agent_id, symbol, qty, avg_price, stop_distance) "
                   "VALUES (%s, 'X', %s, %s, %s)", (agent, qty, price, stop))


def _round(store: SafetyStore, now: float, price: float, worker: str = "h@s0/w0",
           report: WorkerReport | None = None) -> RoundOutcome:
    return store.round(now, worker, report or WorkerReport(), {"X": price}, min_interval=4.0)


def test_a_trip_by_one_worker_is_what_every_worker_reads(db: SqliteDatabase) -> None:
    _hold(db, 1000)  # 100,000 in X of a 400,000 fleet
    first, second = _store(db), _store(db)
    # X falls 25 %: 25,000 lost = 6.25 % of the fleet's capital
    outcome = _round(first, NOW, 75.0)
    assert [e.kind for e in outcome.events if e.breaker == "total_loss"] == ["trip"]
    assert outcome.states["total_loss"].value == pytest.approx(0.0625)
    assert "total_loss" in outcome.view.blocking
    # the other worker's round, within min_interval: it reads, it does not evaluate again
    other = _round(second, NOW + 1, 75.0, "h@s1/w1")
    assert other.events == () and "total_loss" in other.view.blocking
    # and a worker that starts afresh (a restart, a new release) reads the same
    restarted = _round(_store(db), NOW + 2, 100.0, "h@s1/w9")
    assert restarted.view.blocking == other.view.blocking


def test_auto_reset_false_holds_after_recovery_until_an_operator_resets(
        db: SqliteDatabase) -> None:
    _hold(db, 1000)
    store = _store(db)
    _round(store, NOW, 75.0)
    with pytest.raises(ResetRefused, match="holds until"):
        store.reset("total_loss", "ops", NOW + 30)
    recovered = _round(store, NOW + 120, 100.0)  # the loss is gone, the hold is over
    state = recovered.states["total_loss"]
    assert state.tripped and state.awaiting_operator and state.value == 0.0
    cleared = store.reset("total_loss", "ops", NOW + 121)
    assert not cleared.tripped and cleared.reset_by == "ops"
    assert "total_loss" not in _round(store, NOW + 130, 100.0).view.blocking
    kinds = [e["kind"] for e in store.describe(NOW)["recent_events"]
             if e["breaker"] == "total_loss"]
    assert kinds == ["reset", "hold_ended", "trip"]


def test_the_reset_of_a_loss_moves_its_reference(db: SqliteDatabase) -> None:
    _hold(db, 1000)
    store = _store(db)
    _round(store, NOW, 75.0)
    _round(store, NOW + 61, 75.0)  # still 6.25 % down, the hold is over
    store.reset("total_loss", "ops", NOW + 62)
    # 4 % more of capital (16,000) after the reset is under the 5 % threshold
    outcome = _round(store, NOW + 70, 59.0)
    assert outcome.states["total_loss"].value == pytest.approx(0.04)
    assert not outcome.states["total_loss"].tripped
    # auto_halt counts from its own reference: 41,000 of 400,000 is 10.25 %
    assert outcome.states["auto_halt"].tripped and outcome.view.halted


def test_daily_loss_against_the_persisted_start_of_day(db: SqliteDatabase) -> None:
    _hold(db, 1000)
    store = _store(db)
    _round(store, NOW, 110.0)  # the day starts 10,000 up
    outcome = _round(store, NOW + 5, 90.0)  # 20,000 of 410,000: 4.88 % < 5 %
    assert outcome.states["daily_loss"].value == pytest.approx(20_000 / 410_000)
    outcome = _round(_store(db), NOW + 10, 89.4)  # a new process keeps the snapshot
    assert outcome.states["daily_loss"].value == pytest.approx(20_600 / 410_000)
    assert outcome.states["daily_loss"].tripped
    assert outcome.states["daily_loss"].hold_until == 1_800_057_600.0  # next UTC midnight


def test_api_failure_rate_over_every_live_worker(db: SqliteDatabase) -> None:
    store = _store(db)
    _round(store, NOW - 10, 100.0, "h@s1/w1", WorkerReport(api_calls=50, api_failures=9))
    outcome = _round(store, NOW, 100.0, "h@s0/w0", WorkerReport(api_calls=50, api_failures=2))
    assert outcome.states["api_failure_rate"].value == pytest.approx(11 / 100)
    assert outcome.states["api_failure_rate"].tripped


def test_memory_breaker_names_the_servers_over_it(db: SqliteDatabase) -> None:
    store = _store(db)
    _round(store, NOW - 10, 100.0, "h@s1/w1", WorkerReport(memory_fraction=0.95))
    outcome = _round(store, NOW, 100.0, "h@s0/w0", WorkerReport(memory_fraction=0.5))
    assert outcome.states["memory_usage"].detail == "h@s1/"
    assert outcome.view.scale_down == 1.0  # this worker's server is under the threshold
    assert _round(store, NOW + 1, 100.0, "h@s1/w1").view.scale_down == 0.8


def test_correlation_samples_are_a_rolling_window(db: SqliteDatabase) -> None:
    repo.sync_agents(db, [_spec(n) for n in range(6)], NOW)
    for n in range(5):  # five agents in the same symbol move together
        _hold(db, 100 + 50 * n, agent=f"a-{n}")
    store = _store(db, GUIDE)
    for n in range(CORRELATION_WINDOW + 5):
        outcome = _round(store, NOW + 5 * n, 100.0 + (n % 3))
    with db.read() as tx:
        samples = tx.execute("SELECT COUNT(DISTINCT sample_at) FROM agent_equity_samples")
    assert int(samples[0][0]) == CORRELATION_WINDOW
    assert outcome.states["correlation_spike"].value == pytest.approx(1.0)
    assert outcome.states["correlation_spike"].tripped


def test_halt_all_and_resume_all(db: SqliteDatabase) -> None:
    store = _store(db)
    store.halt_all("ops", "drill", NOW)
    view = _round(store, NOW, 100.0).view
    assert view.halted and "drill" in view.halt_reason
    assert store.resume_all("ops", NOW + 1) == ["operator halt-all"]
    assert not _round(store, NOW + 5, 100.0).view.halted
    with pytest.raises(KeyError, match="no breaker 'nope'"):
        store.reset("nope", "ops", NOW)
