"""The agent engine: one background thread per gunicorn worker.

Each tick it advances the shared market feed (indicators once per symbol), runs one analysis
per leased agent, and sends orders to the paper broker; a fill, its position and the account
are committed in one fenced transaction before memory changes. Every lease round it
heartbeats, renews, rebalances and claims leases, reloads the state of agents it gained from
the database, and feeds the circuit breakers. Analyses run one at a time per worker, so the
number of analyses running at once on a server is at most its worker count, which
gunicorn_conf caps at `production.concurrent_analyses`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tragen_runtime import metrics
from tragen_runtime.agents import AgentSpec
from tragen_runtime.broker import INITIAL_CASH, Account, PaperBroker, Side
from tragen_runtime.cache import TieredCache
from tragen_runtime.indicators import Indicators
from tragen_runtime.market import MarketFeed
from tragen_runtime.risk import CircuitBreakers, order_quantity
from tragen_runtime.settings import Settings
from tragen_runtime.storage import repository as repo
from tragen_runtime.storage.db import Database, DatabaseUnavailable, is_database_error
from tragen_runtime.storage.leases import LeaseManager
from tragen_runtime.storage.migrations import schema_problem
from tragen_runtime.strategies import Signal, strategy_for

log = logging.getLogger(__name__)


VOLATILITY_FULL_SCALE = 0.004  # per-tick volatility at which a volatility pool runs fully
TREND_FULL_SCALE = 0.01  # |SMA20/SMA50 - 1| at which a trend pool runs fully


def pool_levels(snapshot: Mapping[str, Indicators]) -> dict[str, float]:
    """Scale metrics in [0, 1] from the shared indicators (mean over symbols)."""
    vols = [i.volatility for i in snapshot.values() if i.volatility is not None]
    trends = [abs(i.sma_fast / i.sma_slow - 1.0) for i in snapshot.values()
              if i.sma_fast is not None and i.sma_slow]
    level = {"market_volatility": sum(vols) / len(vols) / VOLATILITY_FULL_SCALE if vols else 0.0,
             "trend_strength": sum(trends) / len(trends) / TREND_FULL_SCALE if trends else 0.0}
    return {k: min(1.0, max(0.0, v)) for k, v in level.items()}


def active_ranks(specs: Iterable[AgentSpec], levels: Mapping[str, float]) -> dict[str, int]:
    """Highest working rank per auto-scaling pool: min + level x standby agents."""
    sizes: dict[str, tuple[int, int, str | None]] = {}
    for spec in specs:
        low, high, _ = sizes.get(spec.pool, (spec.pool_min, 0, spec.scale_metric))
        sizes[spec.pool] = (low, max(high, spec.pool_rank), spec.scale_metric)
    return {pool: low + round((high - low) * levels.get(metric or "", 1.0))
            for pool, (low, high, metric) in sizes.items()}


@dataclass(slots=True)
class RunningAgent:
    spec: AgentSpec
    account: Account
    halted: bool
    last_action: str = "hold"
    last_reason: str = ""
    last_tick: int = -1


@dataclass
class EngineStatus:
    started: bool = False
    scheduled: bool = False
    problems: tuple[str, ...] = ()
    tick: int | None = None
    analyses: int = 0
    standby: int = 0  # agents of auto-scaling pools idle at the last tick
    trades: int = 0
    live_workers: int = 0
    fair_share: int = 0
    rss_bytes: int = 0


class Engine:
    def __init__(self, settings: Settings, db: Database, cache: TieredCache, feed: MarketFeed,
                 specs: list[AgentSpec], leases: LeaseManager, breakers: CircuitBreakers,
                 api_failure_rate: Callable[[], float] = lambda: 0.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.db = db
        self.cache = cache
        self.feed = feed
        self.specs = {s.agent_id: s for s in specs}
        self._scalable = any(s.pool_rank > s.pool_min for s in specs)
        self.leases = leases
        self.breakers = breakers
        self.broker = PaperBroker(settings.broker.fee_rate, settings.broker.slippage_bps)
        self.api_failure_rate = api_failure_rate
        self.clock = clock
        self.status = EngineStatus()
        self.agents: Mapping[str, RunningAgent] = {}  # replaced, never mutated in place
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._synced = False
        self._schema_ok = False
        self._rate_samples: deque[tuple[float, int]] = deque()

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self.status.started = True
        self._thread = threading.Thread(target=self._run, name="tragen-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to finish its tick, release leases and end (non-blocking)."""
        self._stop.set()

    def join(self, timeout: float) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        interval = self.settings.market.tick_interval
        next_round = 0.0
        last_tick: int | None = None
        try:
            while not self._stop.is_set():
                try:
                    now = self.clock()
                    if now >= next_round:
                        self.lease_round(now)
                        next_round = now + self.settings.leases.renew_interval
                    tick = int(now // interval)
                    if tick != last_tick and self._schema_ok:
                        self.run_tick(tick, now)
                        last_tick = tick
                    wake = min(next_round, (tick + 1) * interval)
                except Exception as exc:  # keep running; the reason is visible in /readyz
                    log.exception("agent engine error; retrying in 1s")
                    self.status.problems = (f"agent engine error: {type(exc).__name__}: {exc}",)
                    self.status.scheduled = False
                    next_round = 0.0
                    wake = self.clock() + 1.0
                self._stop.wait(max(0.0, wake - self.clock()))
        finally:
            self._release_all()

    def analyses_per_minute(self) -> float:
        """Analyses per minute of this worker over the last minute (from lease rounds)."""
        samples = self._rate_samples
        if len(samples) < 2:
            return 0.0
        (t0, a0), (t1, a1) = samples[0], samples[-1]
        return (a1 - a0) / (t1 - t0) * 60 if t1 > t0 else 0.0

    def _release_all(self) -> None:
        """Checkpoint (state is persisted with every trade) and give every lease back."""
        self.agents = {}
        metrics.AGENTS_OWNED.set(0)
        try:
            self.leases.release_all()
        except Exception as exc:
            if not is_database_error(exc):
                raise
            log.warning("could not release leases (%s); they expire after %.0fs", exc,
                        self.settings.leases.ttl)

    # -- scheduling -----------------------------------------------------------------------
    def lease_round(self, now: float) -> None:
        problems: list[str] = []
        try:
            problem = schema_problem(self.db)
            self._schema_ok = problem is None
            if problem:
                self.status.problems = (problem,)
                self.status.scheduled = False
                return
            if not self._synced:
                repo.sync_agents(self.db, list(self.specs.values()), now)
                self._synced = True
            rss, cpu = metrics.sample_system(".", self.db.pool_stats().get("connections", 0))
            self.status.rss_bytes = rss
            result = self.leases.run_round(now, set(self.specs), rss=rss, cpu=cpu,
                                           share_factor=self.breakers.agent_share_factor())
            agents = {k: v for k, v in self.agents.items() if k in result.owned}
            if result.gained:
                for agent_id, (account, halted) in repo.load_accounts(
                        self.db, result.gained).items():
                    agents[agent_id] = RunningAgent(self.specs[agent_id], account, halted)
            for agent_id, halted in repo.halted_flags(self.db, agents).items():
                agents[agent_id].halted = halted
            self.agents = agents
            self._log_changes(result.gained, result.lost, result.released)
            self._rate_samples.append((time.monotonic(), self.status.analyses))
            while self._rate_samples and self._rate_samples[0][0] < time.monotonic() - 60:
                self._rate_samples.popleft()
            self.status.live_workers = result.live_workers
            self.status.fair_share = result.fair_share
            self.db.refresh_replicas()
            self._feed_breakers()
            self.status.scheduled = True
        except DatabaseUnavailable as exc:
            problems.append(f"database unreachable: {exc}")
            self.status.scheduled = False
        self.status.problems = tuple(problems)

    def _log_changes(self, gained: frozenset[str], lost: frozenset[str],
                     released: frozenset[str]) -> None:
        for change, ids in (("gained", gained), ("lost", lost), ("released", released)):
            if ids:
                metrics.LEASE_CHANGES.labels(change).inc(len(ids))
                log.info("leases %s: %d agents", change, len(ids))
        metrics.AGENTS_OWNED.set(len(self.agents))

    def _feed_breakers(self) -> None:
        totals, positions = repo.portfolio_rows(self.db)
        equity = totals["cash"] + sum(qty * (self.feed.price(sym) or 0.0)
                                      for sym, qty in positions)
        initial = totals["agents"] * INITIAL_CASH
        loss = max(0.0, (initial - equity) / initial) if initial else 0.0
        import psutil

        self.breakers.evaluate({"portfolio_loss": loss,
                                "api_failure_rate": self.api_failure_rate(),
                                "memory_usage": psutil.virtual_memory().percent / 100})

    # -- trading --------------------------------------------------------------------------
    def run_tick(self, tick: int, now: float) -> None:
        started = time.perf_counter()
        snapshot = self.feed.advance(tick)
        self.status.tick = tick
        day = datetime.fromtimestamp(now, UTC).date().isoformat()
        results: dict[str, Any] = {}
        counts: dict[str, int] = {}
        share_analyses = "analysis_results" in self.settings.l2_data and self.cache.l2 is not None
        reduction = self.breakers.take_position_reduction()
        if reduction:
            self._reduce_positions(reduction, snapshot, tick, now, day)
        ranks = active_ranks(self.specs.values(), pool_levels(snapshot)) if self._scalable else {}
        standby = 0
        for agent in list(self.agents.values()):
            ind = snapshot.get(agent.spec.symbol)
            if ind is None or self._stop.is_set():
                continue
            if (ranks and agent.spec.pool_rank > ranks[agent.spec.pool]
                    and agent.spec.symbol not in agent.account.positions):
                standby += 1  # an idle auto-scaling agent (one holding a position still exits)
                continue
            signal = self._analyse(agent, ind)
            counts[agent.spec.style] = counts.get(agent.spec.style, 0) + 1
            agent.last_action, agent.last_reason, agent.last_tick = (signal.action,
                                                                     signal.reason, tick)
            if share_analyses:
                results[f"analysis:{agent.spec.agent_id}"] = {
                    "tick": tick, "action": signal.action, "reason": signal.reason}
            if signal.action != "hold":
                self._maybe_trade(agent, ind, signal, tick, now, day)
        self.status.standby = standby
        for style, n in counts.items():
            metrics.ANALYSES.labels(style).inc(n)
            self.status.analyses += n
        if "indicators" in self.settings.l2_data:
            results.update({f"indicators:{s}": i.as_dict() for s, i in snapshot.items()})
        if "current_prices" in self.settings.l2_data:
            results.update({f"price:{s}": i.price for s, i in snapshot.items()})
        self.cache.publish(results, l2_ttl=max(5.0, 3 * self.settings.market.tick_interval))
        metrics.TICK_SECONDS.observe(time.perf_counter() - started)

    def _reduce_positions(self, fraction: float, snapshot: Mapping[str, Indicators], tick: int,
                          now: float, day: str) -> None:
        """reduce_positions breaker: sell `fraction` of every position this worker holds."""
        log.warning("circuit breaker: reducing every position by %.0f%%", fraction * 100)
        for agent in list(self.agents.values()):
            pos = agent.account.positions.get(agent.spec.symbol)
            ind = snapshot.get(agent.spec.symbol)
            qty = int(pos.qty * fraction * 10_000) / 10_000 if pos else 0.0
            if ind is not None and qty > 0:
                self._execute(agent, "sell", qty, ind.price, tick, now, day,
                              "circuit breaker: reduce positions")

    @staticmethod
    def _analyse(agent: RunningAgent, ind: Indicators) -> Signal:
        pos = agent.account.positions.get(agent.spec.symbol)
        strategy = strategy_for(agent.spec.style)
        return strategy(ind, pos.qty if pos else 0.0, pos.avg_price if pos else 0.0)

    def _maybe_trade(self, agent: RunningAgent, ind: Indicators, signal: Signal, tick: int,
                     now: float, day: str) -> None:
        if agent.halted:
            return
        account, spec = agent.account, agent.spec
        pos = account.positions.get(spec.symbol)
        if signal.action == "sell":
            if pos is None:
                return
            qty = pos.qty
        else:
            today = account.trades_today if account.trade_day == day else 0
            equity = account.equity({spec.symbol: ind.price})
            if (pos is not None or today + 2 > spec.max_trades_per_day
                    or not self.breakers.allows_new_positions()
                    or self.breakers.agent_must_stop((INITIAL_CASH - equity) / INITIAL_CASH)):
                return  # an opening trade needs room for its closing trade today
            qty = order_quantity(equity, account.cash, ind.price, spec.risk_tolerance,
                                 signal.strength, signal.stop_distance, self.broker.fee_rate)
            if qty <= 0:
                return
        side: Side = "sell" if signal.action == "sell" else "buy"
        self._execute(agent, side, qty, ind.price, tick, now, day, signal.reason)

    def _execute(self, agent: RunningAgent, side: Side, qty: float, price: float, tick: int,
                 now: float, day: str, reason: str) -> None:
        """Fill, commit (fenced, one transaction), and only then change memory."""
        spec, account = agent.spec, agent.account
        started = time.perf_counter()
        fill = account.realize(self.broker.fill(spec.symbol, side, qty, price))
        after = account.apply(fill, day)
        try:
            committed = repo.record_trade(self.db, spec.agent_id, self.leases.worker_id, fill,
                                          after, tick, reason, now)
        except DatabaseUnavailable as exc:
            log.warning("trade of %s not committed (%s); retried on a later signal",
                        spec.agent_id, exc)
            return
        if not committed:
            metrics.TRADES_FENCED.inc()
            log.warning("lease of %s lost; the agent continues in its new worker", spec.agent_id)
            self.agents = {k: v for k, v in self.agents.items() if k != spec.agent_id}
            self.leases.owned.discard(spec.agent_id)
            return
        agent.account = after
        self.status.trades += 1
        metrics.TRADES.labels(spec.style, fill.side).inc()
        metrics.TRADE_COMMIT.observe(time.perf_counter() - started)
