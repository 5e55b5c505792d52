"""Versioned, idempotent schema migrations, applied by `tragen-runtime migrate` only.

Workers never migrate: they read the version and report not-ready while it is behind the
release's `LATEST`. A newer database (ahead of this release) is accepted, because migrations
only ever add (expand/contract), so an old release keeps working during a rolling update.
"""

from __future__ import annotations

from dataclasses import dataclass

from tragen_runtime.storage.db import Database, Tx


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


_SERIAL = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgresql": "BIGSERIAL PRIMARY KEY"}

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "agents, positions, trades, leases, workers", (
        """CREATE TABLE IF NOT EXISTS agents (
            agent_id TEXT PRIMARY KEY, pool TEXT NOT NULL, template TEXT NOT NULL,
            style TEXT NOT NULL, symbol TEXT NOT NULL,
            cash DOUBLE PRECISION NOT NULL, realized_pnl DOUBLE PRECISION NOT NULL DEFAULT 0,
            fees_paid DOUBLE PRECISION NOT NULL DEFAULT 0,
            trade_count BIGINT NOT NULL DEFAULT 0, wins BIGINT NOT NULL DEFAULT 0,
            losses BIGINT NOT NULL DEFAULT 0,
            gross_profit DOUBLE PRECISION NOT NULL DEFAULT 0,
            gross_loss DOUBLE PRECISION NOT NULL DEFAULT 0,
            trades_today INTEGER NOT NULL DEFAULT 0, trade_day TEXT NOT NULL DEFAULT '',
            halted INTEGER NOT NULL DEFAULT 0, updated_at DOUBLE PRECISION NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS positions (
            agent_id TEXT NOT NULL REFERENCES agents(agent_id), symbol TEXT NOT NULL,
            qty DOUBLE PRECISION NOT NULL, avg_price DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (agent_id, symbol))""",
        """CREATE TABLE IF NOT EXISTS trades (
            trade_id {serial}, agent_id TEXT NOT NULL REFERENCES agents(agent_id),
            symbol TEXT NOT NULL, side TEXT NOT NULL, qty DOUBLE PRECISION NOT NULL,
            price DOUBLE PRECISION NOT NULL, fee DOUBLE PRECISION NOT NULL,
            realized_pnl DOUBLE PRECISION NOT NULL, tick BIGINT NOT NULL,
            worker_id TEXT NOT NULL, executed_at DOUBLE PRECISION NOT NULL, reason TEXT)""",
        "CREATE INDEX IF NOT EXISTS trades_agent ON trades (agent_id, trade_id)",
        """CREATE TABLE IF NOT EXISTS leases (
            agent_id TEXT PRIMARY KEY REFERENCES agents(agent_id), owner TEXT,
            expires_at DOUBLE PRECISION NOT NULL DEFAULT 0, epoch BIGINT NOT NULL DEFAULT 0)""",
        "CREATE INDEX IF NOT EXISTS leases_owner ON leases (owner)",
        """CREATE TABLE IF NOT EXISTS workers (
            worker_id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL,
            release_id TEXT NOT NULL, started_at DOUBLE PRECISION NOT NULL,
            heartbeat_at DOUBLE PRECISION NOT NULL, agents INTEGER NOT NULL DEFAULT 0,
            rss_bytes BIGINT NOT NULL DEFAULT 0,
            cpu_percent DOUBLE PRECISION NOT NULL DEFAULT 0)""",
    )),
    Migration(2, "analysis requests", (
        """CREATE TABLE IF NOT EXISTS analyses (
            analysis_id TEXT PRIMARY KEY, agent_id TEXT, symbol TEXT NOT NULL,
            style TEXT NOT NULL, action TEXT NOT NULL, reason TEXT NOT NULL,
            price DOUBLE PRECISION, requested_at DOUBLE PRECISION NOT NULL,
            worker_id TEXT NOT NULL)""",
    )),
    Migration(3, "fleet safety state", (
        "ALTER TABLE agents ADD COLUMN reduced_trip BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE agents ADD COLUMN halted_reason TEXT",
        "ALTER TABLE positions ADD COLUMN stop_distance DOUBLE PRECISION NOT NULL DEFAULT 0.02",
        "ALTER TABLE workers ADD COLUMN api_calls BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE workers ADD COLUMN api_failures BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE workers ADD COLUMN memory_fraction DOUBLE PRECISION NOT NULL DEFAULT 0",
        """CREATE TABLE IF NOT EXISTS safety_breakers (
            name TEXT PRIMARY KEY, value DOUBLE PRECISION NOT NULL DEFAULT 0,
            threshold DOUBLE PRECISION NOT NULL, action TEXT NOT NULL,
            tripped_at DOUBLE PRECISION, hold_until DOUBLE PRECISION,
            trip_id BIGINT NOT NULL DEFAULT 0, awaiting_operator INTEGER NOT NULL DEFAULT 0,
            reference_pnl DOUBLE PRECISION NOT NULL DEFAULT 0, reset_by TEXT,
            reset_at DOUBLE PRECISION, detail TEXT NOT NULL DEFAULT '',
            updated_at DOUBLE PRECISION NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS safety_events (
            event_id {serial}, at DOUBLE PRECISION NOT NULL, breaker TEXT NOT NULL,
            kind TEXT NOT NULL, detail TEXT NOT NULL, actor TEXT NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS safety_fleet (
            id INTEGER PRIMARY KEY, evaluated_at DOUBLE PRECISION NOT NULL DEFAULT 0,
            evaluated_by TEXT, next_trip_id BIGINT NOT NULL DEFAULT 1,
            capital DOUBLE PRECISION NOT NULL DEFAULT 0,
            equity DOUBLE PRECISION NOT NULL DEFAULT 0,
            open_risk DOUBLE PRECISION NOT NULL DEFAULT 0, correlation DOUBLE PRECISION,
            api_calls BIGINT NOT NULL DEFAULT 0, api_failures BIGINT NOT NULL DEFAULT 0,
            memory_fraction DOUBLE PRECISION NOT NULL DEFAULT 0,
            halted_reason TEXT, halted_by TEXT, halted_at DOUBLE PRECISION,
            fault_market_data DOUBLE PRECISION, fault_broker DOUBLE PRECISION,
            faults_by TEXT, faults_at DOUBLE PRECISION)""",
        """CREATE TABLE IF NOT EXISTS equity_snapshots (
            period TEXT NOT NULL, period_key TEXT NOT NULL, pnl DOUBLE PRECISION NOT NULL,
            capital DOUBLE PRECISION NOT NULL, taken_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (period, period_key))""",
        """CREATE TABLE IF NOT EXISTS agent_equity_samples (
            sample_at DOUBLE PRECISION NOT NULL, agent_id TEXT NOT NULL,
            equity DOUBLE PRECISION NOT NULL, PRIMARY KEY (sample_at, agent_id))""",
        "INSERT INTO safety_fleet (id) VALUES (1) ON CONFLICT (id) DO NOTHING",
    )),
)
LATEST = MIGRATIONS[-1].version


def _ensure_table(tx: Tx) -> None:
    tx.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
               "name TEXT NOT NULL, applied_at TEXT NOT NULL)")


def current_version(db: Database) -> int:
    """The highest applied version (0 for an empty database)."""
    with db.read() as tx:
        exists = tx.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name='schema_migrations'"
            if tx.dialect == "sqlite" else "SELECT to_regclass('schema_migrations')")
        if not exists or exists[0][0] is None:
            return 0
        rows = tx.execute("SELECT MAX(version) FROM schema_migrations")
    return int(rows[0][0] or 0)


def migrate(db: Database) -> list[int]:
    """Apply the missing migrations in order, each in its own transaction; returns them.

    Safe to run concurrently: PostgreSQL takes an advisory lock, SQLite BEGIN IMMEDIATE.
    """
    applied: list[int] = []
    for migration in MIGRATIONS:
        with db.write() as tx:
            if tx.dialect == "postgresql":
                tx.execute("SELECT pg_advisory_xact_lock(74726167)")
            _ensure_table(tx)
            done = tx.execute("SELECT 1 FROM schema_migrations WHERE version = %s",
                              (migration.version,))
            if done:
                continue
            for statement in migration.statements:
                tx.execute(statement.replace("{serial}", _SERIAL[tx.dialect]))
            tx.execute("INSERT INTO schema_migrations (version, name, applied_at) "
                       "VALUES (%s, %s, CURRENT_TIMESTAMP)", (migration.version, migration.name))
            applied.append(migration.version)
    return applied


def schema_problem(db: Database) -> str | None:
    """A sentence for /readyz when the schema is behind this release, else None."""
    version = current_version(db)
    if version < LATEST:
        return (f"database schema is at version {version}, this release needs {LATEST}: "
                "run `tragen-runtime migrate` (once per deploy)")
    return None
