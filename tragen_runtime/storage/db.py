"""Database access for SQLite (WAL) and PostgreSQL (psycopg 3 pools, primary + replicas).

SQL is written once with `%s` placeholders; the SQLite backend rewrites them to `?`.
`write()` opens a transaction on the primary (in a cluster: whichever configured server accepts
writes, so a promoted replica takes them without a restart); `read()` may use a replica whose lag
is within `runtime.database.replica_max_lag_seconds` when `read_write_split` is on.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from tragen_runtime.settings import DatabaseSettings

log = logging.getLogger(__name__)
Row = tuple[Any, ...]


class DatabaseUnavailable(Exception):
    """The database cannot be reached or refused the statement."""


def is_database_error(exc: BaseException) -> bool:
    """True for errors raised by the database drivers (SQLite or psycopg)."""
    if isinstance(exc, sqlite3.Error | DatabaseUnavailable):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    return isinstance(exc, psycopg.Error)


class Tx(Protocol):
    dialect: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    def execute_count(self, sql: str, params: Sequence[Any] = ()) -> int: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...


class Database(Protocol):
    dialect: str

    def write(self) -> AbstractContextManager[Tx]: ...

    def read(self) -> AbstractContextManager[Tx]: ...

    def ping(self) -> None: ...

    def pool_stats(self) -> dict[str, int]: ...

    def refresh_replicas(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


class _SqliteTx:
    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._conn.execute(sql.replace("%s", "?"), tuple(params)).fetchall()

    def execute_count(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._conn.execute(sql.replace("%s", "?"), tuple(params)).rowcount

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._conn.executemany(sql.replace("%s", "?"), [tuple(r) for r in rows])


class SqliteDatabase:
    """One connection per thread; writes use BEGIN IMMEDIATE so writers queue, not fail."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            directory = os.path.dirname(os.path.abspath(self.path))
            if not os.path.isdir(directory):
                raise DatabaseUnavailable(f"SQLite directory {directory} does not exist")
            try:
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None,
                                       check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA busy_timeout=30000")
            except sqlite3.Error as exc:
                raise DatabaseUnavailable(f"SQLite {self.path}: {exc}") from exc
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def write(self) -> Iterator[_SqliteTx]:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(f"SQLite {self.path}: {exc}") from exc
        try:
            yield _SqliteTx(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise DatabaseUnavailable(f"SQLite commit failed: {exc}") from exc

    @contextmanager
    def read(self) -> Iterator[_SqliteTx]:
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield _SqliteTx(conn)
        finally:
            conn.execute("COMMIT")

    def ping(self) -> None:
        try:
            self._conn().execute("SELECT 1").fetchone()
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(f"SQLite {self.path}: {exc}") from exc

    def pool_stats(self) -> dict[str, int]:
        return {"connections": len(self._all)}

    def refresh_replicas(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


class _PgTx:
    dialect = "postgresql"

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cur = self._conn.execute(sql, tuple(params))
        return list(cur.fetchall()) if cur.description else []

    def execute_count(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self._conn.execute(sql, tuple(params)).rowcount)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._conn.cursor() as cur:
            cur.executemany(sql, [tuple(r) for r in rows])


def _conninfo(settings: DatabaseSettings, hosts: Sequence[str], **extra: str) -> str:
    """libpq connection string to `hosts` ("host" or "host:port"), tried in turn."""
    from psycopg.conninfo import make_conninfo

    names, ports = [], []
    for host in hosts:
        hostname, _, port = host.rpartition(":")
        if not hostname:
            hostname, port = host, str(settings.port)
        names.append(hostname)
        ports.append(port)
    return make_conninfo("", host=",".join(names), port=",".join(ports),
                         dbname=settings.database, user=settings.user,
                         password=settings.password or None, connect_timeout=3,
                         application_name="tragen-runtime", **extra)


def writer_conninfo(settings: DatabaseSettings) -> str:
    """Where writes go. A cluster's writes go to whichever of its servers accepts them
    (libpq's target_session_attrs=read-write), the configured primary first: once a replica has
    been promoted, new connections find it without a restart."""
    assert settings.host is not None
    if settings.kind != "postgresql_cluster":
        return _conninfo(settings, [settings.host])
    return _conninfo(settings, [settings.host, *settings.replicas],
                     target_session_attrs="read-write")


# A replica's replay lag in seconds. Caught up (it has replayed all it received) is 0 however
# long ago the last transaction was: an idle primary must not make its replicas look stale. Behind,
# it is the age of the last transaction replayed: a replica whose replay stopped (paused, or
# stuck on a conflict) grows stale by the second while the primary writes.
REPLICA_LAG_SQL = (
    "SELECT pg_is_in_recovery(), CASE"
    " WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0"
    " ELSE COALESCE(EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp())), 0) END")


class PostgresDatabase:
    """psycopg_pool pools: one for the primary, one per replica (opened after fork).

    Replicas get reads only once `refresh_replicas` has measured their lag within bound; it
    measures again at most every `replica_check_interval` seconds.
    """

    dialect = "postgresql"

    def __init__(self, settings: DatabaseSettings, min_size: int, max_size: int,
                 replica_check_interval: float = 5.0) -> None:
        from psycopg_pool import ConnectionPool

        self.settings = settings
        self.replica_check_interval = replica_check_interval

        def pool(conninfo: str, name: str) -> Any:
            return ConnectionPool(conninfo, min_size=min_size, max_size=max_size, timeout=5,
                                  max_lifetime=settings.pool_lifetime, open=False,
                                  name=f"tragen-{name}")

        assert settings.host is not None
        self._primary = pool(writer_conninfo(settings), "primary")
        self._replicas = {h: pool(_conninfo(settings, [h]), h) for h in settings.replicas} \
            if settings.read_write_split else {}
        self._replica_ok: dict[str, bool] = {h: False for h in self._replicas}
        self._rr = 0
        self._next_refresh = 0.0
        for p in (self._primary, *self._replicas.values()):
            p.open(wait=False)

    @contextmanager
    def _tx(self, pool: Any, timeout: float = 5.0) -> Iterator[_PgTx]:
        import psycopg

        try:
            with pool.connection(timeout=timeout) as conn, conn.transaction():
                yield _PgTx(conn)
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(f"PostgreSQL: {exc}") from exc
        except psycopg.errors.ReadOnlySqlTransaction as exc:
            # The server this pool writes to is a replica now (a failed-over primary that came
            # back as one): every connection of the pool goes, the new ones find the primary.
            pool.drain()
            raise DatabaseUnavailable(f"PostgreSQL turned read-only, reconnecting: {exc}") from exc
        except Exception as exc:
            if type(exc).__name__ == "PoolTimeout":
                raise DatabaseUnavailable(f"PostgreSQL pool: {exc}") from exc
            raise

    def write(self) -> AbstractContextManager[_PgTx]:
        return self._tx(self._primary)

    def read(self) -> AbstractContextManager[_PgTx]:
        healthy = [h for h, ok in self._replica_ok.items() if ok]
        if not healthy:
            return self._tx(self._primary)
        self._rr = (self._rr + 1) % len(healthy)
        return self._tx(self._replicas[healthy[self._rr]])

    def ping(self) -> None:
        with self.write() as tx:
            tx.execute("SELECT 1")

    def refresh_replicas(self) -> dict[str, Any]:
        """Measure each replica's replay lag; lagging or unreachable replicas get no reads."""
        report: dict[str, Any] = {}
        if time.monotonic() < self._next_refresh:
            return report
        self._next_refresh = time.monotonic() + self.replica_check_interval
        for host, pool in self._replicas.items():
            try:
                with self._tx(pool, timeout=0.5) as tx:
                    rows = tx.execute(REPLICA_LAG_SQL)
                lag = float(rows[0][1]) if rows[0][0] else 0.0
                ok = lag <= self.settings.replica_max_lag
                report[host] = {"lag_seconds": round(lag, 3), "used_for_reads": ok}
            except DatabaseUnavailable as exc:
                ok = False
                report[host] = {"error": str(exc).splitlines()[0], "used_for_reads": False}
            self._replica_ok[host] = ok
        return report

    def pool_stats(self) -> dict[str, int]:
        stats = self._primary.get_stats()
        return {"connections": int(stats.get("pool_size", 0)),
                "available": int(stats.get("pool_available", 0))}

    def close(self) -> None:
        for p in (self._primary, *self._replicas.values()):
            p.close(timeout=1)


def pool_sizes(settings: DatabaseSettings, workers: int) -> tuple[int, int]:
    """(min, max) connections of one worker's pool: the app server's budget
    (database.connection_pool when a number, else 20; at most
    api.connection_pools.database.max_connections) shared by its workers."""
    share = max(1, workers)
    largest = max(1, settings.pool_budget // share)
    smallest = max(1, min(largest, -(-settings.pool_min_total // share)))
    return smallest, largest


def open_database(settings: DatabaseSettings, workers: int = 1) -> Database:
    """The database of the settings (PostgreSQL pools open in the background)."""
    if settings.kind == "sqlite":
        return SqliteDatabase(settings.path)
    return PostgresDatabase(settings, *pool_sizes(settings, workers))


def retrying(attempts: int, delay: float, fn: Any) -> Any:
    """Run fn() until it does not raise DatabaseUnavailable (for start-up races)."""
    for attempt in range(attempts):
        try:
            return fn()
        except DatabaseUnavailable:
            if attempt == attempts - 1:
                raise
            time.sleep(delay)
    return None
