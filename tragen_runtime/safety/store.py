"""The fleet's safety state in the database: one evaluation per round for the whole fleet.

Every worker calls `SafetyStore.round` once per lease round. Under one lock (an advisory
transaction lock on PostgreSQL, BEGIN IMMEDIATE on SQLite) it reports its own figures
(market-data and broker calls, memory), and if nobody evaluated within `min_interval` it
evaluates: figures from the persisted books, the judge, the new states and events, the
start-of-day and start-of-month snapshots and the correlation samples. Then it reads the
state every worker acts on. A trip decided by one worker is therefore in force on every
worker at its next round, and nothing of it lives in a process: a restart, a rollout or the
loss of a server changes nothing. Operator commands (reset, halt-all, resume-all, faults) are
writes to the same tables; the engines pick them up in their next round.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tragen_runtime.broker import INITIAL_CASH
from tragen_runtime.safety import figures as fig
from tragen_runtime.safety.config import LOSS_FIGURES, SafetyConfig
from tragen_runtime.safety.judge import BreakerState, Event, judge, operator_reset
from tragen_runtime.safety.orders import SafetyView
from tragen_runtime.storage.db import Database, Tx

log = logging.getLogger(__name__)
SAFETY_LOCK = 74726168  # pg_advisory_xact_lock key of the safety state
RECENT_EVENTS = 20

_STATE_COLUMNS = ("name", "value", "tripped_at", "hold_until", "trip_id", "awaiting_operator",
                  "reference_pnl", "reset_by", "reset_at", "detail")


@dataclass(frozen=True)
class WorkerReport:
    """What one worker measured since its last round."""

    api_calls: int = 0
    api_failures: int = 0
    memory_fraction: float = 0.0


@dataclass(frozen=True)
class RoundOutcome:
    view: SafetyView
    states: dict[str, BreakerState]
    events: tuple[Event, ...]  # decided in this round by this worker (empty if it only read)
    faults: tuple[float | None, float | None]  # operator's (market data, broker) failure rates


def server_of(worker_id: str) -> str:
    """The app server part of a worker id (`host@bind/`, see runtime.server_prefix)."""
    return worker_id.rsplit("/", 1)[0] + "/"


def _lock(tx: Tx) -> None:
    if tx.dialect == "postgresql":
        tx.execute("SELECT pg_advisory_xact_lock(%s)", (SAFETY_LOCK,))


def _states(tx: Tx) -> dict[str, BreakerState]:
    rows = tx.execute(f"SELECT {', '.join(_STATE_COLUMNS)} FROM safety_breakers")
    return {r[0]: BreakerState(
        name=r[0], value=float(r[1]), tripped_at=None if r[2] is None else float(r[2]),
        hold_until=None if r[3] is None else float(r[3]), trip_id=int(r[4]),
        awaiting_operator=bool(r[5]), reference_pnl=float(r[6]), reset_by=r[7],
        reset_at=None if r[8] is None else float(r[8]), detail=str(r[9] or ""))
        for r in rows}


def _write_states(tx: Tx, config: SafetyConfig, states: Mapping[str, BreakerState],
                  now: float) -> None:
    rows = []
    for name, s in states.items():
        rule = config.rule(name)
        if rule is None:
            continue
        rows.append((name, s.value, rule.threshold, rule.action, s.tripped_at, s.hold_until,
                     s.trip_id, int(s.awaiting_operator), s.reference_pnl, s.reset_by,
                     s.reset_at, s.detail, now))
    tx.executemany(
        "INSERT INTO safety_breakers (name, value, threshold, action, tripped_at, hold_until, "
        "trip_id, awaiting_operator, reference_pnl, reset_by, reset_at, detail, updated_at) "
        "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (name) DO UPDATE SET "
        "value = excluded.value, threshold = excluded.threshold, action = excluded.action, "
        "tripped_at = excluded.tripped_at, hold_until = excluded.hold_until, "
        "trip_id = excluded.trip_id, awaiting_operator = excluded.awaiting_operator, "
        "reference_pnl = excluded.reference_pnl, reset_by = excluded.reset_by, "
        "reset_at = excluded.reset_at, detail = excluded.detail, "
        "updated_at = excluded.updated_at", rows)


def write_events(tx: Tx, events: list[Event] | tuple[Event, ...]) -> None:
    tx.executemany("INSERT INTO safety_events (at, breaker, kind, detail, actor) "
                   "VALUES (%s,%s,%s,%s,%s)",
                   [(e.at, e.breaker, e.kind, e.detail, e.actor) for e in events])


def _fleet(tx: Tx) -> dict[str, Any]:
    columns = ("evaluated_at", "next_trip_id", "capital", "equity", "open_risk", "correlation",
               "api_calls", "api_failures", "memory_fraction", "halted_reason", "halted_by",
               "halted_at", "fault_market_data", "fault_broker", "evaluated_by")
    rows = tx.execute(f"SELECT {', '.join(columns)} FROM safety_fleet WHERE id = 1")
    if not rows:
        tx.execute("INSERT INTO safety_fleet (id) VALUES (1) ON CONFLICT (id) DO NOTHING")
        rows = tx.execute(f"SELECT {', '.join(columns)} FROM safety_fleet WHERE id = 1")
    return dict(zip(columns, rows[0], strict=True))


def _snapshot_pnl(tx: Tx, period: str, key: str, pnl: float, capital: float,
                  now: float) -> float:
    """The pnl the period started with: persisted at its first evaluation, read after."""
    rows = tx.execute("SELECT pnl FROM equity_snapshots WHERE period = %s AND period_key = %s",
                      (period, key))
    if rows:
        return float(rows[0][0])
    tx.execute("INSERT INTO equity_snapshots (period, period_key, pnl, capital, taken_at) "
               "VALUES (%s,%s,%s,%s,%s)", (period, key, pnl, capital, now))
    return pnl


def _sample_correlation(tx: Tx, equities: Mapping[str, float], now: float) -> float | None:
    tx.executemany("INSERT INTO agent_equity_samples (sample_at, agent_id, equity) "
                   "VALUES (%s,%s,%s) ON CONFLICT (sample_at, agent_id) DO NOTHING",
                   [(now, a, e) for a, e in equities.items()])
    cutoff = tx.execute("SELECT DISTINCT sample_at FROM agent_equity_samples "
                        "ORDER BY sample_at DESC LIMIT 1 OFFSET %s",
                        (fig.CORRELATION_WINDOW,))
    if cutoff:
        tx.execute("DELETE FROM agent_equity_samples WHERE sample_at <= %s", (cutoff[0][0],))
    samples = tx.execute("SELECT sample_at, agent_id, equity FROM agent_equity_samples")
    series = fig.aligned_returns((float(t), str(a), float(e)) for t, a, e in samples)
    return fig.mean_pairwise_correlation(series)


class SafetyStore:
    def __init__(self, db: Database, config: SafetyConfig, live_seconds: float) -> None:
        self.db = db
        self.config = config
        self.live_seconds = live_seconds  # a worker that heartbeat within this is live

    # -- every round ----------------------------------------------------------------------
    def round(self, now: float, worker_id: str, report: WorkerReport,
              prices: Mapping[str, float], min_interval: float) -> RoundOutcome:
        events: list[Event] = []
        with self.db.write() as tx:
            tx.execute("UPDATE workers SET api_calls = %s, api_failures = %s, "
                       "memory_fraction = %s WHERE worker_id = %s",
                       (report.api_calls, report.api_failures, report.memory_fraction,
                        worker_id))
            _lock(tx)
            fleet = _fleet(tx)
            states = _states(tx)
            if now - float(fleet["evaluated_at"]) >= min_interval:
                states, events, fleet = self._evaluate(tx, fleet, states, prices, now,
                                                       worker_id)
        for event in events:
            log.warning("safety: %s %s: %s", event.breaker, event.kind, event.detail)
        view = SafetyView.from_states(self.config, states, fleet["halted_reason"],
                                      float(fleet["equity"]), server_of(worker_id), now)
        return RoundOutcome(view, states, tuple(events),
                            (fleet["fault_market_data"], fleet["fault_broker"]))

    def _evaluate(self, tx: Tx, fleet: dict[str, Any], states: dict[str, BreakerState],
                  prices: Mapping[str, float], now: float, worker_id: str,
                  ) -> tuple[dict[str, BreakerState], list[Event], dict[str, Any]]:
        cash = {str(a): float(c) for a, c in tx.execute("SELECT agent_id, cash FROM agents")}
        holdings = [fig.Holding(str(a), str(s), float(q), float(p), float(d)) for a, s, q, p, d
                    in tx.execute("SELECT agent_id, symbol, qty, avg_price, stop_distance "
                                  "FROM positions")]
        capital = len(cash) * INITIAL_CASH
        equities = fig.agent_equities(cash, holdings, prices)
        equity = sum(equities.values())
        pnl = equity - capital
        live = tx.execute("SELECT worker_id, api_calls, api_failures, memory_fraction "
                          "FROM workers WHERE heartbeat_at > %s", (now - self.live_seconds,))
        calls = sum(int(r[1]) for r in live)
        failures = sum(int(r[2]) for r in live)
        memory: dict[str, float] = {}
        for r in live:
            server = server_of(str(r[0]))
            memory[server] = max(memory.get(server, 0.0), float(r[3]))
        periods = fig.periods(now)
        day_pnl = _snapshot_pnl(tx, "day", periods.day, pnl, capital, now)
        month_pnl = _snapshot_pnl(tx, "month", periods.month, pnl, capital, now)
        correlation = (_sample_correlation(tx, equities, now)
                       if any(r.figure == "correlation" for r in self.config.rules) else None)
        shared = {"daily_loss": fig.period_loss(day_pnl, pnl, capital),
                  "monthly_loss": fig.period_loss(month_pnl, pnl, capital),
                  "correlation": correlation or 0.0,
                  "api_failure_rate": fig.failure_rate(calls, failures),
                  "memory_usage": max(memory.values(), default=0.0)}
        values: dict[str, float] = {}
        for rule in self.config.rules:
            if rule.figure in LOSS_FIGURES:  # each loss breaker has its own reference
                state = states.get(rule.name) or BreakerState(rule.name)
                values[rule.name] = fig.total_loss(state.reference_pnl, pnl, capital)
            else:
                values[rule.name] = shared[rule.figure]
        details = {}
        memory_rule = self.config.rule("memory_usage")
        if memory_rule is not None:
            details["memory_usage"] = " ".join(sorted(
                s for s, f in memory.items() if f >= memory_rule.threshold))
        new_states, events = judge(self.config.rules, states, values, now,
                                   int(fleet["next_trip_id"]),
                                   {"day": periods.day_ends, "month": periods.month_ends},
                                   details)
        next_trip = max([int(fleet["next_trip_id"])]
                        + [s.trip_id + 1 for s in new_states.values()])
        _write_states(tx, self.config, new_states, now)
        write_events(tx, events)
        tx.execute(
            "UPDATE safety_fleet SET evaluated_at = %s, evaluated_by = %s, next_trip_id = %s, "
            "capital = %s, equity = %s, open_risk = %s, correlation = %s, api_calls = %s, "
            "api_failures = %s, memory_fraction = %s WHERE id = 1",
            (now, worker_id, next_trip, capital, equity, fig.open_risk(holdings, prices),
             correlation, calls, failures, max(memory.values(), default=0.0)))
        fleet = {**fleet, "evaluated_at": now, "next_trip_id": next_trip, "capital": capital,
                 "equity": equity}
        return new_states, events, fleet

    # -- operator commands ----------------------------------------------------------------
    def reset(self, name: str, actor: str, now: float) -> BreakerState:
        """An operator's reset of one breaker; ResetRefused or KeyError say why not."""
        rule = self.config.rule(name)
        if rule is None:
            raise KeyError(f"no breaker {name!r}; breakers: {', '.join(self.config.names)}")
        with self.db.write() as tx:
            _lock(tx)
            fleet = _fleet(tx)
            state = _states(tx).get(name) or BreakerState(name)
            pnl = float(fleet["equity"]) - float(fleet["capital"])
            cleared, event = operator_reset(rule, state, now, actor, pnl)
            _write_states(tx, self.config, {name: cleared}, now)
            write_events(tx, [event])
        log.warning("safety: %s reset by %s: %s", name, actor, event.detail)
        return cleared

    def halt_all(self, actor: str, reason: str, now: float) -> None:
        with self.db.write() as tx:
            _lock(tx)
            _fleet(tx)
            tx.execute("UPDATE safety_fleet SET halted_reason = %s, halted_by = %s, "
                       "halted_at = %s WHERE id = 1", (reason, actor, now))
            write_events(tx, [Event(now, "fleet", "halt", reason, actor)])
        log.warning("safety: fleet halted by %s: %s", actor, reason)

    def resume_all(self, actor: str, now: float) -> list[str]:
        """Clear an operator's halt-all and every tripped halt_all breaker (auto_halt); what
        was cleared. A breaker still holding refuses (ResetRefused) and nothing changes."""
        cleared: list[str] = []
        with self.db.write() as tx:
            _lock(tx)
            fleet = _fleet(tx)
            states = _states(tx)
            pnl = float(fleet["equity"]) - float(fleet["capital"])
            events: list[Event] = []
            new: dict[str, BreakerState] = {}
            for rule in self.config.rules:
                state = states.get(rule.name)
                if rule.action == "halt_all" and state is not None and state.tripped:
                    new[rule.name], event = operator_reset(rule, state, now, actor, pnl)
                    events.append(event)
                    cleared.append(rule.name)
            if fleet["halted_reason"] is not None:
                cleared.append("operator halt-all")
            tx.execute("UPDATE safety_fleet SET halted_reason = NULL, halted_by = NULL, "
                       "halted_at = NULL WHERE id = 1")
            _write_states(tx, self.config, new, now)
            events.append(Event(now, "fleet", "resume", ", ".join(cleared) or "nothing halted",
                                actor))
            write_events(tx, events)
        log.warning("safety: fleet resumed by %s (%s)", actor, ", ".join(cleared) or "-")
        return cleared

    def set_faults(self, actor: str, market_data: float | None, broker: float | None,
                   now: float) -> None:
        """Injected failure rates for every worker (None: the configuration's)."""
        with self.db.write() as tx:
            _fleet(tx)
            tx.execute("UPDATE safety_fleet SET fault_market_data = %s, fault_broker = %s, "
                       "faults_by = %s, faults_at = %s WHERE id = 1",
                       (market_data, broker, actor, now))
            write_events(tx, [Event(now, "faults", "action",
                                    f"market_data={market_data} broker={broker}", actor)])

    # -- reads for the API ----------------------------------------------------------------
    def describe(self, now: float) -> dict[str, Any]:
        with self.db.read() as tx:
            states = _states(tx)
            fleet = _fleet(tx)
            # trips, actions and resets apart from refusals, which come one per agent and
            # would bury them
            events = tx.execute("SELECT at, breaker, kind, detail, actor FROM safety_events "
                                "WHERE kind <> 'refused' ORDER BY event_id DESC LIMIT %s",
                                (RECENT_EVENTS,))
            refusals = tx.execute("SELECT at, breaker, kind, detail, actor FROM safety_events "
                                  "WHERE kind = 'refused' ORDER BY event_id DESC LIMIT %s",
                                  (RECENT_EVENTS,))
            snapshots = tx.execute("SELECT period, period_key, pnl FROM equity_snapshots "
                                   "ORDER BY taken_at DESC LIMIT 2")
            exposure = float(tx.execute("SELECT COALESCE(SUM(qty * avg_price), 0) "
                                        "FROM positions")[0][0])
        breakers = []
        for rule in self.config.rules:
            s = states.get(rule.name) or BreakerState(rule.name)
            breakers.append({
                "name": rule.name, "figure": rule.figure, "value": round(s.value, 6),
                "threshold": rule.threshold, "action": rule.action, "factor": rule.factor,
                "tripped": s.tripped, "tripped_at": s.tripped_at, "hold_until": s.hold_until,
                "auto_reset": rule.auto_reset, "awaiting_operator": s.awaiting_operator,
                "trip_id": s.trip_id, "reset_by": s.reset_by, "reset_at": s.reset_at,
                "reference_pnl": round(s.reference_pnl, 2) if rule.figure in LOSS_FIGURES
                else None, "detail": s.detail, "configured_at": rule.source or None})
        capital, equity = float(fleet["capital"]), float(fleet["equity"])
        return {
            "evaluated_at": float(fleet["evaluated_at"]) or None,
            "evaluated_by": fleet["evaluated_by"], "breakers": breakers,
            "halted": fleet["halted_reason"] is not None
            or any(b["tripped"] and b["action"] == "halt_all" for b in breakers),
            "operator_halt": None if fleet["halted_reason"] is None else {
                "reason": fleet["halted_reason"], "by": fleet["halted_by"],
                "at": fleet["halted_at"]},
            "capital": round(capital, 2), "equity": round(equity, 2),
            "pnl": round(equity - capital, 2), "open_risk": round(float(fleet["open_risk"]), 2),
            "exposure_at_cost": round(exposure, 2),
            "open_risk_fraction": round(float(fleet["open_risk"]) / equity, 6) if equity else 0,
            "total_portfolio_risk": self.config.total_portfolio_risk,
            "correlation": fleet["correlation"],
            "api_calls": int(fleet["api_calls"]), "api_failures": int(fleet["api_failures"]),
            "memory_fraction": float(fleet["memory_fraction"]),
            "period_start_pnl": {p: {"period": k, "pnl": round(float(v), 2)}
                                 for p, k, v in snapshots},
            "agent_shutdown_threshold": self.config.agent_shutdown_threshold,
            "faults": {"market_data_failure_rate": fleet["fault_market_data"],
                       "broker_failure_rate": fleet["fault_broker"]},
            "recent_events": _events(events), "recent_refusals": _events(refusals),
        }


def _events(rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    return [{"at": float(a), "breaker": b, "kind": k, "detail": d, "actor": who}
            for a, b, k, d, who in rows]


def fleet_open_risk(tx: Tx) -> float:
    """Open risk at cost basis, inside a trade's transaction (the pre-trade check)."""
    return float(tx.execute("SELECT COALESCE(SUM(qty * avg_price * stop_distance), 0) "
                            "FROM positions")[0][0])


def lock_for_risk(tx: Tx) -> None:
    """Serialise opening trades fleet-wide so two workers cannot both take the last room
    under total_portfolio_risk (SQLite's BEGIN IMMEDIATE already serialises writers)."""
    if tx.dialect == "postgresql":
        tx.execute("SELECT pg_advisory_xact_lock(%s)", (SAFETY_LOCK + 1,))
