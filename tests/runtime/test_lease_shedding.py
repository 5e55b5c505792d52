"""Shedding agents (the memory breaker's scale_down_agents) through the lease hand-over:
an agent with open positions is never left without an owner.

Each test runs on SQLite and, marked `integration`, on a real PostgreSQL (the claim statement
differs: `FOR UPDATE SKIP LOCKED` there).
"""

from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from tragen_runtime.agents import build_agents
from tragen_runtime.storage import repository as repo
from tragen_runtime.storage.db import Database, SqliteDatabase
from tragen_runtime.storage.leases import LeaseManager, fair_share, plan_release, shed_share
from tragen_runtime.storage.migrations import migrate

CONFIG = {"production": {"max_agents": 40}, "agent_pools": {"conservative": 20, "aggressive": 20}}


def _postgres(request: pytest.FixtureRequest) -> Database:
    from tragen_runtime.settings import settings_from_config
    from tragen_runtime.storage.db import open_database

    pg = request.getfixturevalue("postgres")
    settings = settings_from_config({
        "database": {"type": "postgresql", "host": pg.host, "database": pg.create_database(),
                     "connection_pool": 4},
        "runtime": {"database": {"port": pg.port, "user": pg.user}}}, env={})
    return open_database(settings.database, workers=1)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    database = (SqliteDatabase(str(tmp_path / "t.db")) if request.param == "sqlite"
                else _postgres(request))
    migrate(database)
    yield database
    database.close()


@pytest.fixture
def wanted(db: Database) -> set[str]:
    specs = build_agents(CONFIG, ["A"])
    repo.sync_agents(db, specs, 0.0)
    return {s.agent_id for s in specs}


def _manager(db: Database, n: int, min_live: int = 1) -> LeaseManager:
    return LeaseManager(db, f"host:{n}:x", "host", n, "r1", ttl=10.0, min_live=min_live)


def _open(db: Database, agents: Iterable[str]) -> frozenset[str]:
    with db.write() as tx:
        tx.executemany("INSERT INTO positions (agent_id, symbol, qty, avg_price) "
                       "VALUES (%s, 'A', 1, 100)", [(a,) for a in sorted(agents)])
    return frozenset(agents)


def _close(db: Database, agents: Iterable[str]) -> None:
    with db.write() as tx:
        tx.executemany("DELETE FROM positions WHERE agent_id = %s", [(a,) for a in agents])


def _unowned_with_positions(db: Database, now: float) -> set[str]:
    with db.write() as tx:
        rows = tx.execute("SELECT DISTINCT l.agent_id FROM leases l JOIN positions p "
                          "ON p.agent_id = l.agent_id WHERE l.owner IS NULL "
                          "OR l.expires_at < %s", (now,))
    return {r[0] for r in rows}


def _balanced(db: Database, wanted: set[str]) -> tuple[LeaseManager, LeaseManager]:
    a, b = _manager(db, 1), _manager(db, 2)
    a.run_round(100.0, wanted)
    b.heartbeat(100.5)
    a.run_round(101.0, wanted)
    b.run_round(101.5, wanted)
    assert (len(a.owned), len(b.owned)) == (21, 19)
    return a, b


def test_plan_release_prefers_flat_agents_and_never_sheds_one_with_positions() -> None:
    mine = {f"a{i:02d}" for i in range(10)}
    holding = frozenset({"a08", "a09", "a00"})
    # fair share 10, shed to 4: the 6 highest flat agents go, the 3 with positions stay
    assert plan_release(mine, holding, 10, 4) == {"a02", "a03", "a04", "a05", "a06", "a07"}
    # shed to 0 with only agents holding positions: nothing goes
    assert plan_release(set(holding), holding, 10, 0) == set()
    # ordinary rebalance (share = full): flat first, then positions only for the real excess
    assert plan_release(mine, holding, 8, 8) == {"a06", "a07"}
    assert plan_release(mine, frozenset(mine - {"a01"}), 7, 7) == {"a01", "a09", "a08"}
    assert plan_release(mine, frozenset(), 7, 7) == {"a07", "a08", "a09"}  # as before
    assert shed_share(21, 0.5) == 10 and shed_share(21, 1.0) == 21 and shed_share(21, -1) == 0


def test_a_shed_never_releases_an_agent_with_positions(db: Database,
                                                       wanted: set[str]) -> None:
    a, b = _balanced(db, wanted)
    a_holding = _open(db, sorted(a.owned)[:15])
    b_holding = _open(db, sorted(b.owned)[:4])
    a_shed = a.run_round(102.0, wanted, share_factor=0.5, holding=a_holding)
    b_shed = b.run_round(102.5, wanted, share_factor=0.5, holding=b_holding)
    assert a_shed.fair_share == shed_share(fair_share(40, 2), 0.5) == 10
    assert not (a_shed.released & a_holding) and a_holding <= a_shed.owned
    assert len(a_shed.owned) == 15 and a_shed.held == a_holding  # above 10: kept, not shed
    assert not (b_shed.released & b_holding) and len(b_shed.owned) == 10
    assert not _unowned_with_positions(db, 103.0)
    # every worker keeps shedding: still nobody leaves an agent with positions unowned
    for now in (104.0, 106.0, 108.0):
        a.run_round(now, wanted, share_factor=0.5, holding=a_holding)
        b.run_round(now + 0.5, wanted, share_factor=0.5, holding=b_holding)
        assert not _unowned_with_positions(db, now + 1.0)
        assert not (a.owned & b.owned)
    # once flat, the extra agents go in a later round
    _close(db, sorted(a_holding)[:10])
    later = a.run_round(110.0, wanted, share_factor=0.5, holding=a_holding - set(
        sorted(a_holding)[:10]))
    assert len(later.owned) == 10 and set(sorted(a_holding)[10:]) <= later.owned
    assert later.held == frozenset()


def test_an_orphan_with_positions_is_claimed_first(db: Database,
                                                   wanted: set[str]) -> None:
    a, b = _balanced(db, wanted)
    orphans = _open(db, sorted(b.owned)[-3:])  # the highest ids: last in agent_id order
    # b dies; a is shedding, with room for one agent less than it has
    after = a.run_round(120.0, wanted, share_factor=0.5)
    assert after.live_workers == 1 and after.fair_share == shed_share(41, 0.5) == 20
    assert orphans <= after.gained and after.gained == orphans  # no flat orphan taken
    assert not _unowned_with_positions(db, 121.0)


def test_claims_take_agents_with_positions_before_lower_ids(db: Database,
                                                            wanted: set[str]) -> None:
    holders = _open(db, sorted(wanted)[-3:])
    fresh = _manager(db, 1, min_live=4)  # a server of 4 workers: share 11
    first = fresh.run_round(100.0, wanted)
    assert len(first.owned) == fair_share(40, 4) == 11
    assert first.owned == holders | set(sorted(wanted)[:8])


def test_fair_share_still_balances_and_hands_over_positions(db: Database,
                                                            wanted: set[str]) -> None:
    a, b = _manager(db, 1), _manager(db, 2)
    holding = _open(db, wanted)  # every agent holds a position: the excess must still move
    assert len(a.run_round(100.0, wanted, holding=holding).owned) == 40
    b.heartbeat(100.5)
    a_round = a.run_round(101.0, wanted, holding=holding)
    assert len(a_round.owned) == 21 and len(a_round.released) == 19
    b_round = b.run_round(101.5, wanted, holding=holding)
    assert b_round.owned == a_round.released and not (a_round.owned & b_round.owned)
    assert not _unowned_with_positions(db, 102.0)


def test_fair_share_releases_flat_agents_first(db: Database, wanted: set[str]) -> None:
    a, b = _manager(db, 1), _manager(db, 2)
    a.run_round(100.0, wanted)
    holding = _open(db, sorted(wanted)[-10:])  # the ids a would have given back before
    b.heartbeat(100.5)
    a_round = a.run_round(101.0, wanted, holding=holding)
    assert holding <= a_round.owned and not (a_round.released & holding)
    assert len(b.run_round(101.5, wanted).owned) == 19
