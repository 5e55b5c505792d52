"""Real PostgreSQL + Redis + gunicorn (2 workers per server) under request load."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.runtime.load import Load
from tests.runtime.services import (
    PG_BIN,
    Gunicorn,
    Postgres,
    Redis,
    as_postgres,
    free_port,
    postgres_replica,
    postgres_server,
    run_cli,
    runtime_env,
    wait_for,
    write_config,
)
from tragen_runtime.broker import INITIAL_CASH

pytestmark = pytest.mark.integration
AGENTS = 40
TTL = 3.0


def _config(pg: Postgres, dbname: str, redis: Redis | None) -> dict[str, Any]:
    runtime: dict[str, Any] = {
        "release_id": "it-1",
        "market": {"source": "simulator", "seed": 7, "tick_interval": 0.2,
                   "symbols": ["AAPL", "MSFT", "NVDA", "BTC-USD"]},
        "database": {"port": pg.port, "user": pg.user},
        "leases": {"ttl_seconds": TTL, "renew_interval_seconds": 0.5},
    }
    config: dict[str, Any] = {
        "production": {"max_agents": AGENTS, "concurrent_analyses": 8},
        "agent_pools": {"aggressive": 24, "balanced": 8, "conservative": 8},
        "database": {"type": "postgresql", "host": pg.host, "database": dbname,
                     "connection_pool": 20},
        "runtime": runtime,
    }
    if redis is not None:
        runtime["redis"] = {"host": redis.host, "port": redis.port}
        config["caching"] = {"l1_cache": {"type": "memory", "size": "100MB", "ttl": 60,
                                          "data": ["current_prices"]},
                             "l2_cache": {"type": "redis", "size": "100MB", "ttl": 300,
                                          "data": ["indicators", "analysis_results"]}}
    return config


@pytest.fixture
def deployment(tmp_path: Path, postgres: Postgres, redis: Redis) -> Iterator[dict[str, Any]]:
    dbname = postgres.create_database()
    config = write_config(tmp_path / "config.yaml", _config(postgres, dbname, redis))
    env = runtime_env(config, "127.0.9.20:1")
    migrated = run_cli(["migrate"], env, tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    started: list[Gunicorn] = []

    def start(host: str, **extra: str) -> Gunicorn:
        bind = f"{host}:{free_port(host)}"
        app = Gunicorn(runtime_env(config, bind, TRAGEN_WORKERS="2", TRAGEN_THREADS="4",
                                   TRAGEN_DRAIN_SECONDS="1", TRAGEN_ADMIN_TOKEN="s3cret-token",
                                   TRAGEN_GRACEFUL_TIMEOUT="10", **extra), tmp_path)
        started.append(app)
        return app

    yield {"start": start, "conninfo": postgres.conninfo(dbname), "tmp": tmp_path}
    for app in started:
        app.stop()


def _db(conninfo: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(conninfo) as conn:
        return list(conn.execute(sql, params).fetchall())


def _owners(conninfo: str) -> dict[str, str | None]:
    rows = _db(conninfo, "SELECT agent_id, owner, expires_at FROM leases")
    now = time.time()
    return {a: (o if o and e > now else None) for a, o, e in rows}


def _assert_books_consistent(conninfo: str) -> int:
    """Every agent's account and positions equal what its committed trades imply.

    Read in one REPEATABLE READ snapshot: the service may still be trading."""
    with psycopg.connect(conninfo) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction():
            trades = conn.execute(
                "SELECT agent_id, symbol, side, qty, price, fee FROM trades").fetchall()
            agents = {r[0]: r[1:] for r in conn.execute(
                "SELECT agent_id, cash, trade_count FROM agents").fetchall()}
            positions = {(a, s): q for a, s, q in conn.execute(
                "SELECT agent_id, symbol, qty FROM positions").fetchall()}
    cash: dict[str, float] = {a: INITIAL_CASH for a in agents}
    count: dict[str, int] = dict.fromkeys(agents, 0)
    held: dict[tuple[str, str], float] = {}
    for agent, symbol, side, qty, price, fee in trades:
        sign = 1 if side == "buy" else -1
        cash[agent] -= sign * qty * price + fee
        count[agent] += 1
        held[(agent, symbol)] = held.get((agent, symbol), 0.0) + sign * qty
    for agent, (agent_cash, trade_count) in agents.items():
        assert trade_count == count[agent], f"{agent}: trade_count vs trade rows"
        assert agent_cash == pytest.approx(cash[agent], abs=1e-6), f"{agent}: cash"
    for key, qty in held.items():
        assert positions.get(key, 0.0) == pytest.approx(qty, abs=1e-6), f"{key}: position"
    return len(trades)


def test_sigkill_of_a_worker_loses_no_agent_and_no_trade(deployment: dict[str, Any]) -> None:
    app: Gunicorn = deployment["start"]("127.0.9.21")
    conninfo = deployment["conninfo"]
    app.wait_ready()
    owners = wait_for(lambda: (o := _owners(conninfo)) and all(o.values()) and
                      len(set(o.values())) == 2 and o, 20, "both workers to run agents")
    assert len(owners) == AGENTS
    with Load([(app.host, app.port)], threads=4, agent_ids=sorted(owners)) as load:
        wait_for(lambda: _db(conninfo, "SELECT COUNT(*) FROM trades")[0][0] >= 3, 20,
                 "some trades")
        before = {r[0] for r in _db(conninfo, "SELECT trade_id FROM trades")}
        victim_id = sorted(set(owners.values()))[0]
        victim_pid = int(victim_id.rsplit("/", 1)[1].split("-")[0])
        assert victim_pid in app.worker_pids()
        victims = {a for a, o in owners.items() if o == victim_id}
        os.kill(victim_pid, signal.SIGKILL)
        killed_at = time.monotonic()
        resumed = wait_for(
            lambda: (o := _owners(conninfo)) and all(o[a] and o[a] != victim_id for a in victims)
            and all(o.values()) and o, TTL + 10, "the killed worker's agents to run elsewhere")
        took = time.monotonic() - killed_at
        time.sleep(1.0)  # trading continues in the surviving and the respawned worker
        result = load.stop()
    assert before <= {r[0] for r in _db(conninfo, "SELECT trade_id FROM trades")}
    assert took <= TTL + 5, f"agents resumed only after {took:.1f}s"
    assert victim_id not in resumed.values()
    trades = _assert_books_consistent(conninfo)
    print(f"sigkill: resumed in {took:.1f}s, {trades} trades, load {dict(result.counts)}")
    assert result.counts["failed"] == 0, result.failures
    assert result.counts["POST 202"] > 0
    stored = {r[0] for r in _db(conninfo, "SELECT analysis_id FROM analyses")}
    assert result.write_ids <= stored


def test_sigterm_drains_without_losing_requests_or_trades(deployment: dict[str, Any]) -> None:
    a: Gunicorn = deployment["start"]("127.0.9.22")
    b: Gunicorn = deployment["start"]("127.0.9.23")
    conninfo = deployment["conninfo"]
    a.wait_ready()
    b.wait_ready()
    wait_for(lambda: (o := _owners(conninfo)) and all(o.values()) and
             len({v.split("/")[0] for v in o.values() if v}) == 2, 20,
             "agents spread over both servers")
    with Load([(a.host, a.port), (b.host, b.port)], threads=6) as load:
        wait_for(lambda: _db(conninfo, "SELECT COUNT(*) FROM trades")[0][0] >= 3, 20,
                 "some trades")
        a.proc.send_signal(signal.SIGTERM)
        status, body = wait_for(lambda: (r := a.get("/readyz", 2)) and r[0] == 503
                                and r[1]["draining"] and r, 1.0,
                                "/readyz 503 (draining) at once after SIGTERM", interval=0.02)
        assert "in_flight" in body
        assert a.proc.wait(20) == 0, a.log()
        a_prefix = f"@{a.host}:{a.port}/"
        wait_for(lambda: (o := _owners(conninfo)) and all(v and a_prefix not in v
                                                            for v in o.values()),
                 TTL + 5, "server A's agents to run on server B")
        time.sleep(1.0)
        result = load.stop()
    assert result.counts["failed"] == 0, result.failures
    assert result.counts["GET 200"] > 50 and result.counts["POST 202"] > 10
    stored = {r[0] for r in _db(conninfo, "SELECT analysis_id FROM analyses")}
    assert result.write_ids <= stored
    trades = _assert_books_consistent(conninfo)
    print(f"sigterm: {trades} trades, load {dict(result.counts)}")
    status, metrics_text = b.get("/metrics")
    assert "tragen_agent_win_rate" in metrics_text
    assert status == 200


def test_api_admin_halt_and_redis_cache(deployment: dict[str, Any], redis: Redis) -> None:
    app: Gunicorn = deployment["start"]("127.0.9.24")
    body = app.wait_ready()
    assert body["checks"]["cache"]["l2"] == "ok"
    status, agents = app.get("/api/v1/agents")
    agent_id = agents["agents"][0]["agent_id"]
    assert app.post(f"/api/v1/agents/{agent_id}/halt", {})[0] == 401
    assert app.post(f"/api/v1/agents/{agent_id}/halt", {},
                    {"Authorization": "Bearer wrong"})[0] == 401
    status, halted = app.post(f"/api/v1/agents/{agent_id}/halt", {},
                              {"Authorization": "Bearer s3cret-token"})
    assert status == 200 and halted["halted"] is True
    assert app.get(f"/api/v1/agents/{agent_id}")[1]["halted"] is True
    assert app.post(f"/api/v1/agents/{agent_id}/resume", {},
                    {"Authorization": "Bearer s3cret-token"})[0] == 200
    assert "s3cret-token" not in app.log()
    import redis as redis_lib

    client = redis_lib.Redis(host=redis.host, port=redis.port)
    assert wait_for(lambda: client.get("tragen:indicators:AAPL"), 10, "indicators in Redis")
    status, text = app.get("/metrics")
    assert "tragen_http_requests_total" in text and "tragen_host_memory_used_ratio" in text


def test_redis_down_degrades_but_stays_ready(tmp_path: Path, postgres: Postgres) -> None:
    dbname = postgres.create_database()
    dead = Redis("127.0.9.2", free_port("127.0.9.2"), proc=None)  # type: ignore[arg-type]
    config = write_config(tmp_path / "c.yaml", _config(postgres, dbname, dead))
    env = runtime_env(config, f"127.0.9.25:{free_port('127.0.9.25')}", TRAGEN_WORKERS="1",
                      TRAGEN_DRAIN_SECONDS="0")
    behind = Gunicorn(env, tmp_path)
    try:  # schema not migrated yet: alive but not ready, and says what to do
        status, body = wait_for(lambda: (r := behind.get("/readyz", 2)) and "migrate" in
                                " ".join(r[1].get("reasons", [])) and r, 20,
                                "a not-ready answer naming the migration")
        assert status == 503 and "tragen-runtime migrate" in " ".join(body["reasons"])
        assert behind.get("/healthz")[0] == 200
        assert run_cli(["migrate"], env, tmp_path).returncode == 0
        body = behind.wait_ready()
        assert body["checks"]["cache"]["l2"] == "degraded", body
        assert behind.get("/api/v1/portfolio")[0] == 200
    finally:
        behind.stop()
    check = run_cli(["check"], env, tmp_path)
    assert check.returncode == 1 and "redis unreachable" in check.stderr


def test_cluster_reads_go_to_a_replica_in_bound_and_leave_it_while_it_lags(
        postgres: Postgres, replica: Postgres) -> None:
    """postgresql_cluster with read_write_split, against a real streaming replica: reads go to
    it while its replay lag is within bound, not while its replay is paused and the primary
    writes, and again once it has caught up; an idle primary does not make it stale; a replica
    that cannot be reached gets no reads."""
    from tragen_runtime.settings import settings_from_config
    from tragen_runtime.storage.db import PostgresDatabase
    from tragen_runtime.storage.migrations import migrate

    dbname = postgres.create_database()
    good, bad = f"{replica.host}:{replica.port}", "127.0.9.3:1"
    settings = settings_from_config({
        "database": {"type": "postgresql_cluster", "primary": postgres.host,
                     "replicas": [good, bad], "read_write_split": True,
                     "max_connections": 20, "connection_pool": True},
        "runtime": {"database": {"port": postgres.port, "user": postgres.user,
                                 "replica_max_lag_seconds": 1}},
    }, env={})
    database = type(settings.database)(**{**settings.database.__dict__, "database": dbname})
    db = PostgresDatabase(database, 1, 2, replica_check_interval=0)

    def add_worker(worker_id: str) -> None:
        with db.write() as tx:
            tx.execute("INSERT INTO workers (worker_id, host, pid, release_id, started_at, "
                       "heartbeat_at) VALUES (%s, 'h', 1, 'r', 0, 0)", (worker_id,))

    def read() -> tuple[bool, int]:
        """(answered by a replica, workers it sees)."""
        with db.read() as tx:
            row = tx.execute("SELECT pg_is_in_recovery(), (SELECT COUNT(*) FROM workers)")[0]
        return bool(row[0]), int(row[1])

    def replica_sql(sql: str) -> None:
        with psycopg.connect(replica.conninfo(), autocommit=True) as conn:
            conn.execute(sql)

    try:
        migrate(db)
        add_worker("w1")
        report = wait_for(lambda: (r := db.refresh_replicas())[good]["used_for_reads"] and r,
                          10, "the replica to be used for reads")
        assert report[bad] == {"error": report[bad]["error"], "used_for_reads": False}
        assert wait_for(lambda: read() == (True, 1), 10, "the replica to have the first row")

        # Idle primary for longer than the bound: the replica is caught up, so it stays.
        time.sleep(1.5)
        assert db.refresh_replicas()[good] == {"lag_seconds": 0.0, "used_for_reads": True}

        replica_sql("SELECT pg_wal_replay_pause()")
        try:
            add_worker("w2")
            lagging = wait_for(lambda: not (r := db.refresh_replicas())[good]["used_for_reads"]
                               and r, 10, "the paused replica to be left out of reads")
            assert lagging[good]["lag_seconds"] > 1, lagging
            assert read() == (False, 2), "reads went to the primary, which has the new row"
        finally:
            replica_sql("SELECT pg_wal_replay_resume()")
        wait_for(lambda: db.refresh_replicas()[good]["used_for_reads"], 10,
                 "the replica to come back once it has caught up")
        assert read() == (True, 2)
    finally:
        db.close()


def _cluster_database(primary: Postgres, replica: Postgres) -> Any:
    """The runtime's database for a postgresql_cluster of these two servers."""
    from tragen_runtime.settings import settings_from_config
    from tragen_runtime.storage.db import PostgresDatabase
    from tragen_runtime.storage.migrations import migrate

    settings = settings_from_config({
        "database": {"type": "postgresql_cluster", "primary": f"{primary.host}:{primary.port}",
                     "database": primary.create_database(),
                     "replicas": [f"{replica.host}:{replica.port}"], "read_write_split": False,
                     "max_connections": 20, "connection_pool": True},
        "runtime": {"database": {"user": primary.user}},
    }, env={})
    db = PostgresDatabase(settings.database, 1, 2)
    migrate(db)
    return db


def _write_lands_on(db: Any, worker_id: str) -> int:
    """Writes a row and answers the port of the server that took it."""
    with db.write() as tx:
        tx.execute("INSERT INTO workers (worker_id, host, pid, release_id, started_at, "
                   "heartbeat_at) VALUES (%s, 'h', 1, 'r', 0, 0)", (worker_id,))
        return int(tx.execute("SELECT inet_server_port()")[0][0])


def _first_write_after(db: Any, worker_id: str, timeout: float) -> tuple[int, float, int]:
    """(port that took the write, seconds until it did, writes refused before it)."""
    from tragen_runtime.storage.db import DatabaseUnavailable

    start, refused = time.monotonic(), 0
    while time.monotonic() - start < timeout:
        try:
            return _write_lands_on(db, worker_id), time.monotonic() - start, refused
        except DatabaseUnavailable:
            refused += 1
            time.sleep(0.2)
    raise AssertionError(f"no write succeeded within {timeout}s ({refused} refused)")


def _sql(server: Postgres, sql: str) -> Any:
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        cursor = conn.execute(sql)
        row = cursor.fetchone() if cursor.description else None
    return row[0] if row else None


def _wait_caught_up(primary: Postgres, replica: Postgres) -> None:
    """Until the replica has replayed all the primary wrote. Replication is asynchronous here:
    a replica promoted earlier would lack the tables, which is what synchronous mode is for."""
    end = _sql(primary, "SELECT pg_switch_wal()::text")  # flushes what synchronous_commit=off held
    wait_for(lambda: _sql(replica, f"SELECT pg_last_wal_replay_lsn() >= '{end}'::pg_lsn"), 10,
             "the replica to replay all the primary wrote")


def test_cluster_writes_find_a_promoted_replica_once_the_primary_crashed() -> None:
    """A crashed primary, a replica promoted (what Patroni does): the same pools write to the
    new primary, without a restart."""
    with postgres_server() as primary, postgres_replica(primary) as replica:
        db = _cluster_database(primary, replica)
        try:
            assert _write_lands_on(db, "before") == primary.port
            _wait_caught_up(primary, replica)
            subprocess.run(as_postgres([str(PG_BIN / "pg_ctl"), "stop", "-m", "immediate",
                                         "-D", str(primary.datadir)]),
                           check=True, capture_output=True)
            _sql(replica, "SELECT pg_promote()")
            port, seconds, refused = _first_write_after(db, "after", timeout=30)
            print(f"\nfirst write after the crash and promotion: {seconds:.2f} s, "
                  f"{refused} writes refused before it")
            assert port == replica.port
        finally:
            db.close()


def test_cluster_writes_leave_a_primary_that_turned_read_only() -> None:
    """An old primary that is back as a read-only server keeps its pooled connections open:
    the first write refused there empties the pool, and the next finds the new primary."""
    with postgres_server() as primary, postgres_replica(primary) as replica:
        db = _cluster_database(primary, replica)
        try:
            assert _write_lands_on(db, "before") == primary.port
            _wait_caught_up(primary, replica)
            _sql(replica, "SELECT pg_promote()")
            _sql(primary, "ALTER SYSTEM SET default_transaction_read_only = on")
            _sql(primary, "SELECT pg_reload_conf()")
            wait_for(lambda: _sql(primary, "SHOW default_transaction_read_only") == "on", 5,
                     "the old primary to turn read-only")
            time.sleep(0.5)  # the pooled sessions read the reloaded setting asynchronously
            port, _, refused = _first_write_after(db, "after", timeout=15)
            assert port == replica.port
            assert refused <= 1, "only the write on the pooled read-only connection is refused"
        finally:
            db.close()


def test_l2_through_sentinel(redis: Redis) -> None:
    from tests.runtime.services import sentinel_server
    from tragen_runtime.cache import RedisCache
    from tragen_runtime.settings import RedisSettings

    with sentinel_server(redis, "sentinel-pw") as sentinel:
        settings = RedisSettings(sentinel_master="tragen",
                                 sentinel_hosts=((sentinel.host, sentinel.port),),
                                 sentinel_password="sentinel-pw")
        cache = RedisCache(settings, timeout=1.0)
        try:
            cache.set_many({"sentinel-probe": {"ok": 1}}, ttl=30)
            assert cache.get("sentinel-probe") == {"ok": 1}, cache.last_error
            assert cache.ping()
        finally:
            cache.close()
        wrong = RedisCache(RedisSettings(sentinel_master="tragen",
                                         sentinel_hosts=((sentinel.host, sentinel.port),),
                                         sentinel_password="nope"), timeout=1.0)
        assert not wrong.ping() and wrong.last_error
        wrong.close()
