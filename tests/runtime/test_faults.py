import threading
import time
from typing import Any

import pytest

from tragen_runtime.broker import BrokerUnavailable, PaperBroker
from tragen_runtime.config.schemas import validator
from tragen_runtime.configsource import ConfigError
from tragen_runtime.faults import (
    ApiFaults,
    CallStats,
    FaultPlan,
    FaultyBroker,
    FaultyFeed,
    MarketDataUnavailable,
    market_data_key,
)
from tragen_runtime.market import MarketFeed, Simulator
from tragen_runtime.settings import settings_from_config

SYMBOLS = ("A", "B", "C")


def test_call_stats_count_take_and_total() -> None:
    stats = CallStats()
    assert stats.snapshot() == stats.take() == stats.totals() == (0, 0)
    for ok in (True, False, True, False, False):
        stats.record(ok)
    assert stats.snapshot() == (5, 3)
    assert stats.snapshot() == (5, 3)  # reading does not reset
    assert stats.take() == (5, 3)
    assert stats.take() == (0, 0)
    stats.record(False)
    assert stats.snapshot() == (1, 1)
    assert stats.totals() == (6, 4)


def test_call_stats_are_thread_safe() -> None:
    stats = CallStats()

    def work() -> None:
        for i in range(2000):
            stats.record(i % 4 != 0)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stats.take() == (16_000, 4_000)


@pytest.mark.parametrize("kind", ["market_data", "broker"])
def test_rate_zero_never_fails_and_rate_one_always_fails(kind: str) -> None:
    assert not any(FaultPlan().fails(kind, key) for key in range(1000))
    always = FaultPlan(1.0, 1.0)
    assert all(always.fails(kind, key) for key in [*range(1000), -1, 2**70])


def test_half_fails_about_half_and_deterministically() -> None:
    plan = FaultPlan(market_data_failure_rate=0.5, broker_failure_rate=0.1, seed=3)
    decisions = [plan.fails("market_data", key) for key in range(1000)]
    assert 450 <= sum(decisions) <= 550
    assert decisions == [FaultPlan(0.5, 0.1, seed=3).fails("market_data", k) for k in range(1000)]
    assert decisions != [FaultPlan(0.5, 0.1, seed=4).fails("market_data", k) for k in range(1000)]
    assert 60 <= sum(plan.fails("broker", key) for key in range(1000)) <= 140
    # a higher rate fails every call a lower one fails
    higher = FaultPlan(0.8, 0.0, seed=3)
    assert all(higher.fails("market_data", k) for k, failed in enumerate(decisions) if failed)
    with pytest.raises(ValueError, match="unknown fault kind"):
        plan.fails("database", 1)


def test_from_config_reads_runtime_faults() -> None:
    assert FaultPlan.from_config({}) == FaultPlan(0.0, 0.0)
    assert FaultPlan.from_config({"runtime": {"faults": {"broker_failure_rate": 0.25}}}) == \
        FaultPlan(0.0, 0.25)
    plan = FaultPlan.from_config({"runtime": {"faults": {"market_data_failure_rate": 1,
                                                         "broker_failure_rate": 0.5}}}, seed=9)
    assert plan == FaultPlan(1.0, 0.5, seed=9)
    with pytest.raises(ValueError, match=r"runtime\.faults\.broker_failure_rate must be"):
        FaultPlan.from_config({"runtime": {"faults": {"broker_failure_rate": 2}}})


def test_overrides_change_rates_and_name_the_bad_key() -> None:
    base = FaultPlan(0.1, 0.2, seed=5)
    assert base.with_overrides({"market_data_failure_rate": 0.5}) == FaultPlan(0.5, 0.2, seed=5)
    assert base.with_overrides({"market_data_failure_rate": None,
                                "broker_failure_rate": 1}) == FaultPlan(0.1, 1.0, seed=5)
    assert base.with_overrides({}) == base
    for value in (1.5, -0.1, float("nan"), True, "0.5"):
        with pytest.raises(ValueError, match="broker_failure_rate must be a number from 0 to 1"):
            base.with_overrides({"broker_failure_rate": value})
    with pytest.raises(ValueError, match="unknown fault 'database_failure_rate'"):
        base.with_overrides({"database_failure_rate": 0.5})
    with pytest.raises(ValueError, match="market_data_failure_rate must be"):
        FaultPlan(market_data_failure_rate=3.0)


def test_settings_and_schema_read_runtime_faults() -> None:
    config: dict[str, Any] = {"runtime": {"faults": {"market_data_failure_rate": 0.3}}}
    assert settings_from_config(config, env={}).faults == FaultPlan(0.3, 0.0)
    assert settings_from_config({}, env={}).faults == FaultPlan()
    assert list(validator().iter_errors(config)) == []
    with pytest.raises(ConfigError, match=r"runtime\.faults\.market_data_failure_rate"):
        settings_from_config({"runtime": {"faults": {"market_data_failure_rate": 1.3}}}, env={})
    bad = {"runtime": {"faults": {"market_data_failure_rate": 1.3, "disk_failure_rate": 0.1}}}
    assert {tuple(e.absolute_path) for e in validator().iter_errors(bad)} == {
        ("runtime", "faults"), ("runtime", "faults", "market_data_failure_rate")}


def test_faulty_feed_counts_one_call_per_symbol_per_new_tick() -> None:
    stats = CallStats()
    feed = FaultyFeed(Simulator(seed=1, symbols=SYMBOLS), stats=stats)
    assert isinstance(feed, MarketFeed)
    snap = feed.advance(1000)
    assert stats.take() == (3, 0)
    assert feed.advance(1000) is snap and feed.advance(999) is snap  # no new tick: no call
    assert stats.take() == (0, 0)
    plain = MarketFeed(Simulator(seed=1, symbols=SYMBOLS)).advance(1001)
    assert feed.advance(1001)["A"].price == plain["A"].price


def test_faulty_feed_fails_by_the_plan_and_keeps_its_last_tick() -> None:
    feed = FaultyFeed(Simulator(seed=1, symbols=SYMBOLS))
    snap = feed.advance(1000)
    feed.set_plan(FaultPlan(market_data_failure_rate=1.0))
    with pytest.raises(MarketDataUnavailable, match="no market data for A, B, C at tick 1001"):
        feed.advance(1001)
    assert feed.tick == 1000 and feed.snapshot() is snap
    assert feed.stats.take() == (6, 3)  # 3 symbols at 1000 (ok), 3 at 1001 (failed)
    feed.set_plan(FaultPlan())  # the outage ends: the next tick replays the missed one
    later = feed.advance(1002)
    fresh = MarketFeed(Simulator(seed=1, symbols=SYMBOLS)).advance(1002)
    assert later["B"].price == fresh["B"].price
    assert later["B"].sma_fast == pytest.approx(fresh["B"].sma_fast)


def test_faulty_feed_fails_the_same_symbols_on_every_worker() -> None:
    plan = FaultPlan(market_data_failure_rate=0.5, seed=2)
    expected = [[plan.fails("market_data", market_data_key(s, t)) for s in SYMBOLS]
                for t in range(2000, 2300)]
    for _ in range(2):
        feed, outcomes = FaultyFeed(Simulator(seed=1, symbols=SYMBOLS), plan), []
        for tick in range(2000, 2300):
            try:
                feed.advance(tick)
                outcomes.append(True)
            except MarketDataUnavailable:
                outcomes.append(False)
        assert outcomes == [not any(row) for row in expected]
        calls, failures = feed.stats.take()
        assert calls == 900 and failures == sum(map(sum, expected))
        assert 0.4 < failures / calls < 0.6


def test_faulty_broker_counts_fills_and_fails_by_the_plan() -> None:
    stats = CallStats()
    broker = FaultyBroker.wrapping(PaperBroker(fee_rate=0.002, slippage_bps=5), stats=stats)
    assert isinstance(broker, PaperBroker)
    assert (broker.fee_rate, broker.slippage_bps) == (0.002, 5)
    fill = broker.fill("A", "buy", 2, 100.0)
    assert fill == PaperBroker(0.002, 5).fill("A", "buy", 2, 100.0)
    assert stats.take() == (1, 0)
    broker.set_plan(FaultPlan(broker_failure_rate=1.0))
    assert broker.plan.broker_failure_rate == 1.0
    with pytest.raises(BrokerUnavailable, match="did not take the sell of 1 A"):
        broker.fill("A", "sell", 1, 100.0)
    assert stats.take() == (1, 1)
    broker.set_plan(FaultPlan(broker_failure_rate=0.5, seed=1))
    failed = 0
    for _ in range(1000):
        try:
            broker.fill("A", "buy", 1, 10.0)
        except BrokerUnavailable:
            failed += 1
    assert stats.take() == (1000, failed) and 450 <= failed <= 550
    broker.set_plan(FaultPlan())
    with pytest.raises(ValueError, match="order needs qty > 0"):
        broker.fill("A", "buy", 0, 10.0)  # a rejected order: the broker answered
    assert stats.take() == (1, 0)


def test_one_stats_can_count_feed_and_broker_together() -> None:
    stats = CallStats()
    plan = FaultPlan(market_data_failure_rate=1.0, broker_failure_rate=1.0)
    feed = FaultyFeed(Simulator(seed=1, symbols=SYMBOLS), plan, stats)
    broker = FaultyBroker(plan=plan, stats=stats)
    with pytest.raises(MarketDataUnavailable):
        feed.advance(10)
    with pytest.raises(BrokerUnavailable):
        broker.fill("A", "buy", 1, 1.0)
    assert stats.take() == (4, 4)


def test_api_faults_come_from_the_configuration_and_survive_overrides() -> None:
    config = {"runtime": {"faults": {"api_error_rate": 0.05, "api_added_latency_ms": 20}}}
    plan = FaultPlan.from_config(config)
    assert (plan.api_error_rate, plan.api_added_latency_ms) == (0.05, 20.0)
    assert list(validator().iter_errors(config)) == []
    # An operator's override of the feed or broker keeps the release's API faults.
    assert plan.with_overrides({"broker_failure_rate": 0.5}).api_error_rate == 0.05
    with pytest.raises(ValueError, match=r"runtime\.faults\.api_added_latency_ms must be"):
        FaultPlan.from_config({"runtime": {"faults": {"api_added_latency_ms": -1}}})
    with pytest.raises(ValueError, match=r"runtime\.faults\.api_error_rate must be"):
        FaultPlan.from_config({"runtime": {"faults": {"api_error_rate": 5}}})


def test_api_faults_fail_the_planned_share_and_add_latency() -> None:
    faults = ApiFaults(FaultPlan(api_error_rate=0.05, seed=3))
    reasons = [faults.before_answer() for _ in range(4000)]
    failed = [r for r in reasons if r is not None]
    assert 150 <= len(failed) <= 250, len(failed)
    assert failed[0] == "injected fault (runtime.faults.api_error_rate 0.05)"
    assert ApiFaults(FaultPlan()).before_answer() is None
    # Workers fail different calls: twenty workers that answered ten calls each fail some.
    workers = [ApiFaults(FaultPlan(api_error_rate=0.05), salt=n) for n in range(20)]
    assert sum(w.before_answer() is not None for w in workers for _ in range(10)) > 0
    assert len({tuple(w.before_answer() is None for _ in range(200)) for w in workers}) == 20
    slow = ApiFaults(FaultPlan(api_added_latency_ms=30))
    started = time.monotonic()
    assert slow.before_answer() is None
    assert time.monotonic() - started >= 0.03
