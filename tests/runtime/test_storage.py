from collections.abc import Iterator
from pathlib import Path

import pytest

from tragen_runtime.agents import build_agents
from tragen_runtime.broker import Account, PaperBroker
from tragen_runtime.storage import repository as repo
from tragen_runtime.storage.db import SqliteDatabase
from tragen_runtime.storage.leases import LeaseManager, fair_share
from tragen_runtime.storage.migrations import LATEST, current_version, migrate, schema_problem

CONFIG = {"production": {"max_agents": 40}, "agent_pools": {"conservative": 20, "aggressive": 20}}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SqliteDatabase]:
    database = SqliteDatabase(str(tmp_path / "t.db"))
    yield database
    database.close()


def test_migrations_are_versioned_and_idempotent(db: SqliteDatabase) -> None:
    assert current_version(db) == 0
    assert "run `tragen-runtime migrate`" in (schema_problem(db) or "")
    assert migrate(db) == list(range(1, LATEST + 1))
    assert migrate(db) == []
    assert current_version(db) == LATEST and schema_problem(db) is None


def _manager(db: SqliteDatabase, n: int) -> LeaseManager:
    return LeaseManager(db, f"host:{n}:x", "host", n, "r1", ttl=10.0)


def test_leases_balance_and_never_double_own(db: SqliteDatabase) -> None:
    migrate(db)
    specs = build_agents(CONFIG, ["A"])
    repo.sync_agents(db, specs, 0.0)
    wanted = {s.agent_id for s in specs}
    a, b = _manager(db, 1), _manager(db, 2)
    first = a.run_round(100.0, wanted)
    assert len(first.owned) == 40  # alone: fair share is everything
    b.heartbeat(100.5)
    a_round = a.run_round(101.0, wanted)  # sees two live workers: gives back its excess
    assert len(a_round.owned) == fair_share(40, 2) == 21
    b_round = b.run_round(101.5, wanted)
    assert len(b_round.owned) == 19
    assert not (a_round.owned & b_round.owned)
    # b dies: its leases expire after the ttl, then a takes them again
    assert len(a.run_round(105.0, wanted).owned) == 21
    late = a.run_round(120.0, wanted)
    assert late.owned == frozenset(wanted) and len(late.gained) == 19


def test_trade_and_position_written_together_and_fenced(db: SqliteDatabase) -> None:
    migrate(db)
    specs = build_agents(CONFIG, ["A"])[:1]
    repo.sync_agents(db, specs, 0.0)
    agent = specs[0].agent_id
    mgr = _manager(db, 1)
    mgr.run_round(100.0, {agent})
    broker = PaperBroker()
    acct = Account()
    fill = acct.realize(broker.fill("A", "buy", 2, 50.0))
    after = acct.apply(fill, "d")
    assert repo.record_trade(db, agent, mgr.worker_id, fill, after, 7, "test", 101.0)
    loaded, halted = repo.load_accounts(db, [agent])[agent]
    assert loaded.positions["A"].qty == 2 and loaded.cash == pytest.approx(after.cash)
    assert not halted
    # a worker without the lease cannot write, and nothing is half-written
    other = _manager(db, 2)
    assert not repo.record_trade(db, agent, other.worker_id, fill, after, 8, "x", 101.0)
    # after expiry the old owner is fenced out too
    assert not repo.record_trade(db, agent, mgr.worker_id, fill, after, 9, "x", 200.0)
    assert len(repo.list_trades(db, 10)) == 1
    state = repo.get_agent(db, agent, 101.0)
    assert state is not None and state["positions"][0]["qty"] == 2


def test_analysis_requests_are_idempotent(db: SqliteDatabase) -> None:
    migrate(db)
    args = ("id-1", None, "A", "scalper", "hold", "r", 1.0, "w", 1.0)
    assert repo.record_analysis(db, *args)
    assert not repo.record_analysis(db, *args)


def test_like_prefix_is_literal(db: SqliteDatabase) -> None:
    migrate(db)
    with db.write() as tx:
        for worker in ("a_b/1", "axb/2", "a_b/3"):
            tx.execute("INSERT INTO workers (worker_id, host, pid, release_id, started_at, "
                       "heartbeat_at) VALUES (%s, 'h', 1, 'r', 0, 0)", (worker,))
    assert set(repo.worker_figures(db, "a_b/")) == {"a_b/1", "a_b/3"}


def test_workers_starting_together_take_their_share_at_once(db: SqliteDatabase) -> None:
    migrate(db)
    specs = build_agents(CONFIG, ["A"])
    repo.sync_agents(db, specs, 0.0)
    first = LeaseManager(db, "h:1:x", "h", 1, "r1", ttl=10.0, min_live=2)
    assert len(first.run_round(100.0, {s.agent_id for s in specs}).owned) == 21


def test_cluster_writes_go_to_whichever_server_is_writable_primary_first() -> None:
    from psycopg.conninfo import conninfo_to_dict

    from tragen_runtime.settings import DatabaseSettings
    from tragen_runtime.storage.db import writer_conninfo

    cluster = DatabaseSettings(kind="postgresql_cluster", host="db1", port=5433,
                               replicas=("db2", "db3:6432"), database="tragen_prod")
    assert conninfo_to_dict(writer_conninfo(cluster)) | {"password": None} == {
        "host": "db1,db2,db3", "port": "5433,5433,6432", "dbname": "tragen_prod",
        "user": "tragen", "password": None, "connect_timeout": "3",
        "application_name": "tragen-runtime", "target_session_attrs": "read-write"}
    single = DatabaseSettings(kind="postgresql", host="db.internal", replicas=("ignored",))
    assert conninfo_to_dict(writer_conninfo(single))["host"] == "db.internal"
    assert "target_session_attrs" not in conninfo_to_dict(writer_conninfo(single))
