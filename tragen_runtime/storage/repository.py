"""Agent state, positions, trades and analysis requests in the database.

`record_trade` writes the trade, the position it changes and the agent's account in ONE
transaction, fenced by the lease: a worker that lost an agent's lease cannot commit for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from tragen_runtime.agents import AgentSpec
from tragen_runtime.broker import INITIAL_CASH, Account, Fill, Position
from tragen_runtime.storage.db import Database, Tx

_ACCOUNT_COLUMNS = ("cash", "realized_pnl", "fees_paid", "trade_count", "wins", "losses",
                    "gross_profit", "gross_loss", "trades_today", "trade_day")


def sync_agents(db: Database, specs: Sequence[AgentSpec], now: float) -> None:
    """Create rows for configured agents that have none (existing state is kept)."""
    with db.write() as tx:
        tx.executemany(
            "INSERT INTO agents (agent_id, pool, template, style, symbol, cash, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (agent_id) DO NOTHING",
            [(s.agent_id, s.pool, s.template, s.style, s.symbol, INITIAL_CASH, now)
             for s in specs])
        tx.executemany("INSERT INTO leases (agent_id) VALUES (%s) "
                       "ON CONFLICT (agent_id) DO NOTHING", [(s.agent_id,) for s in specs])


def _account(row: Sequence[Any], positions: dict[str, Position]) -> Account:
    values = dict(zip(_ACCOUNT_COLUMNS, row, strict=True))
    return Account(
        cash=float(values["cash"]), positions=positions,
        realized_pnl=float(values["realized_pnl"]), fees_paid=float(values["fees_paid"]),
        trade_count=int(values["trade_count"]), wins=int(values["wins"]),
        losses=int(values["losses"]), gross_profit=float(values["gross_profit"]),
        gross_loss=float(values["gross_loss"]), trades_today=int(values["trades_today"]),
        trade_day=str(values["trade_day"]))


def load_accounts(db: Database, agent_ids: Iterable[str]) -> dict[str, tuple[Account, bool]]:
    """Persisted account and halted flag of each agent (from the primary: fresh state)."""
    ids = list(agent_ids)
    if not ids:
        return {}
    marks = ",".join(["%s"] * len(ids))
    with db.write() as tx:
        rows = tx.execute(f"SELECT agent_id, halted, {', '.join(_ACCOUNT_COLUMNS)} FROM agents "
                          f"WHERE agent_id IN ({marks})", ids)
        pos_rows = tx.execute(f"SELECT agent_id, symbol, qty, avg_price FROM positions "
                              f"WHERE agent_id IN ({marks})", ids)
    positions: dict[str, dict[str, Position]] = {}
    for agent_id, symbol, qty, avg in pos_rows:
        positions.setdefault(agent_id, {})[symbol] = Position(float(qty), float(avg))
    return {r[0]: (_account(r[2:], positions.get(r[0], {})), bool(r[1])) for r in rows}


def agent_flags(db: Database, agent_ids: Iterable[str]) -> dict[str, tuple[bool, int]]:
    """(halted, trip id of the last position reduction taken) of each agent, persisted, so
    an agent's new worker neither trades a halted agent nor reduces a position twice."""
    ids = list(agent_ids)
    if not ids:
        return {}
    marks = ",".join(["%s"] * len(ids))
    with db.read() as tx:
        rows = tx.execute(f"SELECT agent_id, halted, reduced_trip FROM agents "
                          f"WHERE agent_id IN ({marks})", ids)
    return {str(r[0]): (bool(r[1]), int(r[2])) for r in rows}


class OrderRefused(Exception):
    """A pre-trade check inside the trade's transaction refused it; nothing was written."""


def record_trade(db: Database, agent_id: str, worker_id: str, fill: Fill, after: Account,
                 tick: int, reason: str, now: float, *, stop_distance: float | None = None,
                 guard: Callable[[Tx], str | None] | None = None,
                 also: Callable[[Tx], None] | None = None) -> bool:
    """Persist a fill atomically; False (nothing written) if the worker lost the lease.

    `guard` runs first in the transaction and may refuse the trade (OrderRefused, nothing
    written); `also` writes more in the same transaction (a safety mark on the agent)."""
    with db.write() as tx:
        if guard is not None and (refused := guard(tx)) is not None:
            raise OrderRefused(refused)
        fenced = tx.execute_count(
            "UPDATE leases SET expires_at = expires_at WHERE agent_id = %s AND owner = %s "
            "AND expires_at > %s", (agent_id, worker_id, now))
        if fenced != 1:
            return False
        tx.execute(
            "INSERT INTO trades (agent_id, symbol, side, qty, price, fee, realized_pnl, tick, "
            "worker_id, executed_at, reason) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            (agent_id, fill.symbol, fill.side, fill.qty, fill.price, fill.fee,
             fill.realized_pnl, tick, worker_id, now, reason))
        _write_position(tx, agent_id, fill.symbol, after.positions.get(fill.symbol),
                        stop_distance)
        if also is not None:
            also(tx)
        tx.execute(
            f"UPDATE agents SET {', '.join(c + ' = %s' for c in _ACCOUNT_COLUMNS)}, "
            "updated_at = %s WHERE agent_id = %s",
            (after.cash, after.realized_pnl, after.fees_paid, after.trade_count, after.wins,
             after.losses, after.gross_profit, after.gross_loss, after.trades_today,
             after.trade_day, now, agent_id))
    return True


def _write_position(tx: Tx, agent_id: str, symbol: str, pos: Position | None,
                    stop_distance: float | None) -> None:
    """The position after a fill; an opening fill also records its stop distance (the open
    risk of `total_portfolio_risk`), a partial sale keeps the one it had."""
    if pos is None:
        tx.execute("DELETE FROM positions WHERE agent_id = %s AND symbol = %s",
                   (agent_id, symbol))
        return
    if stop_distance is None:
        tx.execute(
            "INSERT INTO positions (agent_id, symbol, qty, avg_price) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (agent_id, symbol) DO UPDATE SET qty = excluded.qty, "
            "avg_price = excluded.avg_price", (agent_id, symbol, pos.qty, pos.avg_price))
        return
    tx.execute(
        "INSERT INTO positions (agent_id, symbol, qty, avg_price, stop_distance) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (agent_id, symbol) DO UPDATE SET "
        "qty = excluded.qty, avg_price = excluded.avg_price, "
        "stop_distance = excluded.stop_distance",
        (agent_id, symbol, pos.qty, pos.avg_price, stop_distance))


def set_halted(db: Database, agent_id: str, halted: bool, now: float,
               reason: str | None = None) -> bool:
    with db.write() as tx:
        return mark_halted(tx, agent_id, halted, now, reason)


def mark_halted(tx: Tx, agent_id: str, halted: bool, now: float, reason: str | None) -> bool:
    return tx.execute_count("UPDATE agents SET halted = %s, halted_reason = %s, "
                            "updated_at = %s WHERE agent_id = %s",
                            (int(halted), reason if halted else None, now, agent_id)) == 1


def record_analysis(db: Database, analysis_id: str, agent_id: str | None, symbol: str,
                    style: str, action: str, reason: str, price: float | None,
                    worker_id: str, now: float) -> bool:
    """Insert an analysis request; False if that id was recorded before (idempotent)."""
    with db.write() as tx:
        return tx.execute_count(
            "INSERT INTO analyses (analysis_id, agent_id, symbol, style, action, reason, price, "
            "requested_at, worker_id) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s) "
            "ON CONFLICT (analysis_id) DO NOTHING",
            (analysis_id, agent_id, symbol, style, action, reason, price, now, worker_id)) == 1


# ---- reads for the HTTP API -------------------------------------------------------------

_AGENT_SELECT = (
    "SELECT a.agent_id, a.pool, a.template, a.style, a.symbol, a.cash, a.realized_pnl, "
    "a.trade_count, a.wins, a.losses, a.gross_profit, a.gross_loss, a.halted, l.owner, "
    "l.expires_at, a.halted_reason FROM agents a LEFT JOIN leases l ON l.agent_id = a.agent_id")


def _agent_dict(row: Sequence[Any], now: float) -> dict[str, Any]:
    (agent_id, pool, template, style, symbol, cash, pnl, trades, wins, losses, gp, gl,
     halted, owner, expires, halted_reason) = row
    closed = int(wins) + int(losses)
    return {
        "agent_id": agent_id, "pool": pool, "template": template, "style": style,
        "symbol": symbol, "cash": round(float(cash), 2), "realized_pnl": round(float(pnl), 2),
        "trade_count": int(trades), "win_rate": round(int(wins) / closed, 4) if closed else 0.0,
        "profit_factor": round(float(gp) / float(gl), 4) if float(gl) > 0 else None,
        "halted": bool(halted), "halted_reason": halted_reason,
        "worker": owner if owner and float(expires or 0) > now else None,
    }


def list_agents(db: Database, now: float) -> list[dict[str, Any]]:
    with db.read() as tx:
        rows = tx.execute(_AGENT_SELECT + " ORDER BY a.agent_id")
    return [_agent_dict(r, now) for r in rows]


def get_agent(db: Database, agent_id: str, now: float) -> dict[str, Any] | None:
    with db.read() as tx:
        rows = tx.execute(_AGENT_SELECT + " WHERE a.agent_id = %s", (agent_id,))
        if not rows:
            return None
        positions = tx.execute("SELECT symbol, qty, avg_price FROM positions "
                               "WHERE agent_id = %s ORDER BY symbol", (agent_id,))
        trades = tx.execute("SELECT trade_id, symbol, side, qty, price, fee, realized_pnl, "
                            "executed_at, reason FROM trades WHERE agent_id = %s "
                            "ORDER BY trade_id DESC LIMIT 20", (agent_id,))
    agent = _agent_dict(rows[0], now)
    agent["positions"] = [{"symbol": s, "qty": float(q), "avg_price": float(p)}
                          for s, q, p in positions]
    agent["recent_trades"] = [_trade_dict(t) for t in trades]
    return agent


def _trade_dict(row: Sequence[Any]) -> dict[str, Any]:
    trade_id, symbol, side, qty, price, fee, pnl, at, reason = row[:9]
    out = {"trade_id": int(trade_id), "symbol": symbol, "side": side, "qty": float(qty),
           "price": float(price), "fee": float(fee), "realized_pnl": float(pnl),
           "executed_at": float(at), "reason": reason}
    if len(row) > 9:
        out["agent_id"] = row[9]
    return out


def list_trades(db: Database, limit: int, agent_id: str | None = None,
                after_id: int = 0) -> list[dict[str, Any]]:
    sql = ("SELECT trade_id, symbol, side, qty, price, fee, realized_pnl, executed_at, reason, "
           "agent_id FROM trades WHERE trade_id > %s")
    params: list[Any] = [after_id]
    if agent_id:
        sql += " AND agent_id = %s"
        params.append(agent_id)
    sql += " ORDER BY trade_id DESC LIMIT %s"
    params.append(limit)
    with db.read() as tx:
        return [_trade_dict(r) for r in tx.execute(sql, params)]


def portfolio_rows(db: Database) -> tuple[dict[str, float], list[tuple[str, float]]]:
    """Account totals and net quantity per symbol over all agents."""
    with db.read() as tx:
        totals = tx.execute(
            "SELECT COUNT(*), COALESCE(SUM(cash),0), COALESCE(SUM(realized_pnl),0), "
            "COALESCE(SUM(fees_paid),0), COALESCE(SUM(trade_count),0), COALESCE(SUM(wins),0), "
            "COALESCE(SUM(losses),0), COALESCE(SUM(gross_profit),0), "
            "COALESCE(SUM(gross_loss),0), COALESCE(SUM(halted),0) FROM agents")[0]
        symbols = tx.execute("SELECT symbol, SUM(qty) FROM positions GROUP BY symbol "
                             "ORDER BY symbol")
    keys = ("agents", "cash", "realized_pnl", "fees_paid", "trade_count", "wins", "losses",
            "gross_profit", "gross_loss", "halted")
    return ({k: float(v) for k, v in zip(keys, totals, strict=True)},
            [(s, float(q)) for s, q in symbols])


def trade_stats(db: Database, since: float) -> dict[str, float]:
    with db.read() as tx:
        count, analyses = tx.execute(
            "SELECT (SELECT COUNT(*) FROM trades WHERE executed_at >= %s), "
            "(SELECT COUNT(*) FROM analyses WHERE requested_at >= %s)", (since, since))[0]
    return {"trades": float(count), "analysis_requests": float(analyses)}


def agent_metrics_rows(db: Database, owner_prefix: str, now: float) -> list[tuple[Any, ...]]:
    """Per-agent figures of agents leased by workers whose id starts with owner_prefix."""
    with db.read() as tx:
        return tx.execute(
            "SELECT a.agent_id, a.style, a.trade_count, a.wins, a.losses, a.gross_profit, "
            "a.gross_loss, l.owner FROM agents a JOIN leases l ON l.agent_id = a.agent_id "
            "WHERE l.owner LIKE %s ESCAPE '!' AND l.expires_at > %s",
            (like_prefix(owner_prefix), now))


def like_prefix(prefix: str) -> str:
    """A LIKE pattern matching strings that start with `prefix` literally (escape '!')."""
    return prefix.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"


def worker_figures(db: Database, prefix: str) -> dict[str, tuple[int, float, int]]:
    """(rss bytes, cpu percent, agents) of this server's workers, by worker id."""
    with db.read() as tx:
        rows = tx.execute("SELECT worker_id, rss_bytes, cpu_percent, agents FROM workers "
                          "WHERE worker_id LIKE %s ESCAPE '!'", (like_prefix(prefix),))
    return {r[0]: (int(r[1]), float(r[2]), int(r[3])) for r in rows}


def pool_holdings(db: Database) -> list[tuple[str, str, str]]:
    """(agent, pool, symbol) of every open position of the fleet."""
    with db.read() as tx:
        return [(str(a), str(p), str(s)) for a, p, s in tx.execute(
            "SELECT positions.agent_id, agents.pool, positions.symbol FROM positions "
            "JOIN agents ON agents.agent_id = positions.agent_id")]
