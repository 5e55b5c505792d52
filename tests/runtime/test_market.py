from pathlib import Path

import pytest

from tragen_runtime.market import CsvReplay, MarketFeed, Simulator


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
