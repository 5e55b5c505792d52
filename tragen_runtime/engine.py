"""The agent engine: one background thread per gunicorn worker.

Each tick it advances the shared market feed (indicators once per symbol), takes the safety
procedures' actions (position reductions, agent shutdowns), runs one analysis per leased agent,
and sends the orders that pass the pre-trade checks to the paper broker; a fill, its position
and the account are committed in one fenced transaction before memory changes.

Each lease round is named steps: `_check_schema`, `_sync`, `_sample`, `_lease`,
`_evaluate_safety`, `_settle`. Safety is the fleet's state in the database (safety.store):
the engine reports its figures, reads the state every worker acts on, and never keeps a trip
of its own. Admin commands reach the engine only through the database (an agent's halted
flag, the safety tables), read at the next round. Analyses run one at a time per worker, so
the number of analyses running at once on a server is at most its worker count, which
gunicorn_conf caps at `production.concurrent_analyses`.
"""

from __future__ import annotations

import functools
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
from tragen_runtime.broker import INITIAL_CASH, Account, BrokerUnavailable, PaperBroker, Side
from tragen_runtime.cache import TieredCache
from tragen_runtime.colours import ColourState, colour_state
from tragen_runtime.indicators import Indicators
from tragen_runtime.market import MarketDataUnavailable, MarketFeed
from tragen_runtime.risk import order_quantity
from tragen_runtime.safety.activation import ActivationGuard
from tragen_runtime.safety.config import SafetyConfig
from tragen_runtime.safety.judge import Event
from tragen_runtime.safety.orders import Order, SafetyView, portfolio_risk_refusal, refusal
from tragen_runtime.safety.store import (
    SafetyStore,
    WorkerReport,
    fleet_open_risk,
    lock_for_risk,
    write_events,
)
from tragen_runtime.settings import Settings
from tragen_runtime.storage import repository as repo
from tragen_runtime.storage.db import Database, DatabaseUnavailable, Tx, is_database_error
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
    reduced_trip: int = 0  # trip id of the last position reduction taken (persisted)


@dataclass
class EngineStatus:
    started: bool = False
    scheduled: bool = False
    problems: tuple[str, ...] = ()
    tick: int | None = None
    analyses: int = 0
    standby: int = 0  # agents of auto-scaling pools idle at the last tick
    trades: int = 0
    refused: int = 0  # orders refused by a pre-trade check
    live_workers: int = 0
    fair_share: int = 0
    rss_bytes: int = 0
    colour: ColourState = ColourState(None)  # blue-green: does this worker take leases


@dataclass(frozen=True)
class Sample:
    rss: int
    cpu: float
    report: WorkerReport


class Engine:
    def __init__(self, settings: Settings, db: Database, cache: TieredCache, feed: MarketFeed,
                 specs: list[AgentSpec], leases: LeaseManager, safety: SafetyStore,
                 broker: PaperBroker | None = None,
                 report: Callable[[], WorkerReport] = WorkerReport,
                 on_faults: Callable[[tuple[float | None, float | None]], None] = lambda f: None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.db = db
        self.cache = cache
        self.feed = feed
        self.specs = {s.agent_id: s for s in specs}
        self._scalable = any(s.pool_rank > s.pool_min for s in specs)
        self.leases = leases
        self.safety = safety
        self.safety_config: SafetyConfig = safety.config
        self.view = SafetyView()
        self.broker = broker or PaperBroker(settings.broker.fee_rate,
                                            settings.broker.slippage_bps)
        self.report = report
        self.on_faults = on_faults
        self.clock = clock
        self.status = EngineStatus(colour=ColourState(settings.colour))
        self.agents: Mapping[str, RunningAgent] = {}  # replaced, never mutated in place
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._synced = False
        self._schema_ok = False
        self._rate_samples: deque[tuple[float, int]] = deque()
        self.activation = ActivationGuard.from_config(settings.config, specs)
        self._refused: dict[str, str] = {}  # agent -> the refusal last recorded as an event
        self._pending_events: list[Event] = []

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

    # -- the lease round, step by step ----------------------------------------------------
    def lease_round(self, now: float) -> None:
        try:
            if not self._check_schema():
                return
            # Before the sync: an idle colour's release must not change the live one's agents.
            if not self._colour_is_live():
                return
            self._sync(now)
            sample = self._sample()
            self._lease(now, sample)
            self._evaluate_safety(now, sample)
            self._read_holdings()
            self._settle()
        except DatabaseUnavailable as exc:
            self.status.problems = (f"database unreachable: {exc}",)
            self.status.scheduled = False

    def _check_schema(self) -> bool:
        """Workers never migrate: behind the release's schema they trade nothing."""
        problem = schema_problem(self.db)
        self._schema_ok = problem is None
        if problem:
            self.status.problems = (problem,)
            self.status.scheduled = False
        return self._schema_ok

    def _colour_is_live(self) -> bool:
        """Blue-green: the idle colour gives back every agent and takes none (see colours)."""
        state = colour_state(self.settings.colour, self.settings.live_colour_file)
        self.status.colour = state
        if state.takes_leases:
            return True
        if self.agents or self.leases.owned or self.status.live_workers:
            log.info("colour %s is idle (live: %s): giving back %d agents", state.colour,
                     state.live or "unknown", len(self.leases.owned))
            self._release_all()
        self.status.live_workers = self.status.fair_share = 0
        self.status.problems = (state.problem,) if state.problem else ()
        self.status.scheduled = state.problem is None
        return False

    def _sync(self, now: float) -> None:
        if not self._synced:
            repo.sync_agents(self.db, list(self.specs.values()), now)
            self._synced = True

    def _sample(self) -> Sample:
        rss, cpu = metrics.sample_system(".", self.db.pool_stats().get("connections", 0))
        self.status.rss_bytes = rss
        return Sample(rss, cpu, self.report())

    def _lease(self, now: float, sample: Sample) -> None:
        """Renew, rebalance and claim; load the state of agents gained; read every owned
        agent's persisted flags (an operator's halt, a reduction already taken)."""
        holding = frozenset(a for a, r in self.agents.items() if r.account.positions)
        result = self.leases.run_round(now, set(self.specs), rss=sample.rss, cpu=sample.cpu,
                                       share_factor=self.view.scale_down, holding=holding)
        agents = {k: v for k, v in self.agents.items() if k in result.owned}
        if result.gained:
            for agent_id, (account, halted) in repo.load_accounts(
                    self.db, result.gained).items():
                agents[agent_id] = RunningAgent(self.specs[agent_id], account, halted)
        for agent_id, (halted, reduced) in repo.agent_flags(self.db, agents).items():
            agents[agent_id].halted, agents[agent_id].reduced_trip = halted, reduced
        self.agents = agents
        self._log_changes(result.gained, result.lost, result.released)
        self.status.live_workers = result.live_workers
        self.status.fair_share = result.fair_share

    def _evaluate_safety(self, now: float, sample: Sample) -> None:
        prices = {s: i.price for s, i in self.feed.snapshot().items()}
        outcome = self.safety.round(now, self.leases.worker_id, sample.report, prices,
                                    min_interval=0.8 * self.settings.leases.renew_interval)
        self.view = outcome.view
        self.on_faults(outcome.faults)
        metrics.observe_safety(outcome.events)

    def _read_holdings(self) -> None:
        """The fleet's open positions by pool, for correlation_limits (when configured)."""
        if self.activation.correlation_limit is not None:
            self.activation.holdings(repo.pool_holdings(self.db))

    def _settle(self) -> None:
        self._rate_samples.append((time.monotonic(), self.status.analyses))
        while self._rate_samples and self._rate_samples[0][0] < time.monotonic() - 60:
            self._rate_samples.popleft()
        self.db.refresh_replicas()
        self.status.problems = ()
        self.status.scheduled = True

    def _log_changes(self, gained: frozenset[str], lost: frozenset[str],
                     released: frozenset[str]) -> None:
        for change, ids in (("gained", gained), ("lost", lost), ("released", released)):
            if ids:
                metrics.LEASE_CHANGES.labels(change).inc(len(ids))
                log.info("leases %s: %d agents", change, len(ids))
        metrics.AGENTS_OWNED.set(len(self.agents))

    # -- trading --------------------------------------------------------------------------
    def run_tick(self, tick: int, now: float) -> None:
        started = time.perf_counter()
        try:
            snapshot = self.feed.advance(tick)
        except MarketDataUnavailable as exc:  # counted by the feed; no analysis on old prices
            self.status.tick = tick
            log.debug("tick %d skipped: %s", tick, exc)
            return
        self.status.tick = tick
        day = datetime.fromtimestamp(now, UTC).date().isoformat()
        results: dict[str, Any] = {}
        counts: dict[str, int] = {}
        share_analyses = "analysis_results" in self.settings.l2_data and self.cache.l2 is not None
        self.activation.observe({s: i.price for s, i in snapshot.items()})
        self._take_procedures(snapshot, tick, now, day)
        ranks = (self.activation.cap(active_ranks(self.specs.values(), pool_levels(snapshot)))
                 if self._scalable else {})
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
            if signal.action != "hold":
                self._maybe_trade(agent, ind, signal, tick, now, day)
            if share_analyses:
                results[f"analysis:{agent.spec.agent_id}"] = {
                    "tick": tick, "action": agent.last_action, "reason": agent.last_reason}
        self.status.standby = standby
        for style, n in counts.items():
            metrics.ANALYSES.labels(style).inc(n)
            self.status.analyses += n
        self._flush_events()
        if "indicators" in self.settings.l2_data:
            results.update({f"indicators:{s}": i.as_dict() for s, i in snapshot.items()})
        if "current_prices" in self.settings.l2_data:
            results.update({f"price:{s}": i.price for s, i in snapshot.items()})
        self.cache.publish(results, l2_ttl=max(5.0, 3 * self.settings.market.tick_interval))
        metrics.TICK_SECONDS.observe(time.perf_counter() - started)

    def _take_procedures(self, snapshot: Mapping[str, Indicators], tick: int, now: float,
                         day: str) -> None:
        """The safety procedures' own orders, which only ever reduce risk: a reduction of
        every position once per trip (the trip id is persisted on the agent in the same
        transaction, so an agent that moves to another worker is not reduced twice), and the
        shutdown of an agent whose own loss reached agent_shutdown_threshold (its position
        closed, the agent halted, persisted)."""
        reduction = self.view.reduction
        threshold = self.safety_config.agent_shutdown_threshold
        for agent in list(self.agents.values()):
            ind = snapshot.get(agent.spec.symbol)
            pos = agent.account.positions.get(agent.spec.symbol)
            if ind is None:
                continue
            if reduction is not None and agent.reduced_trip < reduction[0] and pos is not None:
                trip, factor = reduction
                qty = int(pos.qty * min(1.0, factor) * 10_000) / 10_000
                reason = f"circuit breaker: reduce positions by {factor:.0%} (trip {trip})"
                if qty <= 0 or self._execute(
                        agent, "sell", qty, ind.price, tick, now, day, reason,
                        also=functools.partial(_mark_reduced, agent_id=agent.spec.agent_id,
                                               trip=trip)):
                    agent.reduced_trip = trip
                pos = agent.account.positions.get(agent.spec.symbol)
            loss = (INITIAL_CASH - agent.account.equity({agent.spec.symbol: ind.price})) \
                / INITIAL_CASH
            if not agent.halted and loss >= threshold:
                self._shut_down(agent, loss, ind.price, tick, now, day)

    def _shut_down(self, agent: RunningAgent, loss: float, price: float, tick: int, now: float,
                   day: str) -> None:
        agent_id = agent.spec.agent_id
        reason = (f"agent_shutdown_threshold: lost {loss:.2%} >= "
                  f"{self.safety_config.agent_shutdown_threshold:.2%}")
        event = Event(now, "agent_shutdown", "action", f"{agent_id}: {reason}", "safety")

        def halt(tx: Tx) -> None:
            repo.mark_halted(tx, agent_id, True, now, reason)
            write_events(tx, [event])

        pos = agent.account.positions.get(agent.spec.symbol)
        if pos is not None:
            done = self._execute(agent, "sell", pos.qty, price, tick, now, day,
                                 f"safety: {reason}", also=halt)
        else:
            with self.db.write() as tx:
                halt(tx)
            done = True
        if done:
            agent.halted = True
            metrics.observe_safety([event])
            log.warning("safety: agent %s shut down (%s)", agent_id, reason)

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
        opening = signal.action != "sell"
        if not opening:
            if pos is None:
                return
            qty = pos.qty
        else:
            today = account.trades_today if account.trade_day == day else 0
            if pos is not None or today + 2 > spec.max_trades_per_day:
                return  # an opening trade needs room for its closing trade today
            equity = account.equity({spec.symbol: ind.price})
            qty = order_quantity(equity, account.cash, ind.price, spec.risk_tolerance,
                                 signal.strength, signal.stop_distance, self.broker.fee_rate)
            if qty <= 0:
                return
        equity = account.equity({spec.symbol: ind.price})
        order = Order(opening=opening, notional=qty * ind.price,
                      risk=qty * ind.price * signal.stop_distance, agent_equity=equity,
                      agent_loss=(INITIAL_CASH - equity) / INITIAL_CASH,
                      risk_tolerance=spec.risk_tolerance)
        refused = ("safety state not read yet" if not self.view.loaded
                   else refusal(self.view, self.safety_config, order)
                   or (self.activation.refusal(spec) if opening else None))
        if refused is not None:
            self._refuse(agent, refused, now)
            return
        guard = (self._portfolio_risk_guard(order.risk)
                 if opening and self.safety_config.total_portfolio_risk is not None else None)
        side: Side = "buy" if opening else "sell"
        self._execute(agent, side, qty, ind.price, tick, now, day, signal.reason,
                      stop_distance=signal.stop_distance if opening else None, guard=guard)

    def _portfolio_risk_guard(self, order_risk: float) -> Callable[[Tx], str | None]:
        def guard(tx: Tx) -> str | None:
            lock_for_risk(tx)
            return portfolio_risk_refusal(self.safety_config, fleet_open_risk(tx), order_risk,
                                          self.view.equity)
        return guard

    def _refuse(self, agent: RunningAgent, reason: str, now: float) -> None:
        """A refused order: counted, shown on the agent, and one event per agent and reason
        (not one per tick: a halted fleet refuses every agent every tick)."""
        self.status.refused += 1
        metrics.ORDERS_REFUSED.labels(reason.split(" ", 1)[0].strip(":(")).inc()
        agent.last_reason = f"order refused: {reason}"
        if self._refused.get(agent.spec.agent_id) != reason:
            self._refused[agent.spec.agent_id] = reason
            self._pending_events.append(Event(now, "pre_trade", "refused",
                                              f"{agent.spec.agent_id}: {reason}", "safety"))

    def _flush_events(self) -> None:
        if not self._pending_events:
            return
        events, self._pending_events = self._pending_events, []
        try:
            with self.db.write() as tx:
                write_events(tx, events)
        except DatabaseUnavailable as exc:
            log.warning("%d safety events not recorded (%s)", len(events), exc)

    def _execute(self, agent: RunningAgent, side: Side, qty: float, price: float, tick: int,
                 now: float, day: str, reason: str, *, stop_distance: float | None = None,
                 guard: Callable[[Tx], str | None] | None = None,
                 also: Callable[[Tx], None] | None = None) -> bool:
        """Fill, commit (fenced, one transaction), and only then change memory."""
        spec, account = agent.spec, agent.account
        started = time.perf_counter()
        try:
            fill = account.realize(self.broker.fill(spec.symbol, side, qty, price))
        except BrokerUnavailable as exc:
            log.info("order of %s not filled (%s); retried on a later signal", spec.agent_id,
                     exc)
            return False
        after = account.apply(fill, day)
        try:
            committed = repo.record_trade(self.db, spec.agent_id, self.leases.worker_id, fill,
                                          after, tick, reason, now,
                                          stop_distance=stop_distance, guard=guard, also=also)
        except repo.OrderRefused as exc:
            self._refuse(agent, str(exc), now)
            return False
        except DatabaseUnavailable as exc:
            log.warning("trade of %s not committed (%s); retried on a later signal",
                        spec.agent_id, exc)
            return False
        if not committed:
            metrics.TRADES_FENCED.inc()
            log.warning("lease of %s lost; the agent continues in its new worker", spec.agent_id)
            self.agents = {k: v for k, v in self.agents.items() if k != spec.agent_id}
            self.leases.owned.discard(spec.agent_id)
            return False
        agent.account = after
        if spec.symbol in after.positions:
            self.activation.opened(spec)
        else:
            self.activation.closed(spec)
        self._refused.pop(spec.agent_id, None)
        self.status.trades += 1
        metrics.TRADES.labels(spec.style, fill.side).inc()
        metrics.TRADE_COMMIT.observe(time.perf_counter() - started)
        return True


def _mark_reduced(tx: Tx, agent_id: str, trip: int) -> None:
    tx.execute("UPDATE agents SET reduced_trip = %s WHERE agent_id = %s", (trip, agent_id))
