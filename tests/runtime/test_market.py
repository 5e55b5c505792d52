import math
import statistics
from pathlib import Path
from typing import Any

import pytest

from tragen_runtime.config.schemas import validator
from tragen_runtime.configsource import ConfigError
from tragen_runtime.market import (
    CORRELATED_STEP,
    CORRELATED_WINDOW,
    SCENARIOS,
    CsvReplay,
    MarketFeed,
    Simulator,
    _common_walk,
    price_source,
    scenario_factor,
    scenario_start_tick,
)
from tragen_runtime.settings import settings_from_config


def test_simulator_is_deterministic_per_seed_and_symbol() -> None:
    a, b = Simulator(seed=7), Simulator(seed=7)
    assert [a.price("AAPL", t) for t in range(50)] == [b.price("AAPL", t) for t in range(50)]
    assert Simulator(seed=8).price("AAPL", 10) != a.price("AAPL", 10)
    assert a.price("AAPL", 10) != a.price("MSFT", 10)
    assert len(a.symbols) >= 3
    assert all(p > 0 for p in (a.price(s, t) for s in a.symbols for t in range(0, 5000, 97)))


def test_feed_computes_indicators_once_per_tick_and_replays_gaps() -> None:
    feed = MarketFeed(Simulator(seed=1, symbols=("A", "B")))
    snap = feed.advance(1000)
    assert set(snap) == {"A", "B"}
    assert snap["A"].sma_slow is not None and snap["A"].tick == 1000
    assert feed.advance(1000) is snap  # same tick: same shared objects
    later = feed.advance(1003)
    fresh = MarketFeed(Simulator(seed=1, symbols=("A", "B"))).advance(1003)
    assert later["A"].price == fresh["A"].price
    assert later["A"].sma_fast == pytest.approx(fresh["A"].sma_fast)


def test_csv_replay(tmp_path: Path) -> None:
    (tmp_path / "XYZ.csv").write_text("timestamp,open,high,low,close,volume\n"
                                      "1,1,1,1,10.5,100\n2,1,1,1,11.0,100\n")
    replay = CsvReplay(tmp_path)
    assert replay.symbols == ("XYZ",)
    assert [replay.price("XYZ", t) for t in range(3)] == [10.5, 11.0, 10.5]
    with pytest.raises(ValueError, match="no CSV for"):
        CsvReplay(tmp_path, ["NOPE"])


# -- scenarios (runtime.market.scenario) ------------------------------------------------------

@pytest.mark.parametrize(("scenario", "n", "factor"), [
    ("none", -5, 1.0), ("none", 0, 1.0), ("none", 100, 1.0),
    ("rise_crash_recovery", -1, 1.0), ("rise_crash_recovery", 0, 1.0),
    ("rise_crash_recovery", 15, 1.025), ("rise_crash_recovery", 30, 1.05),
    ("rise_crash_recovery", 35, 0.875), ("rise_crash_recovery", 40, 0.70),
    ("rise_crash_recovery", 55, 0.70), ("rise_crash_recovery", 70, 0.70),
    ("rise_crash_recovery", 100, 0.85), ("rise_crash_recovery", 130, 1.0),
    ("rise_crash_recovery", 10_000, 1.0),
    ("crash", -1, 1.0), ("crash", 0, 1.0), ("crash", 5, 0.85), ("crash", 10, 0.70),
    ("crash", 11, 0.70), ("crash", 10**9, 0.70),
    ("correlated", -1, 1.0),
])
def test_scenario_factor_at_key_ticks(scenario: str, n: int, factor: float) -> None:
    assert scenario_factor(scenario, n) == pytest.approx(factor, abs=1e-12)


def test_the_correlated_factor_is_one_bounded_walk() -> None:
    def walk(n: int) -> float:
        return math.log(scenario_factor("correlated", n))

    assert walk(0) == pytest.approx(_common_walk(0)) and walk(0) != 0.0
    assert abs(walk(0)) <= CORRELATED_STEP
    # step by step it adds the new tick's step (and drops the one leaving the window)
    assert abs(walk(10) - walk(9)) <= CORRELATED_STEP
    assert abs(walk(500) - walk(499)) <= 2 * CORRELATED_STEP
    assert all(abs(walk(n)) <= CORRELATED_WINDOW * CORRELATED_STEP for n in range(0, 3000, 7))
    assert scenario_factor("correlated", 10**12) > 0  # any tick, in window-bounded time


def test_an_unknown_scenario_is_refused() -> None:
    with pytest.raises(ValueError, match="runtime.market.scenario 'boom'"):
        scenario_factor("boom", 3)
    with pytest.raises(ValueError, match="runtime.market.scenario"):
        Simulator(scenario="boom")
    assert set(SCENARIOS) == {"none", "rise_crash_recovery", "crash", "correlated"}


def test_the_start_tick_is_the_engines_tick_at_starts_at() -> None:
    assert scenario_start_tick(1_700_000_000) == 1_700_000_000
    assert scenario_start_tick(1_700_000_001, 2.0) == 850_000_000
    assert scenario_start_tick(10, 0.5) == 20
    now = 1_700_000_123.75
    assert scenario_start_tick(1_700_000_123, 0.25) == int(now // 0.25) - 3


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_prices_are_the_same_in_every_instance(scenario: str) -> None:
    a = Simulator(seed=7, scenario=scenario, start_tick=1000)
    b = Simulator(seed=7, scenario=scenario, start_tick=1000)
    ticks = range(900, 1300)
    assert [a.price(s, t) for s in a.symbols for t in ticks] == \
        [b.price(s, t) for s in b.symbols for t in ticks]


@pytest.mark.parametrize("scenario", ["rise_crash_recovery", "crash"])
def test_a_shaped_scenario_multiplies_the_plain_price(scenario: str) -> None:
    plain = Simulator(seed=3)
    shaped = Simulator(seed=3, scenario=scenario, start_tick=500)
    for t in (0, 499):  # before the start: the plain simulator, bit for bit
        assert shaped.price("AAPL", t) == plain.price("AAPL", t)
    for n in (0, 15, 30, 35, 40, 100, 200):
        expected = plain.price("AAPL", 500 + n) * scenario_factor(scenario, n)
        assert shaped.price("AAPL", 500 + n) == pytest.approx(expected, rel=1e-6)
    assert shaped.price("NVDA", 540) == pytest.approx(0.70 * plain.price("NVDA", 540), rel=1e-6)


def test_none_is_todays_simulator() -> None:
    assert [Simulator(seed=9, scenario="none", start_tick=5).price("MSFT", t)
            for t in range(100)] == [Simulator(seed=9).price("MSFT", t) for t in range(100)]


def test_correlated_moves_every_symbol_together() -> None:
    plain = Simulator(seed=42)
    together = Simulator(seed=42, scenario="correlated", start_tick=1000)
    assert together.price("AAPL", 999) == plain.price("AAPL", 999)

    def mean_correlation(sim: Simulator, first: int) -> float:
        # 30 five-tick returns (30 lease rounds of 5 s at 1 s ticks) per symbol
        rets = [[math.log(sim.price(s, t + 5) / sim.price(s, t)) for t in range(first,
                                                                                first + 150, 5)]
                for s in sim.symbols]
        pairs = [statistics.correlation(x, y) for i, x in enumerate(rets) for y in rets[i + 1:]]
        return statistics.mean(pairs)

    for first in (1000, 1450, 2900):
        assert mean_correlation(together, first) > 0.85
        assert abs(mean_correlation(plain, first)) < 0.5


def test_price_source_passes_the_scenario_and_refuses_it_for_csv(tmp_path: Path) -> None:
    source = price_source("simulator", 5, ("A",), None, scenario="crash",
                          scenario_starts_at=2000, tick_interval=2.0)
    assert isinstance(source, Simulator)
    assert (source.scenario, source.start_tick) == ("crash", 1000)
    assert source.price("A", 1010) == pytest.approx(0.7 * Simulator(5, ("A",)).price("A", 1010),
                                                    rel=1e-6)
    (tmp_path / "A.csv").write_text("close\n1\n")
    with pytest.raises(ValueError, match="csv replay plays its files as recorded"):
        price_source("csv", 5, ("A",), str(tmp_path), scenario="crash")


def test_settings_and_schema_read_the_scenario() -> None:
    config: dict[str, Any] = {"runtime": {"market": {"scenario": "rise_crash_recovery",
                                                     "scenario_starts_at": 1_700_000_001,
                                                     "tick_interval": 2}}}
    market = settings_from_config(config, env={}).market
    assert (market.scenario, market.scenario_starts_at) == ("rise_crash_recovery", 1_700_000_001)
    assert market.scenario_start_tick == 850_000_000
    assert settings_from_config({}, env={}).market.scenario == "none"
    assert list(validator().iter_errors(config)) == []
    with pytest.raises(ConfigError) as err:
        settings_from_config({"runtime": {"market": {"scenario": "boom",
                                                     "scenario_starts_at": -1}}}, env={})
    assert "runtime.market.scenario 'boom'" in str(err.value)
    assert "runtime.market.scenario_starts_at -1" in str(err.value)
    with pytest.raises(ConfigError, match="shapes the simulator"):
        settings_from_config({"runtime": {"market": {"source": "csv", "csv_dir": "/d",
                                                     "scenario": "crash"}}}, env={})
    bad = {"runtime": {"market": {"scenario": "boom", "scenario_starts_at": -1}}}
    paths = {tuple(e.absolute_path) for e in validator().iter_errors(bad)}
    assert paths == {("runtime", "market", "scenario"),
                     ("runtime", "market", "scenario_starts_at")}
    csv = {"runtime": {"market": {"source": "csv", "csv_dir": "/d", "scenario": "crash"}}}
    assert [tuple(e.absolute_path) for e in validator().iter_errors(csv)] == \
        [("runtime", "market", "scenario")]
